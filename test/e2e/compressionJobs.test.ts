import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { backupVia, enrol, KbossZone, offlineWrite, qemuImgCompare, settle, sha256, snapshotDisk } from '../helpers/backups';
import { qemuImgsUnder } from '../helpers/compression';
import { apiOk, eventually, Stack } from '../helpers/stack';
import { startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { createTestVm, TestVm, virsh } from '../helpers/vm';

const MiB = 1024 * 1024;
const exec = promisify(execFile);

/** Issue 12: the job's timeout kills qemu-img; delete refused while Compressing; finalize waits for a restore. */
describe('compression jobs: timeout, delete, restores', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  const ok = (method: string, url: string, body?: unknown) => apiOk(s, method, url, body);
  const setting = (name: string, value: unknown) => ok('PUT', `/v1/settings/${name}`, { scope: 'zone', scopeId: kb.zoneId, value });
  const newVm = async (sizeMiB: number) => {
    const vm = await createTestVm({ os: false, diskSizeMiB: sizeMiB, start: false });
    vms.push(vm);
    await enrol(s, vm.uuid, kb.offeringId);
    return vm;
  };
  const file = (b: any) => path.join(kb.repoPath, b.disks[0].file);
  const job = async (backupId: string, type: string) => (await ok('GET', `/v1/backup-service-jobs?backupId=${backupId}&type=${type}`)).items[0];

  beforeAll(async () => ({ s, kb } = await startKbossStack({}, { compress: true })));
  afterAll(() => stopKbossStack(s, kb, vms));

  test('over its timeout (1 MB/s, 60 s, 200 MiB): qemu-img is killed, the original untouched; delete refused while Compressing', async () => {
    await setting('backup.compression.rate.limit', 1);
    await setting('backup.compression.timeout', 60);
    await setting('backup.compression.max.job.retries', 0);
    const vm = await newVm(256);
    // 200 MiB of random data: nothing for zero detection to skip, so qemu-img really has it all to read.
    const raw = path.join(vm.dir, 'rand.raw');
    await exec('sh', ['-c', `head -c ${200 * MiB} /dev/urandom > ${raw} && truncate -s 256M ${raw}`]);
    await exec('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, vm.diskPath]);
    await exec('rm', ['-f', raw]);
    const b = await backupVia(s, { vmId: vm.uuid });
    expect(b.status).toBe('BackedUp');
    const original = await sha256(file(b));
    const wf = `compress-${vm.name}-${b.id}`;
    await eventually(async () => qemuImgsUnder(kb.repoPath).length > 0, 120_000, 200);
    expect((await ok('GET', `/v1/backups/${b.id}`)).compressionStatus).toBe('Compressing');
    const del = await s.api('DELETE', `/v1/backups/${b.id}`);
    expect(del.status).toBe(409);
    expect(del.body.error.message).toMatch(/Compressing/);
    await expect(settle(s, wf)).rejects.toThrow();
    const after = await ok('GET', `/v1/backups/${b.id}`);
    expect(after).toMatchObject({ status: 'BackedUp', compressionStatus: 'CompressionError' });
    expect(after.compressionError).toMatch(/time limit/);
    expect(await job(b.id, 'StartCompression')).toMatchObject({ attempts: 1, executing: false, scheduledAt: null });
    expect(qemuImgsUnder(kb.repoPath)).toEqual([]);
    expect((await exec('find', [kb.repoPath, '-name', '*.compressing'])).stdout).toBe('');
    expect(await sha256(file(b))).toBe(original);
    await setting('backup.compression.rate.limit', 0);
    await setting('backup.compression.timeout', 28_800);
  });

  test('finalize waits while a restore reads the backup, and runs when it ends; a restore of a chain being finalized gets 409', async () => {
    await setting('backup.compression.task.enabled', false);
    await setting('backup.quickrestore.pull.rate.limit', 2);
    const vm = await newVm(128);
    await offlineWrite(vm.diskPath, 0, 64 * MiB, 0x3c);
    await snapshotDisk(vm.diskPath, path.join(vm.dir, 'ref.qcow2'));
    const b = await backupVia(s, { vmId: vm.uuid });
    const quick = await ok('POST', `/v1/backups/${b.id}/restore`, { quickRestore: true });
    await eventually(async () => (await ok('GET', `/v1/restores/${quick.restoreId}`)).status === 'Consolidating', 120_000, 200);

    await setting('backup.compression.task.enabled', true);
    expect((await ok('POST', '/v1/backup-service-jobs/compress-due', { zoneId: kb.zoneId })).started.map((x: any) => x.backupId)).toEqual([b.id]);
    // Phase 1 ran; finalize waits for the restore, which is still reading the backup.
    const waiting = await eventually(async () => {
      const j = await job(b.id, 'FinalizeCompression');
      return j && /waiting for restore/.test(j.result ?? '') ? j : undefined;
    }, 300_000, 200);
    expect(waiting).toMatchObject({ attempts: 0, executing: false });
    expect((await ok('GET', `/v1/restores/${quick.restoreId}`)).status).toBe('Consolidating');
    expect((await ok('GET', `/v1/backups/${b.id}`)).compressionStatus).toBe('Compressing');
    expect((await exec('find', [kb.repoPath, '-name', '*.compressing'])).stdout).not.toBe('');

    await settle(s, quick.workflowId);
    expect((await ok('GET', `/v1/restores/${quick.restoreId}`)).status).toBe('Succeeded');
    await settle(s, `compress-${vm.name}-${b.id}`);
    const c = await ok('GET', `/v1/backups/${b.id}`);
    expect(c.compressionStatus).toBe('Compressed');
    expect(await job(b.id, 'FinalizeCompression')).toMatchObject({ attempts: 1, result: 'Succeeded' });
    await virsh(['destroy', vm.name]).catch(() => undefined);
    expect((await qemuImgCompare(path.join(vm.dir, 'ref.qcow2'), vm.diskPath)).identical).toBe(true);
    expect((await qemuImgCompare(path.join(vm.dir, 'ref.qcow2'), file(c))).identical).toBe(true);

    // While a backup of the chain is FinalizingCompression (as finalize marks it for the rename), restores get 409.
    await s.pool.query(`UPDATE backups SET compression_status='FinalizingCompression' WHERE id=$1`, [b.id]);
    try {
      for (const [url, body] of [[`/v1/backups/${b.id}/restore`, {}], [`/v1/backups/${b.id}/create-vm`, { name: 'never-made' }]] as const) {
        const r = await s.api('POST', url, { body });
        expect([url, r.status]).toEqual([url, 409]);
        expect(r.body.error.message).toMatch(/FinalizingCompression/);
      }
      expect((await s.api('DELETE', `/v1/backups/${b.id}`)).status).toBe(409);
    } finally {
      await s.pool.query(`UPDATE backups SET compression_status='Compressed' WHERE id=$1`, [b.id]);
    }
  });
});
