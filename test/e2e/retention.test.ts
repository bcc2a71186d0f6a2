import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { backupVia, KbossZone, offlineWrite, qemuImgCompare, settle, snapshotDisk } from '../helpers/backups';
import { enrolledVm, startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { triggerAndSettle } from '../helpers/schedules';
import { apiOk, Stack } from '../helpers/stack';
import { TestVm } from '../helpers/vm';

const exec = promisify(execFile);
const MiB = 1024 * 1024;

/** Issue 11: retention after scheduled backups, protected backups and GFS policies, on real qcow2 files. */
describe('retention', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];

  const ok = (method: string, url: string, body?: unknown) => apiOk(s, method, url, body);
  /** A stopped VM, so each backup is exactly the disk as written just before it. */
  const newVm = (offeringId = kb.offeringId) => enrolledVm(s, vms, { os: false, diskSizeMiB: 64, start: false }, offeringId);
  const ref = (vm: TestVm, id: string) => path.join(vm.dir, `ref-${id}.qcow2`);
  /** Writes something new, keeps a copy of the disk as it is, and names the copy after the backup that follows. */
  const writeAndKeep = async (vm: TestVm, i: number, regions = 14) => {
    await offlineWrite(vm.diskPath, (i % regions) * 4 * MiB, 2 * MiB, 0x20 + i);
    const tmp = ref(vm, `next`);
    await snapshotDisk(vm.diskPath, tmp);
    return (backupId: string) => exec('mv', [tmp, ref(vm, backupId)]);
  };
  const folders = (vm: TestVm) => readdirSync(path.join(kb.repoPath, vm.uuid)).sort();
  const listed = async (vm: TestVm) => (await ok('GET', `/v1/backups?vmId=${vm.uuid}&pageSize=500`)).items.map((b: any) => b.id).sort();
  const backupFile = (vm: TestVm, id: string) => path.join(kb.repoPath, vm.uuid, id, 'vda.qcow2');
  /** The files qemu-img reads for a backup: its own and its backing chain's. */
  const chainFiles = async (vm: TestVm, id: string) =>
    (JSON.parse((await exec('qemu-img', ['info', '--backing-chain', '--output=json', backupFile(vm, id)])).stdout) as { filename: string }[]).map((x) =>
      path.relative(path.join(kb.repoPath, vm.uuid), path.resolve(path.dirname(backupFile(vm, id)), x.filename)).split(path.sep)[0],
    );
  const du = async (dir: string) => Number((await exec('du', ['-sb', dir])).stdout.split('\t')[0]);

  beforeAll(async () => ({ s, kb } = await startKbossStack({}, { backupChainSize: 3 })));
  afterAll(() => stopKbossStack(s, kb, vms, { drain: true }));

  test('6 runs of a schedule with maxBackups 2, chain size 3: 2 listed backups, each restores byte for byte, no other file kept', async () => {
    const vm = await newVm();
    const sched = await ok('POST', '/v1/backup-schedules', { vmId: vm.uuid, intervalType: 'MONTHLY', schedule: '00:03:28', timezone: 'UTC', maxBackups: 2 });
    const taken: any[] = [];
    const storage: number[] = [];
    for (let i = 0; i < 6; i++) {
      // Three regions written over and over: the disk's data stops growing after the third run.
      const name = await writeAndKeep(vm, i, 3);
      const b = await triggerAndSettle(s, sched.id, vm.name);
      expect(b).toMatchObject({ status: 'BackedUp', schedule_id: sched.id });
      await name(b.id);
      taken.push(b);
      // After each run's retention: never more than maxBackups folders.
      expect(folders(vm).length).toBe(Math.min(i + 1, 2));
      storage.push(await du(path.join(kb.repoPath, vm.uuid)));
    }
    console.log(`repository bytes of the VM after each of 6 runs (maxBackups 2, chain size 3): ${storage.join(', ')}`);
    // Once the disk's data stops growing, so does the repository: a full and one incremental.
    expect(Math.max(...storage.slice(3))).toBeLessThanOrEqual(storage[3] + MiB);
    expect(taken.some((b) => b.type === 'INCREMENTAL')).toBe(true);
    const last2 = taken.slice(-2).map((b) => b.id).sort();
    expect(await listed(vm)).toEqual(last2);
    expect(folders(vm)).toEqual(last2);
    // The 4 older ones are gone from the catalog's listing and by id, with the reason recorded.
    for (const b of taken.slice(0, 4)) {
      expect((await s.api('GET', `/v1/backups/${b.id}`)).status).toBe(404);
      const row = (await s.pool.query(`SELECT status, retired_reason FROM backups WHERE id = $1`, [b.id])).rows[0];
      expect(row).toEqual({ status: 'Expunged', retired_reason: `schedule ${sched.temporalId} keeps 2 backup(s)` });
    }
    // Each kept backup needs only files of kept backups.
    for (const id of last2) for (const f of await chainFiles(vm, id)) expect(last2).toContain(f);
    // Restored in place, each gives back the disk as it was when it was taken.
    for (const id of last2) {
      const r = await ok('POST', `/v1/backups/${id}/restore`, {});
      await settle(s, r.workflowId);
      expect(await ok('GET', `/v1/restores/${r.restoreId}`)).toMatchObject({ status: 'Succeeded' });
      expect(await qemuImgCompare(ref(vm, id), vm.diskPath)).toMatchObject({ identical: true });
    }
  });

  test('storage stays bounded over 12 runs with maxBackups 3 and chain size 4', async () => {
    const off = await ok('POST', '/v1/backup-offerings', { name: 'chain4', zoneId: kb.zoneId, repositoryId: kb.repoId, backupChainSize: 4 });
    const vm = await newVm(off.id);
    const sched = await ok('POST', '/v1/backup-schedules', { vmId: vm.uuid, intervalType: 'MONTHLY', schedule: '00:03:27', timezone: 'UTC', maxBackups: 3 });
    const storage: number[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const name = await writeAndKeep(vm, i, 4);
      const b = await triggerAndSettle(s, sched.id, vm.name);
      expect(b.status).toBe('BackedUp');
      await name(b.id);
      ids.push(b.id);
      expect(folders(vm)).toEqual(ids.slice(-3).sort());
      storage.push(await du(path.join(kb.repoPath, vm.uuid)));
    }
    console.log(`repository bytes of the VM after each of 12 runs (maxBackups 3, chain size 4): ${storage.join(', ')}`);
    // The disk's data stops growing after run 4; a full of it plus two incrementals from run 6 on.
    expect(Math.max(...storage.slice(6))).toBeLessThanOrEqual(storage[5] + MiB);
    for (const id of ids.slice(-3)) expect(await qemuImgCompare(ref(vm, id), backupFile(vm, id))).toMatchObject({ identical: true });
  });

  test('a protected backup survives retention and delete (409), goes once unprotected; manual backups are never touched', async () => {
    const vm = await newVm();
    const sched = await ok('POST', '/v1/backup-schedules', { vmId: vm.uuid, intervalType: 'MONTHLY', schedule: '00:03:26', timezone: 'UTC', maxBackups: 1 });
    const run = async (i: number) => {
      const name = await writeAndKeep(vm, i);
      const b = await triggerAndSettle(s, sched.id, vm.name);
      await name(b.id);
      return b;
    };
    const b1 = await run(0);
    expect(await ok('PATCH', `/v1/backups/${b1.id}`, { protected: true })).toEqual({ backupId: b1.id, protected: true });
    const del = await s.api('DELETE', `/v1/backups/${b1.id}?forced=true`);
    expect(del.status).toBe(409);
    expect(del.body.error).toMatchObject({ field: 'id', message: expect.stringContaining('protected') });
    // Nor by removing the VM from its offering with forced (which deletes its backups); its schedule stays.
    const off = await s.api('DELETE', `/v1/vms/${vm.uuid}/backup-offering?forced=true&accountId=all`);
    expect(off.body.error).toMatchObject({ status: 409, field: 'query.forced', message: expect.stringContaining('protected') });
    expect((await ok('GET', `/v1/backup-schedules?vmId=${vm.uuid}`)).count).toBe(1);
    const bad = await s.api('PATCH', `/v1/backups/${b1.id}`, { body: { protected: 'yes' } });
    expect(bad.body.error).toMatchObject({ status: 400, field: 'body.protected' });

    const keepManual = await writeAndKeep(vm, 1);
    const m1 = await backupVia(s, { vmId: vm.uuid, name: 'manual' });
    await keepManual(m1.id);
    expect(m1).toMatchObject({ status: 'BackedUp', scheduleId: null });

    const b2 = await run(2);
    expect(await listed(vm)).toEqual([b1.id, m1.id, b2.id].sort()); // b2 is the one to keep; b1 is protected
    const b3 = await run(3);
    expect(await listed(vm)).toEqual([b1.id, m1.id, b3.id].sort());

    await ok('PATCH', `/v1/backups/${b1.id}`, { protected: false });
    const b4 = await run(4);
    expect(await listed(vm)).toEqual([m1.id, b4.id].sort());
    expect(folders(vm)).toEqual([m1.id, b4.id].sort());
    for (const id of [m1.id, b4.id]) expect(await qemuImgCompare(ref(vm, id), backupFile(vm, id))).toMatchObject({ identical: true });
  });

  test('GFS policy on an offering: the dry run removes nothing, the next backup applies it on the files', async () => {
    const off = await ok('POST', '/v1/backup-offerings', { name: 'gfs', zoneId: kb.zoneId, repositoryId: kb.repoId });
    const vm = await newVm(off.id);
    const taken: any[] = [];
    const take = async (i: number) => {
      const name = await writeAndKeep(vm, i);
      const b = await backupVia(s, { vmId: vm.uuid });
      await name(b.id);
      const retention = s.client.workflow.getHandle(`retention-${vm.name}-${b.id}`);
      if (await retention.describe().then(() => true, () => false)) await retention.result();
      taken.push(b);
    };
    for (let i = 0; i < 3; i++) await take(i);

    const badPolicy = await s.api('PUT', `/v1/backup-offerings/${off.id}/retention-policy`, { body: { policy: { keepLast: -1 } } });
    expect(badPolicy.body.error).toMatchObject({ status: 400, field: 'body.policy.keepLast' });
    const dry = await ok('POST', `/v1/backup-offerings/${off.id}/retention-policy/dry-run`, { policy: { keepLast: 2 } });
    expect(dry.vms).toHaveLength(1);
    expect(dry.vms[0].keep.map((x: any) => x.backupId)).toEqual([taken[2].id, taken[1].id]);
    expect(dry.vms[0].remove.map((x: any) => x.backupId)).toEqual([taken[0].id]);
    expect(folders(vm)).toEqual(taken.map((b) => b.id).sort()); // nothing removed

    await ok('PUT', `/v1/backup-offerings/${off.id}/retention-policy`, { policy: { keepLast: 2 } });
    await take(3);
    const kept = [taken[2].id, taken[3].id].sort();
    expect(await listed(vm)).toEqual(kept);
    expect(folders(vm)).toEqual(kept);
    for (const id of kept) {
      for (const f of await chainFiles(vm, id)) expect(kept).toContain(f);
      expect(await qemuImgCompare(ref(vm, id), backupFile(vm, id))).toMatchObject({ identical: true });
    }
  });
});
