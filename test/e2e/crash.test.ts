import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { agentCommand } from '../../activities/host/virsh';
import { backupVia, enrol, KbossZone, qemuImgCompare, settle, setupKbossZone, sha256 } from '../helpers/backups';
import { eventually, Stack, startStack } from '../helpers/stack';
import { createTestVm, destroyTestVm, guestWrite, TestVm, virsh, waitForAgent } from '../helpers/vm';

const MiB = 1024 * 1024;

/**
 * The host worker killed (SIGKILL) at exact points of a workflow: the guest is thawed anyway, no
 * backup is left half-way, a restore leaves the old disk intact, and both finish once it is back.
 */
describe('host worker crashes', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  const newVm = async (opts: Parameters<typeof createTestVm>[0]) => {
    const vm = await createTestVm(opts);
    vms.push(vm);
    await enrol(s, vm.uuid, kb.offeringId);
    return vm;
  };

  beforeAll(async () => {
    s = await startStack({ hostWorker: 'process' });
    kb = await setupKbossZone(s);
  });
  afterAll(async () => {
    for (const vm of vms) await destroyTestVm(vm).catch(() => undefined);
    await s?.stop();
    kb?.cleanup();
  });

  test('killed right after the freeze: the guard thaws the guest, and the backup ends BackedUp or Failed', async () => {
    const guard = 10;
    await s.api('PUT', '/v1/settings/backup.quiesce.freeze.guard', { body: { scope: 'zone', scopeId: kb.zoneId, value: guard } });
    const vm = await newVm({ os: true });
    await waitForAgent(vm, 120_000);
    await s.restartHostWorker({ BACKFLOW_CRASH_AFTER_ACTIVITY: 'freezeGuest' });

    const started = await s.api('POST', '/v1/backups', { body: { vmId: vm.uuid, quiesce: true } });
    expect(started.status).toBe(202);
    await eventually(async () => s.hostWorkerExited(), 120_000, 100);
    const killedAt = Date.now();
    // Nothing on the host is running Backflow now; only the guard can thaw the guest.
    await eventually(async () => (await agentCommand(vm.name, 'guest-fsfreeze-status')) === 'thawed', (guard + 20) * 1000, 250);
    expect(Date.now() - killedAt).toBeLessThan((guard + 20) * 1000);

    await s.restartHostWorker();
    await settle(s, started.body.workflowId).catch(() => undefined);
    const b = (await s.api('GET', `/v1/backups/${started.body.backupId}`)).body;
    expect(['BackedUp', 'Failed']).toContain(b.status);
    expect(await agentCommand(vm.name, 'guest-fsfreeze-status')).toBe('thawed');
    const dir = path.join(kb.repoPath, vm.uuid);
    const folders = existsSync(dir) ? readdirSync(dir) : [];
    // No half-written folder: a finished backup has its folder, a failed one has none.
    expect(folders.filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(folders.includes(b.id)).toBe(b.status === 'BackedUp');
    if (b.status === 'BackedUp') expect(b.quiesced).toBe(true);
  });

  test('a restore killed midway leaves the old disk intact, and completes once the worker is back', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 128 });
    await guestWrite(vm, 0, 16 * MiB, 0x81);
    const b = await backupVia(s, { vmId: vm.uuid });
    expect(b.status).toBe('BackedUp');
    await guestWrite(vm, 0, 16 * MiB, 0x82); // the disk moves on after the backup
    await virsh(['destroy', vm.name]);
    await s.api('POST', `/v1/hosts/${s.facts.id}/sync`);
    const before = await sha256(vm.diskPath);

    await s.restartHostWorker({ BACKFLOW_CRASH_AFTER_ACTIVITY: 'flattenBackupDisk', BACKFLOW_CRASH_BEFORE_RESULT: '1' });
    const started = await s.api('POST', `/v1/backups/${b.id}/restore`, { body: {} });
    expect(started.status).toBe(202);
    await eventually(async () => s.hostWorkerExited(), 120_000, 100);
    // Killed once the new disk was written beside the volume, before the swap: the old disk is as it was.
    expect(await sha256(vm.diskPath)).toBe(before);
    expect((await s.api('GET', `/v1/restores/${started.body.restoreId}`)).body.status).toBe('Running');

    await s.restartHostWorker();
    await settle(s, started.body.workflowId);
    const r = (await s.api('GET', `/v1/restores/${started.body.restoreId}`)).body;
    expect(r.status).toBe('Succeeded');
    expect((await qemuImgCompare(path.join(kb.repoPath, b.disks[0].file), vm.diskPath)).identical).toBe(true);
    expect(readdirSync(path.dirname(vm.diskPath)).filter((f) => f.includes('restore'))).toEqual([]);
  });
});
