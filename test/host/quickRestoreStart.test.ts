import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { isFailure, Failure } from '../../common/failures';
import { backingChain, prepareQuickRestoreDisk } from '../../activities/host/quickRestore';
import { abortQuickRestore, startQuickRestore } from '../../activities/host/quickRestoreStart';
import { sha256 } from '../helpers/backups';
import { guestReadVerify, qemuIo, restoreFiles, restoreWorld, ROOT } from '../helpers/restoreChains';
import { virsh } from '../helpers/vm';

/**
 * Quick restore's way to a running VM in one host activity (issue 15), on real files and VMs: mount,
 * overlays and start; a retry after the start is a no-op; a VM that runs for another reason is refused;
 * overlays made before a failure are undone by abortQuickRestore.
 */
describe('startQuickRestore: one host activity from the request to a running VM', () => {
  const world = restoreWorld();
  const { newVm } = world;
  // The chain's repository lives under ROOT: allowed as a local repository for this test only.
  beforeAll(() => {
    process.env.BACKFLOW_REPOSITORY_ROOTS = [process.env.BACKFLOW_REPOSITORY_ROOTS, path.dirname(path.dirname(ROOT))].filter(Boolean).join(':');
  });
  const input = (vm: { uuid: string }, restoreId: string) => ({
    repository: { id: randomUUID(), type: 'local' as const, address: world.chain.repoPath, mountOptions: '' },
    vmUuid: vm.uuid, backupVmUuid: world.chain.vmUuid, backupId: world.chain.backupIds[2], restoreId,
    disks: [{ target: 'vda', file: world.chain.files[2] }],
  });

  test('a stopped VM runs on overlays on the backup; run again it changes nothing; a VM running for another reason is refused', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 64, start: false });
    await qemuIo(vm.diskPath, 'write -P 0xee 0 8M');
    const oldHash = await sha256(vm.diskPath);
    const rid = `qs-${randomBytes(3).toString('hex')}`;
    const backupFile = path.join(world.chain.repoPath, world.chain.files[2]);

    const first = await startQuickRestore(input(vm, rid));
    expect(first).toMatchObject({ started: true, disks: [{ target: 'vda', file: world.chain.files[2], path: vm.diskPath, format: 'qcow2' }] });
    expect((await virsh(['domstate', vm.name])).trim()).toBe('running');
    expect((await backingChain({ path: vm.diskPath }))[0]).toBe(backupFile);
    // The guest reads the backup's bytes at once; the old volume is kept until the restore finishes.
    await guestReadVerify(vm, 'vda', 60 * 1024 * 1024, 4 * 1024 * 1024, 0x34);
    expect(await sha256(`${vm.diskPath}.pre-restore-${rid}`)).toBe(oldHash);

    // A retry (the worker died after the start): nothing is made again, nothing undone.
    expect(await startQuickRestore(input(vm, rid))).toMatchObject({ started: false });
    expect(await abortQuickRestore({ vmUuid: vm.uuid, targets: ['vda'], restoreId: rid })).toEqual({ restored: [] });
    expect((await backingChain({ path: vm.diskPath }))[0]).toBe(backupFile);

    // Running, but not from this backup: refused before any disk is touched.
    const other = await newVm({ os: false, diskSizeMiB: 64 });
    const otherHash = await sha256(other.diskPath);
    const refused = await startQuickRestore(input(other, `qs-${randomBytes(3).toString('hex')}`)).catch((e) => e);
    expect(isFailure(refused, Failure.VmRunning)).toBe(true);
    expect(await restoreFiles(other.dir)).toEqual([]);
    await virsh(['destroy', other.name]);
    expect(await sha256(other.diskPath)).toBe(otherHash);
  });

  test('overlays made before a failure: abortQuickRestore puts the old volume back', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 64, start: false });
    await qemuIo(vm.diskPath, 'write -P 0x5c 0 8M');
    const oldHash = await sha256(vm.diskPath);
    const rid = `qa-${randomBytes(3).toString('hex')}`;
    await prepareQuickRestoreDisk({ repoPath: world.chain.repoPath, file: world.chain.files[2], targetPath: vm.diskPath, restoreId: rid });
    expect(await abortQuickRestore({ vmUuid: vm.uuid, targets: ['vda'], restoreId: rid })).toEqual({ restored: ['vda'] });
    expect(await sha256(vm.diskPath)).toBe(oldHash);
    expect(await restoreFiles(vm.dir)).toEqual([]);
  });
});
