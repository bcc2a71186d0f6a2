import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { backupVia, KbossZone, offlineWrite, qemuImgCompare, settle } from '../helpers/backups';
import { enrolledVm, startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { CONTROL_TASK_QUEUE } from '../../common/temporal';
import { apiOk, Stack } from '../helpers/stack';
import { TestVm } from '../helpers/vm';

const exec = promisify(execFile);
const MiB = 1024 * 1024;

/** An independent XXH128 of a file: Debian's xxhsum, run here, not through Backflow. */
const xxh128 = async (file: string) => (await exec('xxhsum', ['-H2', file])).stdout.split(/\s/)[0];

/** Flips one byte inside the file's own data (a host offset qemu-img map reports as data of this image, not its header). */
async function flipDataByte(file: string): Promise<number> {
  const map = JSON.parse((await exec('qemu-img', ['map', '--output=json', '-f', 'qcow2', file])).stdout) as { depth: number; data: boolean; offset?: number; length: number }[];
  const extent = map.find((m) => m.depth === 0 && m.data && m.offset !== undefined && m.length > 4096);
  if (!extent) throw new Error(`${file} has no data of its own`);
  const at = extent.offset! + 1000;
  const [byte] = (await exec('sh', ['-c', `dd if='${file}' bs=1 skip=${at} count=1 status=none | od -An -tu1`])).stdout.trim().split(/\s+/).map(Number);
  await exec('sh', ['-c', `printf '\\${((byte ^ 0xff) & 0xff).toString(8).padStart(3, '0')}' | dd of='${file}' bs=1 seek=${at} count=1 conv=notrunc status=none`]);
  return at;
}

/** Issue 13, hashing: per-file XXH128 hashes, verify now, a flipped byte found, a merge never taken for corruption. */
describe('backup hashes and re-hashes', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  const ok = (method: string, url: string, body?: unknown) => apiOk(s, method, url, body);
  const newVm = () => enrolledVm(s, vms, { os: false, diskSizeMiB: 64, start: false }, kb.offeringId);
  const fileOf = (b: any) => path.join(kb.repoPath, b.disks[0].file);
  /** A backup through the API, and its hash job run to its end. */
  const hashedBackup = async (vm: TestVm) => {
    const b = await backupVia(s, { vmId: vm.uuid });
    expect(b.status).toBe('BackedUp');
    await settle(s, `hash-${vm.name}-${b.id}`);
    return ok('GET', `/v1/backups/${b.id}`);
  };
  const verifyNow = async (backupId: string) => {
    const r = await s.api('POST', `/v1/backups/${backupId}/verify`);
    expect(r.status).toBe(202);
    return { workflowId: r.body.workflowId as string, result: (await settle(s, r.body.workflowId)) as any };
  };
  const job = async (backupId: string, type: string) => (await ok('GET', `/v1/backup-service-jobs?backupId=${backupId}&type=${type}`)).items[0];

  beforeAll(async () => ({ s, kb } = await startKbossStack()));
  afterAll(() => stopKbossStack(s, kb, vms, { drain: true }));

  test('each backup file gets an XXH128 equal to xxhsum -H2 of it, and verify now confirms it', async () => {
    const vm = await newVm();
    await offlineWrite(vm.diskPath, 0, 8 * MiB, 0x5a);
    const b = await hashedBackup(vm);
    expect(b.hashes).toEqual([expect.objectContaining({ target: 'vda', algorithm: 'xxh128', hash: await xxh128(fileOf(b)), verifiedAt: null })]);
    expect(await job(b.id, 'BackupHash')).toMatchObject({ attempts: 1, executing: false, result: 'Hashed' });

    const v = await verifyNow(b.id);
    expect(v.workflowId).toBe(`rehash-${vm.name}-${b.id}`);
    expect(v.result.status).toBe('Verified');
    const after = await ok('GET', `/v1/backups/${b.id}`);
    expect(after.hashes[0].verifiedAt).not.toBeNull();
    expect(after.validationStatus).toBeNull();
    expect(await job(b.id, 'BackupRehash')).toMatchObject({ executing: false, result: 'Verified' });
    // The VM route starts a re-hash of each of its hashed backups.
    const all = await ok('POST', `/v1/vms/${vm.uuid}/backups/verify`);
    expect(all.started.map((x: any) => x.backupId)).toEqual([b.id]);
    await settle(s, all.started[0].workflowId);
  });

  test('a byte flipped in a backup file: verify now makes it NotValid with the reason, alerts, the next backup is FULL; restore refused unless forced', async () => {
    const vm = await newVm();
    await offlineWrite(vm.diskPath, 0, 8 * MiB, 0x11);
    const b1 = await hashedBackup(vm);
    await offlineWrite(vm.diskPath, 16 * MiB, 8 * MiB, 0x22);
    const b2 = await hashedBackup(vm);
    expect(b2.type).toBe('INCREMENTAL');
    const expected = b2.hashes[0].hash;

    await flipDataByte(fileOf(b2));
    const found = await xxh128(fileOf(b2));
    expect(found).not.toBe(expected);
    const v = await verifyNow(b2.id);
    expect(v.result.status).toBe('NotValid');
    const bad = await ok('GET', `/v1/backups/${b2.id}`);
    expect(bad).toMatchObject({ status: 'BackedUp', validationStatus: 'NotValid', validationStep: 'rehash' });
    expect(bad.validationOutput).toContain(b2.disks[0].file);
    expect(bad.validationOutput).toContain(`expected xxh128 ${expected}, found ${found}`);
    expect(bad.validationError).toContain(b2.disks[0].file);
    expect((await job(b2.id, 'BackupRehash')).result).toContain(`expected ${expected} found ${found}`);
    const alerts = (await ok('GET', '/v1/alerts?type=BackupHashMismatch')).items;
    expect(alerts).toEqual([expect.objectContaining({ type: 'BackupHashMismatch', backupId: b2.id, vmId: vm.uuid })]);
    // The parent is untouched and still verifies.
    expect((await verifyNow(b1.id)).result.status).toBe('Verified');

    // A restore of it, in any of the four ways, is refused without force, naming the field.
    for (const [url, body] of [
      [`/v1/backups/${b2.id}/restore`, {}],
      [`/v1/backups/${b2.id}/restore`, { quickRestore: true }],
      [`/v1/backups/${b2.id}/restore-volume`, { volumeTarget: 'vda', vmId: vm.uuid }],
      [`/v1/backups/${b2.id}/create-vm`, { name: `${vm.name}-copy` }],
    ] as const) {
      const r = await s.api('POST', url, { body });
      expect([url, r.status, r.body.error?.field]).toEqual([url, 409, 'body.force']);
      expect(r.body.error.message).toMatch(/NotValid/);
    }
    expect((await ok('GET', `/v1/restores?backupId=${b2.id}`)).items).toEqual([]);
    // The restore workflow checks again when it starts (a request that got past the API before the re-hash).
    const direct = s.client.workflow.execute('restoreBackupWorkflow', {
      workflowId: `restore-direct-${b2.id}`, taskQueue: CONTROL_TASK_QUEUE,
      args: [{ restoreId: randomUUID(), backupId: b2.id, mode: 'in_place', quick: false, accountId: null }],
    });
    await expect(direct).rejects.toMatchObject({ cause: { cause: { type: 'NotRestorable', message: expect.stringMatching(/NotValid.*force/) } } });
    expect((await ok('GET', `/v1/restores?backupId=${b2.id}`)).items).toEqual([]);

    // The next backup starts a new chain, saying why.
    const b3 = await hashedBackup(vm);
    expect(b3.type).toBe('FULL');
    expect(b3.fullReason).toMatch(new RegExp(`${b2.id}.*NotValid`));

    // Forced: it runs, restores the backup's bytes as they are, and the force is recorded.
    await offlineWrite(vm.diskPath, 0, 32 * MiB, 0x77);
    const forced = await ok('POST', `/v1/backups/${b2.id}/restore`, { force: true });
    await settle(s, forced.workflowId);
    const restore = await ok('GET', `/v1/restores/${forced.restoreId}`);
    expect(restore).toMatchObject({ status: 'Succeeded', forcedNotValid: true });
    expect(await qemuImgCompare(fileOf(b2), vm.diskPath)).toMatchObject({ identical: true });
  });

  test('deleting a backup merges it into its child: the child is hashed again, and verify now finds no mismatch', async () => {
    const vm = await newVm();
    await offlineWrite(vm.diskPath, 0, 4 * MiB, 0x31);
    await hashedBackup(vm);
    await offlineWrite(vm.diskPath, 8 * MiB, 4 * MiB, 0x32);
    const middle = await hashedBackup(vm);
    await offlineWrite(vm.diskPath, 16 * MiB, 4 * MiB, 0x33);
    const child = await hashedBackup(vm);
    expect([middle.type, child.type]).toEqual(['INCREMENTAL', 'INCREMENTAL']);
    const before = child.hashes[0].hash;

    const del = await ok('DELETE', `/v1/backups/${middle.id}?forced=true`);
    expect((await settle(s, del.workflowId)) as any).toMatchObject({ merged: child.id });
    const merged = await ok('GET', `/v1/backups/${child.id}`);
    // The merge copied the middle backup's data into the child: other bytes, a new hash, recorded.
    expect(merged.hashes[0].hash).not.toBe(before);
    expect(merged.hashes[0].hash).toBe(await xxh128(fileOf(child)));
    const v = await verifyNow(child.id);
    expect(v.result.status).toBe('Verified');
    expect((await ok('GET', `/v1/backups/${child.id}`)).validationStatus).toBeNull();
    expect((await ok('GET', '/v1/alerts?type=BackupHashMismatch')).items.filter((a: any) => a.backupId === child.id)).toEqual([]);
  });

  test('a hashed backup compressed later (compress-due) is hashed again: its new hash is of the compressed file, and verifies', async () => {
    const offering = await ok('POST', '/v1/backup-offerings', { name: `hash-compress-${Date.now()}`, zoneId: kb.zoneId, repositoryId: kb.repoId, compress: true });
    const zoneSetting = (value: boolean) => ok('PUT', '/v1/settings/backup.compression.task.enabled', { scope: 'zone', scopeId: kb.zoneId, value });
    await zoneSetting(false);
    try {
      const vm = await enrolledVm(s, vms, { os: false, diskSizeMiB: 64, start: false }, offering.id);
      await offlineWrite(vm.diskPath, 0, 16 * MiB, 0x41);
      const b = await hashedBackup(vm);
      expect(b.compressionStatus).toBeNull();
      const plain = b.hashes[0].hash;
      expect(plain).toBe(await xxh128(fileOf(b)));

      await zoneSetting(true);
      const due = await ok('POST', '/v1/backup-service-jobs/compress-due', { zoneId: kb.zoneId });
      const started = due.started.find((x: any) => x.backupId === b.id);
      await settle(s, started.workflowId);
      // The compression's end starts the hash job again (the hashes it cleared were of the old bytes).
      await settle(s, `hash-${vm.name}-${b.id}`);
      const compressed = await ok('GET', `/v1/backups/${b.id}`);
      expect(compressed.compressionStatus).toBe('Compressed');
      expect(compressed.hashes).toHaveLength(1);
      expect(compressed.hashes[0].hash).not.toBe(plain);
      expect(compressed.hashes[0].hash).toBe(await xxh128(fileOf(b)));
      expect((await verifyNow(b.id)).result.status).toBe('Verified');
    } finally {
      await zoneSetting(true);
    }
  });

  test('verify now: 404 for an unknown backup or VM, 400 naming a bad id', async () => {
    expect((await s.api('POST', `/v1/backups/00000000-0000-4000-8000-000000000000/verify`)).status).toBe(404);
    expect((await s.api('POST', `/v1/vms/00000000-0000-4000-8000-000000000000/backups/verify`)).status).toBe(404);
    const bad = await s.api('POST', '/v1/backups/not-a-uuid/verify');
    expect([bad.status, bad.body.error.field]).toEqual([400, 'params.id']);
  });
});
