import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { offlineWrite, qemuImgCompare, snapshotDisk, type KbossZone } from '../helpers/backups';
import { enrolledVm, startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { REPO } from '../helpers/paths';
import { apiOk, eventually, type Stack } from '../helpers/stack';
import { guestWrite, virsh, type TestVm } from '../helpers/vm';

const MiB = 1024 * 1024;
/** The CLI as `npx backflow` runs it: the package's bin, on the compiled code (scripts/node-deps.sh builds it). */
const BIN = path.join(REPO, 'bin/backflow.js');

interface Run { code: number; stdout: string; stderr: string }

/** Issue 14: the `backflow` CLI, a separate process using only the generated client, against the real stack. */
describe('backflow CLI on the real stack', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  let home: string;

  /** Runs the CLI (async: the API answering it runs in this process). API address and key from the environment by default. */
  const cli = (args: string[], env: Record<string, string | undefined> = {}): Promise<Run> =>
    new Promise((resolve) => {
      const e: Record<string, string | undefined> = { ...process.env, XDG_CONFIG_HOME: home, BACKFLOW_API_URL: s.apiUrl, BACKFLOW_API_KEY: s.adminKey, ...env };
      for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
      execFile('node', [BIN, ...args], { env: e as NodeJS.ProcessEnv, timeout: 15 * 60_000, maxBuffer: 16 * MiB }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const ok = async (args: string[], env?: Record<string, string | undefined>) => {
    const r = await cli(args, env);
    if (r.code !== 0) throw new Error(`backflow ${args.join(' ')} -> ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r;
  };

  let vm: TestVm;
  let ref: string;
  let backupId: string;

  beforeAll(async () => {
    if (!existsSync(path.join(REPO, 'dist/cli/main.js'))) throw new Error('dist/cli/main.js missing: run npx tsc -p tsconfig.build.json (scripts/node-deps.sh does)');
    home = mkdtempSync(path.join(os.tmpdir(), 'bf-cli-home-'));
    ({ s, kb } = await startKbossStack());
    vm = await enrolledVm(s, vms, { os: false, diskSizeMiB: 128 }, kb.offeringId);
    await guestWrite(vm, 0, 8 * MiB, 0x41);
    await guestWrite(vm, 64 * MiB, 8 * MiB, 0x42);
    ref = path.join(vm.dir, 'ref.qcow2');
  });
  afterAll(async () => {
    await stopKbossStack(s, kb, vms);
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test('backup create --wait: a progress bar to 100%, then the backup id; the backup is in the catalog', async () => {
    // Paused while it is taken, so the reference copy is exactly what the backup holds.
    await virsh(['suspend', vm.name]);
    let r: Run;
    try {
      await snapshotDisk(vm.diskPath, ref);
      r = await ok(['backup', 'create', vm.name, '--wait']);
    } finally {
      await virsh(['resume', vm.name]);
    }
    // The bar (stderr): phases from the workflow, ending at 100%.
    expect(r.stderr).toMatch(/backup [0-9a-f-]{36} started \(workflow backup-/);
    expect(r.stderr).toMatch(/\u2588+.* 100%/);
    const m = /^backup ([0-9a-f-]{36}) of (\S+): BackedUp FULL, [\d.]+ (B|KiB|MiB|GiB) written/m.exec(r.stdout);
    expect(m).not.toBeNull();
    backupId = m![1];
    expect(m![2]).toBe(vm.name);
    const b = await apiOk(s, 'GET', `/v1/backups/${backupId}`);
    expect(b).toMatchObject({ vmId: vm.uuid, status: 'BackedUp', type: 'FULL' });
  });

  test('backup list shows it; --json output parses', async () => {
    const r = await ok(['backup', 'list', '--vm', vm.name]);
    expect(r.stdout).toMatch(/^ID\s+VMNAME\s+STATUS/m);
    expect(r.stdout).toContain(backupId);
    const j = JSON.parse((await ok(['--json', 'backup', 'list', '--vm', vm.uuid])).stdout);
    expect(j).toMatchObject({ count: 1, items: [{ id: backupId, vmId: vm.uuid, status: 'BackedUp' }] });
    const one = JSON.parse((await ok(['backup', 'show', backupId, '--json'])).stdout);
    expect(one).toMatchObject({ id: backupId, disks: [{ target: 'vda' }] });
    const list = JSON.parse((await ok(['--json', 'vm', 'list', '--name', vm.name])).stdout);
    expect(list.items.map((v: { id: string }) => v.id)).toEqual([vm.uuid]);
  });

  test('restore --wait puts the disk back byte for byte', async () => {
    await virsh(['destroy', vm.name]);
    await apiOk(s, 'POST', `/v1/hosts/${s.facts.id}/sync`);
    // Damage the disk, so the restore has something to undo.
    await offlineWrite(vm.diskPath, 0, 4 * MiB, 0x77);
    expect((await qemuImgCompare(ref, vm.diskPath)).identical).toBe(false);
    const r = await ok(['restore', backupId, '--wait']);
    expect(r.stderr).toMatch(/restore [0-9a-f-]{36} started \(workflow restore-/);
    expect(r.stderr).toMatch(/\u2588+.* 100%/);
    expect(r.stdout).toMatch(new RegExp(`^restore [0-9a-f-]{36} \\(in_place\\) of backup ${backupId}: Succeeded`, 'm'));
    expect((await qemuImgCompare(ref, vm.diskPath)).identical).toBe(true);
    const restores = JSON.parse((await ok(['restores', '--backup', backupId, '--json'])).stdout);
    expect(restores.items).toEqual([expect.objectContaining({ backupId, status: 'Succeeded', mode: 'in_place' })]);
  });

  test("a bad VM id exits 1 with the API's own message on stderr, and starts nothing", async () => {
    const bad = randomUUID();
    const api = await s.api('POST', '/v1/backups', { body: { vmId: bad } });
    expect(api.status).toBe(404);
    const r = await cli(['backup', 'create', bad, '--wait']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`backflow: 404: ${api.body.error.message}`);
    const malformed = await cli(['backup', 'create', '00000000-0000-0000-0000-00000000000z']);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/no VM named/);
    const all = await apiOk(s, 'GET', '/v1/backups');
    expect(all.count).toBe(1);
  });

  test('offerings, repositories, settings, schedules and service jobs through the CLI', async () => {
    const json = async (args: string[]) => JSON.parse((await ok(['--json', ...args])).stdout);
    expect((await json(['offering', 'list'])).items.map((o: { id: string }) => o.id)).toContain(kb.offeringId);
    expect(await json(['offering', 'get', kb.offeringId])).toMatchObject({ id: kb.offeringId, provider: 'kboss', repositoryId: kb.repoId });
    expect(await json(['repository', 'get', kb.repoId])).toMatchObject({ id: kb.repoId, type: 'local', address: kb.repoPath });
    // A zone's value of a setting: set, read back as the effective value there, reset.
    expect(await json(['setting', 'set', 'backup.chain.size', '5', '--zone', kb.zoneId])).toMatchObject({ name: 'backup.chain.size', value: 5, source: 'zone' });
    expect(await json(['setting', 'get', 'backup.chain.size', '--zone', kb.zoneId])).toMatchObject({ value: 5 });
    const reset = await json(['setting', 'reset', 'backup.chain.size', '--zone', kb.zoneId]);
    expect(reset).toMatchObject({ removed: true });
    expect(reset.source).not.toBe('zone');
    const refused = await cli(['setting', 'set', 'backup.chain.size', '"many"', '--zone', kb.zoneId]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^backflow: 400: body\.value: /m);
    // A schedule: created, listed with the VM, paused, deleted.
    const sched = await json(['schedule', 'create', vm.name, '--interval', 'daily', '--at', '00:03', '--max-backups', '2']);
    expect(sched).toMatchObject({ vmId: vm.uuid, intervalType: 'DAILY', schedule: '00:03', timezone: 'UTC', maxBackups: 2 });
    expect(await json(['schedule', 'pause', sched.id])).toMatchObject({ id: sched.id, paused: true });
    expect((await json(['schedule', 'list', '--vm', vm.name])).items.map((x: { id: string }) => x.id)).toEqual([sched.id]);
    await ok(['schedule', 'delete', sched.id]);
    expect((await json(['schedule', 'list', '--vm', vm.uuid])).count).toBe(0);
    // Service jobs: this offering neither compresses nor validates, so the backup's one job is its hash.
    await eventually(async () => {
      const jobs = await json(['jobs', '--backup', backupId]);
      expect(jobs).toMatchObject({ count: 1, items: [{ backupId, type: 'BackupHash', result: 'Hashed', executing: false }] });
      return true;
    });
    expect(await json(['jobs', '--backup', backupId, '--type', 'StartCompression'])).toMatchObject({ items: [], count: 0 });
  });

  test('API address and key from flags, environment or config file; exit codes for refusals and an unreachable API', async () => {
    const noKey = await cli(['vm', 'list'], { BACKFLOW_API_KEY: undefined });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain('401: authorization: an API key is required');
    // The config file (~/.config/backflow/config.json under XDG_CONFIG_HOME) when the environment says nothing.
    mkdirSync(path.join(home, 'backflow'), { recursive: true });
    writeFileSync(path.join(home, 'backflow/config.json'), JSON.stringify({ apiUrl: s.apiUrl, apiKey: s.adminKey }));
    const fromFile = await ok(['--json', 'vm', 'list'], { BACKFLOW_API_URL: undefined, BACKFLOW_API_KEY: undefined });
    expect(JSON.parse(fromFile.stdout).items.map((v: { id: string }) => v.id)).toContain(vm.uuid);
    // Flags win over the environment.
    const flags = await ok(['--api-url', s.apiUrl, '--api-key', s.adminKey, 'backup', 'list', '--json'], { BACKFLOW_API_URL: 'http://127.0.0.1:9', BACKFLOW_API_KEY: 'bf_wrong' });
    expect(JSON.parse(flags.stdout).count).toBe(1);
    const closed = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    const down = await cli(['vm', 'list'], { BACKFLOW_API_URL: `http://127.0.0.1:${closed}` });
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/cannot reach the API: ECONNREFUSED/);
    const usage = await cli(['backup', 'create']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/missing required argument 'vm'/);
  });
});
