import { execFile } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { backupVia, enrol, KbossZone, offlineWrite, qemuImgCompare, settle, setupKbossZone, sha256, snapshotDisk } from '../helpers/backups';
import { CACHE } from '../helpers/paths';
import { eventually, Stack, startStack } from '../helpers/stack';
import { createTestVm, destroyTestVm, TestVm, virsh } from '../helpers/vm';

const MiB = 1024 * 1024;
const exec = promisify(execFile);
const allocated = async (file: string) => Number((await exec('stat', ['-c', '%b*%B', file])).stdout.trim().split('*').reduce((a, b) => String(Number(a) * Number(b))));
const compressionType = async (file: string) =>
  JSON.parse((await exec('qemu-img', ['info', '-U', '--output=json', file])).stdout)['format-specific']?.data?.['compression-type'];

/** Issue 12: compression as a durable service job, on real qcow2 files, proved by qemu-img compare. */
describe('compression of backups on the real stack', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  const ref = (vm: TestVm, point: string) => path.join(vm.dir, `ref-${point}.qcow2`);
  const file = (b: any, target = 'vda') => path.join(kb.repoPath, b.disks.find((d: any) => d.target === target).file);
  const ok = async (method: string, url: string, body?: unknown) => {
    const r = await s.api(method, url, { body });
    if (r.status >= 300) throw new Error(`${method} ${url} -> ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const setting = (name: string, value: unknown, zoneId = kb.zoneId) => ok('PUT', `/v1/settings/${name}`, { scope: 'zone', scopeId: zoneId, value });
  const newVm = async (offeringId = kb.offeringId, sizeMiB = 128) => {
    const vm = await createTestVm({ os: false, diskSizeMiB: sizeMiB, start: false });
    vms.push(vm);
    await enrol(s, vm.uuid, offeringId);
    return vm;
  };
  /** The compression workflow the backup started, to its end; then the backup's record. */
  const compressed = async (b: any) => {
    await settle(s, `compress-${b.vmName}-${b.id}`).catch(() => undefined);
    return ok('GET', `/v1/backups/${b.id}`);
  };
  const restoreInPlace = async (b: any, body: object = {}) => {
    const r = await s.api('POST', `/v1/backups/${b.id}/restore`, { body });
    expect(r.status).toBe(202);
    await settle(s, r.body.workflowId).catch(() => undefined);
    return ok('GET', `/v1/restores/${r.body.restoreId}`);
  };

  beforeAll(async () => {
    s = await startStack();
    kb = await setupKbossZone(s, { compress: true, compressionLibrary: 'zstd' });
  });
  afterAll(async () => {
    for (const vm of vms) await destroyTestVm(vm).catch(() => undefined);
    await s?.stop();
    kb?.cleanup();
  });

  test('FULL -> INC -> INC, each compressed to at most half, every point restores byte for byte, quick restore too', async () => {
    const vm = await newVm();
    const chain: any[] = [];
    for (let i = 0; i < 3; i++) {
      await offlineWrite(vm.diskPath, i * 40 * MiB, 24 * MiB, 0x41 + i);
      await snapshotDisk(vm.diskPath, ref(vm, `r${i}`));
      const b = await backupVia(s, { vmId: vm.uuid });
      expect(b.status).toBe('BackedUp');
      const before = await allocated(file(b));
      const c = await compressed(b);
      chain.push(c);
      expect(c).toMatchObject({ status: 'BackedUp', compressionStatus: 'Compressed', compressionError: null });
      // The catalog's sizes are the files': the size before, and the compressed size, at most half of it.
      expect(c.uncompressedSize).toBe(before);
      expect(c.sizeBytes).toBe(await allocated(file(c)));
      expect(c.sizeBytes).toBeLessThanOrEqual(c.uncompressedSize / 2);
      expect(await compressionType(file(c))).toBe('zstd');
      // The whole chain up to this point reads as the VM's disk did.
      expect((await qemuImgCompare(ref(vm, `r${i}`), file(c))).identical).toBe(true);
      // Its hash job follows the compression (the lifecycle's order); the compression's own two jobs:
      const jobs = (await ok('GET', `/v1/backup-service-jobs?backupId=${b.id}`)).items.filter((j: any) => j.type.endsWith('Compression'));
      expect(jobs.map((j: any) => [j.type, j.attempts, j.executing, j.result])).toEqual([
        ['StartCompression', 1, false, 'Succeeded'], ['FinalizeCompression', 1, false, 'Succeeded'],
      ]);
    }
    expect(chain.map((b) => b.type)).toEqual(['FULL', 'INCREMENTAL', 'INCREMENTAL']);
    // Incrementals still back onto their parents by the same relative path.
    const backing = JSON.parse((await exec('qemu-img', ['info', '-U', '--output=json', file(chain[2])])).stdout)['backing-filename'];
    expect(backing).toBe(`../${chain[1].id}/vda.qcow2`);

    for (let i = 0; i < 3; i++) {
      await offlineWrite(vm.diskPath, 0, 64 * MiB, 0xee);
      expect(await restoreInPlace(chain[i])).toMatchObject({ status: 'Succeeded' });
      expect((await qemuImgCompare(ref(vm, `r${i}`), vm.diskPath)).identical).toBe(true);
    }
    await offlineWrite(vm.diskPath, 0, 64 * MiB, 0xee);
    const quick = await restoreInPlace(chain[2], { quickRestore: true });
    expect(quick.status).toBe('Succeeded');
    await virsh(['destroy', vm.name]).catch(() => undefined);
    expect((await qemuImgCompare(ref(vm, 'r2'), vm.diskPath)).identical).toBe(true);
  });

  test('per-host limit 1, three backups due: never more than one executing, all end Compressed', async () => {
    await setting('backup.compression.task.enabled', false);
    const due: any[] = [];
    for (let i = 0; i < 3; i++) {
      const vm = await newVm();
      await offlineWrite(vm.diskPath, 0, 48 * MiB, 0x61 + i);
      const b = await backupVia(s, { vmId: vm.uuid });
      expect(b).toMatchObject({ status: 'BackedUp', compressionStatus: null });
      due.push(b);
    }
    // The task is off for the zone: nothing was started.
    expect((await ok('GET', `/v1/backup-service-jobs?zoneId=${kb.zoneId}&type=StartCompression`)).items.filter((j: any) => due.some((b) => b.id === j.backupId))).toEqual([]);
    await setting('backup.compression.max.concurrent.operations.per.host', 1);
    await setting('backup.compression.task.enabled', true);
    const started = await ok('POST', '/v1/backup-service-jobs/compress-due', { zoneId: kb.zoneId });
    expect(started.started.map((x: any) => x.backupId).sort()).toEqual(due.map((b) => b.id).sort());
    let most = 0;
    let seen = 0;
    const done = async () => (await Promise.all(due.map((b) => ok('GET', `/v1/backups/${b.id}`)))).every((b) => b.compressionStatus === 'Compressed');
    await eventually(async () => {
      const running = (await ok('GET', `/v1/backup-service-jobs?hostId=${s.facts.id}&type=StartCompression&executing=true`)).items;
      most = Math.max(most, running.length);
      seen += running.length;
      return done();
    }, 600_000, 100);
    expect(most).toBe(1);
    expect(seen).toBeGreaterThan(0);
    for (const b of due) {
      const c = await ok('GET', `/v1/backups/${b.id}`);
      expect(c.sizeBytes).toBeLessThanOrEqual(c.uncompressedSize / 2);
    }
    await setting('backup.compression.max.concurrent.operations.per.host', 5);
  });

  test('bad input: compressionLibrary, each compression setting, the job list filters -> 400 naming the field', async () => {
    const refused = async (method: string, url: string, body: unknown, field: string) => {
      const r = await s.api(method, url, { body });
      expect([url, r.status, r.body?.error?.field]).toEqual([url, 400, field]);
    };
    await refused('POST', '/v1/backup-offerings', { name: 'bad-lib', zoneId: kb.zoneId, repositoryId: kb.repoId, compress: true, compressionLibrary: 'lz4' }, 'body.compressionLibrary');
    await refused('PATCH', `/v1/backup-offerings/${kb.offeringId}`, { compressionLibrary: 7 }, 'body.compressionLibrary');
    const bad: Record<string, unknown[]> = {
      'backup.compression.task.enabled': ['maybe', 3],
      'backup.compression.max.concurrent.operations.per.host': [0, 1001, 'two', 1.5],
      'backup.compression.max.concurrent.operations': [0, 10_001, 'ten'],
      'backup.compression.max.job.retries': [-1, 101, 'x'],
      'backup.compression.retry.interval': [0, 7 * 24 * 60 + 1, 'soon'],
      'backup.compression.timeout': [59, 7 * 24 * 3600 + 1, true],
      'backup.compression.minimum.free.storage': [-0.5, 100.5, 'lots'],
      'backup.compression.coroutines': [0, 65, 'many'],
      'backup.compression.rate.limit': [-1, 1_000_001, 'fast'],
    };
    for (const [name, values] of Object.entries(bad)) {
      for (const value of values) await refused('PUT', `/v1/settings/${name}`, { scope: 'zone', scopeId: kb.zoneId, value }, 'body.value');
    }
    const stored = await s.pool.query(`SELECT count(*)::int AS n FROM settings WHERE name LIKE 'backup.compression.%' AND value::text IN ('0','"two"','101')`);
    expect(stored.rows[0].n).toBe(0);
    await refused('GET', '/v1/backup-service-jobs?type=Shrink', undefined, 'query.type');
    await refused('GET', '/v1/backup-service-jobs?executing=maybe', undefined, 'query.executing');
    await refused('GET', '/v1/backup-service-jobs?hostId=nope', undefined, 'query.hostId');
    await refused('POST', '/v1/backup-service-jobs/compress-due', { zoneId: 'nope' }, 'body.zoneId');
  });

  test('a job that cannot succeed (repository on a small tmpfs) is retried after the interval, ends CompressionError, the backup still restores', async () => {
    const mnt = path.join(CACHE, `test-tmpfs-${process.pid}`);
    mkdirSync(mnt, { recursive: true });
    await exec('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', mnt]);
    try {
      const repo = await ok('POST', '/v1/backup-repositories', { name: `tmpfs-${process.pid}`, zoneId: kb.zoneId, type: 'local', address: mnt });
      const off = await ok('POST', '/v1/backup-offerings', { name: `tmpfs-${process.pid}`, zoneId: kb.zoneId, repositoryId: repo.id, compress: true, compressionLibrary: 'zlib' });
      await setting('backup.compression.retry.interval', 1);
      await setting('backup.compression.max.job.retries', 1);
      const vm = await newVm(off.id, 64);
      await offlineWrite(vm.diskPath, 0, 28 * MiB, 0x77);
      await snapshotDisk(vm.diskPath, ref(vm, 'tmpfs'));
      const b = await backupVia(s, { vmId: vm.uuid });
      expect(b.status).toBe('BackedUp');
      const original = await sha256(path.join(mnt, b.disks[0].file));
      // After the first attempt: CompressionError, and the next attempt scheduled one interval later.
      const first = await eventually(async () => {
        const j = (await ok('GET', `/v1/backup-service-jobs?backupId=${b.id}&type=StartCompression&scheduled=true`)).items[0];
        return j && j.attempts === 1 && !j.executing ? j : undefined;
      }, 300_000, 200);
      expect(first.result).toMatch(/free/);
      expect(new Date(first.scheduledAt).getTime() - new Date(first.endedAt).getTime()).toBeGreaterThanOrEqual(59_000);
      expect((await ok('GET', `/v1/backups/${b.id}`)).compressionStatus).toBe('CompressionError');
      await expect(settle(s, `compress-${vm.name}-${b.id}`)).rejects.toThrow();
      const job = (await ok('GET', `/v1/backup-service-jobs?backupId=${b.id}&type=StartCompression`)).items[0];
      expect(job).toMatchObject({ attempts: 2, executing: false, scheduledAt: null });
      expect(new Date(job.startedAt).getTime()).toBeGreaterThanOrEqual(new Date(first.scheduledAt).getTime() - 1000);
      const after = await ok('GET', `/v1/backups/${b.id}`);
      expect(after).toMatchObject({ status: 'BackedUp', compressionStatus: 'CompressionError', uncompressedSize: null });
      expect(after.compressionError).toMatch(/free/);
      // The original is untouched, no partial file is left, and it restores byte for byte.
      expect(await sha256(path.join(mnt, b.disks[0].file))).toBe(original);
      expect((await exec('find', [mnt, '-name', '*.compressing'])).stdout).toBe('');
      await offlineWrite(vm.diskPath, 0, 28 * MiB, 0xee);
      expect(await restoreInPlace(b)).toMatchObject({ status: 'Succeeded' });
      expect((await qemuImgCompare(ref(vm, 'tmpfs'), vm.diskPath)).identical).toBe(true);
      await destroyTestVm(vm);
    } finally {
      await exec('umount', ['-l', mnt]).catch(() => undefined);
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});
