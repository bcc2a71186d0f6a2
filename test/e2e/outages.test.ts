import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { enrol, KbossZone, setupKbossZone } from '../helpers/backups';
import { freePort, OwnPostgres, OwnTemporal, startOwnPostgres, startOwnTemporal } from '../helpers/ownServers';
import { REPO } from '../helpers/paths';
import { eventually, Stack, startStack } from '../helpers/stack';
import { createTestVm, destroyTestVm, TestVm } from '../helpers/vm';

/**
 * Issue 9, items 11 and 12: PostgreSQL and Temporal go away and come back under the running API (the built
 * api/server.js, as operators run it), and workers die. The servers here are this test's own, so stopping
 * them touches no other test.
 */
describe('outages: the API lives through them, /health tells them promptly, and all recovers by itself', () => {
  let pg: OwnPostgres;
  let temporal: OwnTemporal;
  let s: Stack;
  let api: ChildProcess;
  let apiUrl: string;
  let stateDir: string;
  let kb: KbossZone;
  let vm: TestVm;

  const call = async (method: string, url: string, body?: unknown) => {
    const t0 = Date.now();
    const res = await fetch(apiUrl + url, {
      method,
      headers: { authorization: `Bearer ${s.adminKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, ms: Date.now() - t0 };
  };
  const health = () => call('GET', '/health');
  const healthy = async () => {
    const h = await health();
    return h.status === 200 && h.body.status === 'ok' ? h : undefined;
  };

  beforeAll(async () => {
    pg = await startOwnPostgres();
    temporal = await startOwnTemporal();
    s = await startStack({ pgAdminUrl: pg.adminUrl, temporalAddress: temporal.address, hostWorker: 'process' });
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'bf-api-state-'));
    const port = await freePort();
    apiUrl = `http://127.0.0.1:${port}`;
    api = spawn('node', [path.join(REPO, 'dist/api/server.js')], {
      env: {
        ...process.env,
        DATABASE_URL: s.pool.options.connectionString,
        TEMPORAL_ADDRESS: temporal.address,
        TEMPORAL_NAMESPACE: 'default',
        BACKFLOW_API_PORT: String(port),
        BACKFLOW_ADMIN_KEY: s.adminKey,
        BACKFLOW_STATE_DIR: stateDir,
      },
      stdio: ['ignore', openSync(path.join(stateDir, 'api.log'), 'a'), openSync(path.join(stateDir, 'api.log'), 'a')],
    });
    await eventually(healthy, 120_000);
    kb = await setupKbossZone(s);
    vm = await createTestVm({ start: false });
    await enrol(s, vm.uuid, kb.offeringId);
  });
  afterAll(async () => {
    if (api && api.exitCode === null) {
      api.kill('SIGTERM');
      await new Promise((r) => api.once('exit', r));
    }
    if (vm) await destroyTestVm(vm).catch(() => undefined);
    kb?.cleanup();
    // A test that failed midway may have left a server down: the stack's cleanup needs both.
    await pg?.start().catch(() => undefined);
    await temporal?.start().catch(() => undefined);
    await s?.stop();
    await temporal?.destroy();
    await pg?.destroy();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  test('item 11 and acceptance: PostgreSQL stopped and started; the API process lives, /health says 503 within 2 s, all works after', async () => {
    // Several idle connections in the API's pool: each one errors when the server goes.
    const warm = await Promise.all(Array.from({ length: 6 }, () => call('GET', '/v1/vms')));
    expect(warm.map((r) => r.status)).toEqual(Array(6).fill(200));
    const pid = api.pid;

    await pg.stop();
    const down = await health();
    expect({ status: down.status, postgres: down.body.postgres.ok, status_: down.body.status }).toEqual({ status: 503, postgres: false, status_: 'degraded' });
    expect(down.ms).toBeLessThan(2_000);
    const list = await call('GET', '/v1/vms');
    expect(list.status).toBe(503);
    expect(list.body.error).toEqual(expect.objectContaining({ status: 503, field: 'database', message: expect.stringMatching(/PostgreSQL/) }));
    const write = await call('POST', '/v1/domains', { name: `during-outage-${Date.now()}` });
    expect(write.status).toBe(503);
    // Give the pool's dropped connections time to report their errors: the process must still be there.
    await new Promise((r) => setTimeout(r, 3_000));
    expect({ exitCode: api.exitCode, signal: api.signalCode }).toEqual({ exitCode: null, signal: null });

    await pg.start();
    await eventually(healthy, 60_000);
    expect((await call('GET', '/v1/vms')).status).toBe(200);
    const name = `after-outage-${Date.now()}`;
    const created = await call('POST', '/v1/domains', { name });
    expect(created.status).toBe(201);
    expect((await s.pool.query(`SELECT count(*)::int AS n FROM domains WHERE name = $1`, [name])).rows[0].n).toBe(1);
    // The one made during the outage never landed.
    expect((await s.pool.query(`SELECT count(*)::int AS n FROM domains WHERE name LIKE 'during-outage-%'`)).rows[0].n).toBe(0);
    expect({ pid: api.pid, exitCode: api.exitCode }).toEqual({ pid, exitCode: null });
  });

  test('item 12: Temporal unreachable: /health says so within 2 s, operations answer 503 with the reason, and recover', async () => {
    await temporal.kill();
    const down = await health();
    expect(down.status).toBe(503);
    expect(down.body.temporal).toEqual(expect.objectContaining({ ok: false, error: expect.any(String) }));
    expect(down.body.controlWorker.ok).toBe(false);
    expect(down.ms).toBeLessThan(2_000);

    const backup = await call('POST', '/v1/backups', { vmId: vm.uuid });
    expect(backup.status).toBe(503);
    expect(backup.body.error).toEqual(expect.objectContaining({ status: 503, field: 'temporal', message: expect.stringMatching(/Temporal/) }));
    const sync = await call('POST', `/v1/hosts/${s.facts.id}/sync`);
    expect(sync.status).toBe(503);
    expect((await s.pool.query(`SELECT count(*)::int AS n FROM backups WHERE vm_id = $1`, [vm.uuid])).rows[0].n).toBe(0);
    expect(api.exitCode).toBeNull();

    await temporal.start();
    await eventually(healthy, 120_000);
    expect((await call('POST', `/v1/hosts/${s.facts.id}/sync`)).status).toBe(200);
  });

  test('item 12: a dead control worker shows on /health within 30 s, and its return too', async () => {
    await eventually(healthy, 60_000);
    await s.stopControlWorker();
    const dead = await eventually(async () => {
      const h = await health();
      return h.status === 503 && !h.body.controlWorker.ok ? h : undefined;
    }, 30_000, 500);
    expect(dead.body.controlWorker.reason).toMatch(/control worker/);
    expect(dead.ms).toBeLessThan(2_000);
    await s.startControlWorker();
    await eventually(healthy, 60_000);
  });

  test('item 12: a killed host worker shows on /health within 30 s', async () => {
    await eventually(healthy, 60_000);
    await s.killHostWorker();
    const dead = await eventually(async () => {
      const h = await health();
      const host = h.body.hosts.find((x: any) => x.id === s.facts.id);
      return h.status === 503 && host && !host.workerPolling ? host : undefined;
    }, 30_000, 500);
    expect(dead.reason).toMatch(/host worker|not polling/);
    await s.restartHostWorker();
    await eventually(healthy, 60_000);
  });
});
