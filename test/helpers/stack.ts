import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import { createApp } from '../../api/app';
import { answerClientErrorsAsJson } from '../../api/clientErrors';
import { apiTemporalClient } from '../../api/temporalClient';
import { ensureAdminKey } from '../../api/adminKey';
import { createPool } from '../../common/db';
import type { HostFacts } from '../../common/schemas/inventory';
import { SEARCH_ATTRIBUTES, TEMPORAL_SERVER_ARGS } from '../../common/temporal';
import { hostFacts } from '../../workers/hostFacts';
import { announceHost, createControlWorker, createHostWorker } from '../../workers/wiring';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../../workers/logAttributes';
import { createTestDatabase } from './database';
import { REPO, TEMPORAL_BIN } from './paths';

/**
 * The whole service for one test file, on real parts: a Temporal dev server, a fresh PostgreSQL
 * database, the control worker, this machine's host worker and the API on a free port.
 */
export interface Stack {
  pool: Pool;
  env: TestWorkflowEnvironment;
  client: Client;
  facts: HostFacts;
  apiUrl: string;
  adminKey: string;
  api: <T = any>(method: string, path: string, opts?: { key?: string | null; body?: unknown; rawBody?: string }) => Promise<{ status: number; body: T }>;
  /** Restarts the host worker; with hostWorker 'process', `env` adds to the new process's environment. */
  restartHostWorker: (env?: Record<string, string>) => Promise<void>;
  stopHostWorker: () => Promise<void>;
  /** With hostWorker 'process': SIGKILL, as a crash of the host worker would. */
  killHostWorker: () => Promise<void>;
  /** With hostWorker 'process': its pid (for memory figures). */
  hostWorkerPid: () => number | undefined;
  /** The host worker process has exited (e.g. killed by BACKFLOW_CRASH_AFTER_ACTIVITY). */
  hostWorkerExited: () => boolean;
  /** Stops / starts the (in-process) control worker, as a dead or restarted control worker process would. */
  stopControlWorker: () => Promise<void>;
  startControlWorker: () => Promise<void>;
  stop: () => Promise<void>;
}

/** Workers log warnings and errors only, so test output stays readable. */
function quietRuntime() {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    /* already installed in this process */
  }
}

export interface StackOptions {
  inventoryIntervalSeconds?: number;
  /** 'process' runs the built host worker (dist/workers/host.js) as a child process, so a test can kill it. */
  hostWorker?: 'in-process' | 'process';
  /** Environment for the host worker process, e.g. BACKFLOW_CRASH_AFTER_ACTIVITY. */
  hostWorkerEnv?: Record<string, string>;
  /** Another PostgreSQL server for the test database (its admin URL), e.g. one the test stops and starts. */
  pgAdminUrl?: string;
  /** A Temporal server the test runs itself (e.g. to stop it), instead of the environment's own dev server. */
  temporalAddress?: string;
  /** The dev server also serves its Web UI on this port (it is headless otherwise). */
  temporalUiPort?: number;
}

/** An API call that must succeed: its body, or an error that names the call and what it answered. */
export async function apiOk<T = any>(s: Stack, method: string, url: string, body?: unknown, key?: string): Promise<T> {
  const r = await s.api(method, url, { body, key });
  if (r.status >= 300) throw new Error(`${method} ${url} -> ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  quietRuntime();
  const db = await createTestDatabase(opts.pgAdminUrl);
  const pool = createPool(db.url);
  const env = opts.temporalAddress
    ? await TestWorkflowEnvironment.createFromExistingServer({ address: opts.temporalAddress })
    : await TestWorkflowEnvironment.createLocal({
        server: {
          executable: { type: 'existing-path', path: TEMPORAL_BIN }, searchAttributes: SEARCH_ATTRIBUTES, ip: '127.0.0.1', extraArgs: TEMPORAL_SERVER_ARGS,
          ...(opts.temporalUiPort ? { ui: true, uiPort: opts.temporalUiPort } : {}),
        },
      });
  const namespace = env.namespace ?? 'default';
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES, logger: quietLogger });
  let control: Worker | undefined;
  let controlRun: Promise<void> | undefined;
  const startControlWorker = async () => {
    control = await createControlWorker({ connection: env.nativeConnection, namespace, pool, temporal: env.client, workflowBundle });
    controlRun = control.run();
  };
  const stopControlWorker = async () => {
    if (control && control.getState() === 'RUNNING') control.shutdown();
    await controlRun;
    control = undefined;
  };
  await startControlWorker();

  // A per-run host name keeps each test file's inventory workflow and queue its own.
  const facts = hostFacts({ ...process.env, BACKFLOW_HOST_NAME: `testhost-${randomBytes(3).toString('hex')}` });
  let host: Worker | undefined;
  let hostRun: Promise<void> | undefined;
  let child: ChildProcess | undefined;
  const startHost = async (extraEnv: Record<string, string> = {}) => {
    if (opts.hostWorker === 'process') {
      child = spawnHostWorker(env.address, namespace, facts, opts.inventoryIntervalSeconds ?? 3600, { ...opts.hostWorkerEnv, ...extraEnv });
      await eventually(async () => (await pollerCount(env.client, facts.taskQueue)) > 0, 60_000);
      return;
    }
    host = await createHostWorker({ connection: env.nativeConnection, namespace, facts });
    hostRun = host.run();
    await announceHost(env.client, facts, opts.inventoryIntervalSeconds ?? 3600);
  };
  const stopHostWorker = async () => {
    if (child) {
      const c = child;
      child = undefined;
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        await new Promise((r) => c.once('exit', r));
      }
      return;
    }
    if (host && host.getState() === 'RUNNING') host.shutdown();
    await hostRun;
    host = undefined;
  };
  const killHostWorker = async () => {
    const c = child;
    if (!c) throw new Error('killHostWorker needs hostWorker: process');
    child = undefined;
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
    }
  };
  await startHost();
  // The inventory workflow registers the host and syncs it once: wait for that, so tests start from a known catalog.
  await eventually(async () => (await pool.query(`SELECT 1 FROM hosts WHERE id = $1 AND last_sync_at IS NOT NULL`, [facts.id])).rowCount === 1, 60_000, 200);

  const adminKey = 'bf_test_admin_' + randomBytes(12).toString('hex');
  await ensureAdminKey(pool, adminKey);
  // The API's own Temporal client (deadlines, short retries), as api/server.ts makes it.
  const apiTemporal = apiTemporalClient(env.address, namespace);
  const server: Server = await new Promise((resolve) => {
    const s = createApp({ pool, temporal: apiTemporal }).listen(0, '127.0.0.1', () => resolve(s));
    answerClientErrorsAsJson(s);
  });
  const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const api: Stack['api'] = async (method, path, o = {}) => {
    const key = o.key === undefined ? adminKey : o.key;
    const headers: Record<string, string> = {};
    if (key) headers.authorization = `Bearer ${key}`;
    if (o.body !== undefined || o.rawBody !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(apiUrl + path, { method, headers, body: o.rawBody ?? (o.body === undefined ? undefined : JSON.stringify(o.body)) });
    const text = await res.text();
    // JSON, except the few routes that answer text (GET /metrics): those as the text.
    return { status: res.status, body: text ? (/json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(text) : text) : undefined };
  };

  return {
    pool, env, client: env.client, facts, apiUrl, adminKey, api,
    stopHostWorker,
    killHostWorker,
    hostWorkerPid: () => child?.pid,
    hostWorkerExited: () => !child || child.exitCode !== null || child.signalCode !== null,
    stopControlWorker,
    startControlWorker,
    restartHostWorker: async (extraEnv?: Record<string, string>) => {
      await stopHostWorker();
      await startHost(extraEnv);
    },
    stop: async () => {
      await new Promise((r) => server.close(r));
      await apiTemporal.connection.close();
      await stopHostWorker();
      await stopControlWorker();
      await env.teardown();
      await pool.end();
      await db.drop();
    },
  };
}

const quietLogger = { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } as any;

/** Polls fn until it returns a truthy value. */
export async function eventually<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The built host worker, as operators run it; its output goes to .state/logs/test-host-worker.log. */
function spawnHostWorker(address: string, namespace: string, facts: HostFacts, intervalSeconds: number, extraEnv: Record<string, string>): ChildProcess {
  mkdirSync(path.join(REPO, '.state/logs'), { recursive: true });
  const log = openSync(path.join(REPO, '.state/logs/test-host-worker.log'), 'a');
  return spawn('node', [path.join(REPO, 'dist/workers/host.js')], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: namespace,
      BACKFLOW_HOST_NAME: facts.name,
      BACKFLOW_HOST_ID: facts.id,
      BACKFLOW_ZONE: facts.zone,
      BACKFLOW_INVENTORY_INTERVAL: String(intervalSeconds),
      ...extraEnv,
    },
    stdio: ['ignore', log, log],
  });
}

async function pollerCount(client: Client, taskQueue: string): Promise<number> {
  const { temporal } = await import('@temporalio/proto');
  const r = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  return r.pollers?.length ?? 0;
}
