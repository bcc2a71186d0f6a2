import { openSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { agentCommand } from '../../activities/host/virsh';
import { backupVia, enrol, KbossZone, offlineWrite, qemuImgCompare, settle, setupKbossZone, sha256, snapshotDisk } from '../helpers/backups';
import { eventually, Stack, startStack } from '../helpers/stack';
import { createTestVm, destroyTestVm, diskPathOf, guestWrite, TestVm, virsh, waitForAgent } from '../helpers/vm';

const MiB = 1024 * 1024;
const exec = promisify(execFile);
const backingChain = async (file: string): Promise<string[]> => {
  const { stdout } = await exec('qemu-img', ['info', '-U', '--backing-chain', '--output=json', file]);
  return (JSON.parse(stdout) as { filename: string }[]).slice(1).map((i) => i.filename);
};

/** Issue 5: restores as workflows, proved byte for byte on real VMs and files. */
describe('restores on the real stack', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  /** Reference copies live in the VM's own folder, so they go with it. */
  const ref = (vm: TestVm, point: string) => path.join(vm.dir, `ref-${point}.qcow2`);
  const file = (b: any, target = 'vda') => path.join(kb.repoPath, b.disks.find((d: any) => d.target === target).file);
  const newVm = async (opts: Parameters<typeof createTestVm>[0]) => {
    const vm = await createTestVm(opts);
    vms.push(vm);
    await enrol(s, vm.uuid, kb.offeringId);
    return vm;
  };
  const backupPaused = async (vm: TestVm, refName: string) => {
    await virsh(['suspend', vm.name]);
    try {
      await snapshotDisk(vm.diskPath, ref(vm, refName));
      return await backupVia(s, { vmId: vm.uuid });
    } finally {
      await virsh(['resume', vm.name]);
    }
  };
  /** Starts a restore through the API, waits for its workflow, and returns the restore's record. */
  const restoreVia = async (url: string, body: object = {}) => {
    const r = await s.api('POST', url, { body });
    if (r.status !== 202) return r;
    await settle(s, r.body.workflowId).catch(() => undefined);
    return s.api('GET', `/v1/restores/${r.body.restoreId}`);
  };
  const stop = async (vm: TestVm) => {
    await virsh(['destroy', vm.name]).catch(() => undefined);
    await s.api('POST', `/v1/hosts/${s.facts.id}/sync`);
  };

  let chainVm: TestVm;
  let chain: any[];

  beforeAll(async () => {
    s = await startStack();
    kb = await setupKbossZone(s);
    chainVm = await newVm({ os: false, diskSizeMiB: 128 });
    chain = [];
    for (let i = 0; i < 3; i++) {
      await guestWrite(chainVm, i * 24 * MiB, 8 * MiB, 0x50 + i);
      chain.push(await backupPaused(chainVm, `r${i}`));
    }
    expect(chain.map((b) => b.type)).toEqual(['FULL', 'INCREMENTAL', 'INCREMENTAL']);
  });
  afterAll(async () => {
    for (const vm of vms) await destroyTestVm(vm).catch(() => undefined);
    await s?.stop();
    kb?.cleanup();
  });

  test('restoreBackup on a running VM is refused with a clear message and changes nothing', async () => {
    const before = await sha256(chainVm.diskPath).catch(() => 'running');
    const r = await s.api('POST', `/v1/backups/${chain[0].id}/restore`, { body: {} });
    expect(r.status).toBe(409);
    expect(r.body.error.message).toMatch(/is Running: stop it/);
    expect((await s.pool.query(`SELECT count(*)::int AS n FROM restores`)).rows[0].n).toBe(0);
    expect(await sha256(chainVm.diskPath).catch(() => 'running')).toBe(before);
  });

  test('each point of FULL -> INC -> INC restores in place to the disk as it was', async () => {
    await stop(chainVm);
    for (const i of [0, 2, 1]) {
      const r = await restoreVia(`/v1/backups/${chain[i].id}/restore`);
      expect(r.body).toMatchObject({ status: 'Succeeded', mode: 'in_place', backupId: chain[i].id, targetVmId: chainVm.uuid });
      const cmp = await qemuImgCompare(ref(chainVm, `r${i}`), chainVm.diskPath);
      expect(cmp.identical).toBe(true);
      expect(await backingChain(chainVm.diskPath)).toEqual([]);
    }
    const vm = (await s.api('GET', `/v1/vms/${chainVm.uuid}`)).body;
    expect(vm.state).toBe('Stopped');
    // The restored disk carries no dirty bitmap: the next backup starts a new chain, and says why.
    await virsh(['start', chainVm.name]);
    const next = await backupVia(s, { vmId: chainVm.uuid });
    expect(next).toMatchObject({ type: 'FULL', fullReason: expect.stringMatching(/restored from backup/) });
    await stop(chainVm);
  });

  test('a VM whose definition is gone is redefined from the backup\'s domain XML', async () => {
    await virsh(['undefine', chainVm.name, '--checkpoints-metadata']);
    await s.api('POST', `/v1/hosts/${s.facts.id}/sync`);
    const r = await restoreVia(`/v1/backups/${chain[2].id}/restore`);
    expect(r.body.status).toBe('Succeeded');
    expect((await virsh(['domuuid', chainVm.name])).trim()).toBe(chainVm.uuid);
    expect((await qemuImgCompare(ref(chainVm, `r2`), chainVm.diskPath)).identical).toBe(true);
  });

  test('a corrupted backup file: a clear error, and the VM disk is untouched', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 64 });
    await guestWrite(vm, 0, 4 * MiB, 0x61);
    const full = await backupVia(s, { vmId: vm.uuid });
    await guestWrite(vm, 8 * MiB, 4 * MiB, 0x62);
    const inc = await backupVia(s, { vmId: vm.uuid });
    await stop(vm);
    const before = await sha256(vm.diskPath);
    const fd = openSync(file(full), 'r+');
    writeSync(fd, Buffer.alloc(512, 0xff), 0, 512, 0); // the qcow2 header of the chain's base
    closeSync(fd);
    const r = await restoreVia(`/v1/backups/${inc.id}/restore`);
    expect(r.body.status).toBe('Failed');
    expect(r.body.error).toMatch(/corrupt|check|qcow2|image/i);
    expect(await sha256(vm.diskPath)).toBe(before);
    expect((await s.api('GET', `/v1/vms/${vm.uuid}`)).body.state).toBe('Stopped');
  });

  test('another account\'s backup cannot be restored by a user', async () => {
    const acct = (await s.api('POST', '/v1/accounts', { body: { name: 'mallory', role: 'user' } })).body;
    const key = (await s.api('POST', `/v1/accounts/${acct.id}/keys`, { body: {} })).body.key;
    const r = await s.api('POST', `/v1/backups/${chain[0].id}/restore`, { key, body: {} });
    expect(r.status).toBe(404);
    expect(r.body.error.field).toBe('id');
    const bad = await s.api('POST', `/v1/backups/${chain[0].id}/restore-volume`, { body: { volumeTarget: 'vdz', vmId: chainVm.uuid } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('body.volumeTarget');
  });

  test('restoreVolumeFromBackupAndAttachToVM attaches a disk equal to the backed-up one', async () => {
    const target = await newVm({ os: false, diskSizeMiB: 32 });
    const r = await restoreVia(`/v1/backups/${chain[1].id}/restore-volume`, { volumeTarget: 'vda', vmId: target.uuid });
    expect(r.body).toMatchObject({ status: 'Succeeded', mode: 'volume', targetVmId: target.uuid });
    await s.api('POST', `/v1/hosts/${s.facts.id}/sync`);
    const vm = (await s.api('GET', `/v1/vms/${target.uuid}`)).body;
    const attached = vm.disks.find((d: any) => d.target === 'vdb');
    expect(attached).toBeDefined();
    expect((await qemuImgCompare(ref(chainVm, `r1`), attached.path)).identical).toBe(true);
  });

  test('createVMFromBackup makes a new VM with new UUID and disk files, equal to the backup', async () => {
    const r = await restoreVia(`/v1/backups/${chain[2].id}/create-vm`, { name: `${chainVm.name}-clone` });
    expect(r.body.status).toBe('Succeeded');
    const newId = r.body.targetVmId;
    expect(newId).not.toBe(chainVm.uuid);
    const vm = (await s.api('GET', `/v1/vms/${newId}`)).body;
    expect(vm.name).toBe(`${chainVm.name}-clone`);
    expect(vm.disks[0].path).not.toBe(chainVm.diskPath);
    expect((await qemuImgCompare(ref(chainVm, `r2`), vm.disks[0].path)).identical).toBe(true);
    await virsh(['undefine', vm.name]);
  });

  test('quick restore: the guest runs and its agent answers while consolidation goes on; afterwards nothing depends on the repository', async () => {
    await s.api('PUT', '/v1/settings/backup.quickrestore.pull.rate.limit', { body: { scope: 'zone', scopeId: kb.zoneId, value: 4 } });
    const vm = await newVm({ os: true, extraDisks: 1 });
    const vdb = diskPathOf(vm, 'vdb');
    await waitForAgent(vm, 120_000);
    await guestWrite(vm, 0, 8 * MiB, 0x5a, 'vdb');
    const b = await backupVia(s, { vmId: vm.uuid, quiesce: true });
    expect(b).toMatchObject({ status: 'BackedUp', quiesced: true });
    await stop(vm);
    // The disks change after the backup: the restore must bring the backup's bytes back.
    await offlineWrite(vdb, 0, 8 * MiB, 0xee);
    const started = await s.api('POST', `/v1/backups/${b.id}/restore`, { body: { quickRestore: true } });
    expect(started.status).toBe(202);
    // Running from the backup, agent answering, while the restore still consolidates.
    await waitForAgent(vm, 120_000);
    const during = (await s.api('GET', `/v1/restores/${started.body.restoreId}`)).body;
    expect(during.status).toBe('Consolidating');
    expect(during.runningAt).toBeTruthy();
    expect((await backingChain(vm.diskPath)).concat(await backingChain(vdb)).some((f) => f.startsWith(kb.repoPath))).toBe(true);
    await settle(s, started.body.workflowId);
    const done = (await s.api('GET', `/v1/restores/${started.body.restoreId}`)).body;
    expect(done.status).toBe('Succeeded');
    expect(await backingChain(vm.diskPath)).toEqual([]);
    expect(await backingChain(vdb)).toEqual([]);
    expect(await agentCommand(vm.name, 'guest-ping')).toEqual({});
    // vdb is not touched by the guest: byte for byte the backup's. (vda is the guest's live ext4.)
    expect((await qemuImgCompare(file(b, 'vdb'), vdb)).identical).toBe(true);
    await stop(vm);
  });

  test('quick restore with the VM destroyed during consolidation still ends consolidated', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 64 });
    await guestWrite(vm, 0, 32 * MiB, 0x71);
    const b = await backupVia(s, { vmId: vm.uuid });
    await stop(vm);
    const started = await s.api('POST', `/v1/backups/${b.id}/restore`, { body: { quickRestore: true } });
    expect(started.status).toBe(202);
    await eventually(async () => (await s.api('GET', `/v1/restores/${started.body.restoreId}`)).body.status === 'Consolidating', 60_000, 200);
    // A backup under restore cannot be deleted, not even forced.
    const del = await s.api('DELETE', `/v1/backups/${b.id}?forced=true`);
    expect(del.status).toBe(409);
    expect(del.body.error.message).toMatch(/being restored/);
    await virsh(['destroy', vm.name]);
    await settle(s, started.body.workflowId);
    const done = (await s.api('GET', `/v1/restores/${started.body.restoreId}`)).body;
    expect(done.status).toBe('Succeeded');
    expect(await backingChain(vm.diskPath)).toEqual([]);
    expect((await qemuImgCompare(file(b), vm.diskPath)).identical).toBe(true);
  });
});
