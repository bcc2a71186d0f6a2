import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SEARCH_ATTRIBUTES, TEMPORAL_SERVER_ARGS } from '../../common/temporal';
import { TEMPORAL_BIN } from './paths';

const exec = promisify(execFile);

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * A PostgreSQL server of the test's own (Debian's binaries, a temp cluster, a free port, trust for root),
 * which the test may stop and start without touching the shared server other tests use.
 */
/** start and stop are no-ops when it already is in that state, so a test's cleanup can always call start. */
export interface OwnPostgres { adminUrl: string; start: () => Promise<void>; stop: () => Promise<void>; destroy: () => Promise<void> }

const PG_BIN = process.env.TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bf-pg-'));
  const data = path.join(dir, 'data');
  mkdirSync(data);
  // PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
  const asPostgres = process.getuid?.() === 0;
  if (asPostgres) {
    const { stdout } = await exec('id', ['-u', 'postgres']);
    const uid = Number(stdout.trim());
    chownSync(dir, uid, -1);
    chownSync(data, uid, -1);
  }
  const run = (cmd: string, args: string[]) =>
    asPostgres ? exec('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, cmd), ...args]) : exec(path.join(PG_BIN, cmd), args);
  const port = await freePort();
  await run('initdb', ['-D', data, '-U', 'root', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  let up = false;
  const start = async () => {
    if (up) return;
    await run('pg_ctl', ['-D', data, '-o', opts, '-l', path.join(dir, 'log'), '-w', '-t', '60', 'start']);
    up = true;
  };
  // fast: disconnects every client at once, as a restart of the server would.
  const stop = async () => {
    if (!up) return;
    await run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
    up = false;
  };
  await start();
  return {
    adminUrl: `postgres://root@127.0.0.1:${port}/postgres`,
    start,
    stop,
    destroy: async () => {
      await stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A Temporal dev server of the test's own, as scripts/temporal.sh runs it (state in a file, so it
 * survives a restart), which the test may kill and start again on the same port.
 */
export interface OwnTemporal { address: string; start: () => Promise<void>; kill: () => Promise<void>; destroy: () => Promise<void> }

export async function startOwnTemporal(): Promise<OwnTemporal> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bf-temporal-'));
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    const log = openSync(path.join(dir, 'log'), 'a');
    child = spawn(
      TEMPORAL_BIN,
      ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--headless',
        '--db-filename', path.join(dir, 'temporal.db'), '--log-level', 'warn', ...TEMPORAL_SERVER_ARGS,
        ...SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a.name}=Keyword`])],
      { stdio: ['ignore', log, log] },
    );
    const deadline = Date.now() + 90_000;
    for (;;) {
      try {
        await exec(TEMPORAL_BIN, ['operator', 'cluster', 'health', '--address', address]);
        return;
      } catch (e) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`Temporal on ${address} did not start: ${e}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  const kill = async () => {
    const c = child;
    child = undefined;
    if (c && c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
    }
  };
  await start();
  return { address, start, kill, destroy: async () => { await kill(); rmSync(dir, { recursive: true, force: true }); } };
}
