import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { abortRestore, finishRestore, flattenBackupDisk } from '../../activities/host/restore';
import { abortQuickRestoreDisk, backingChain, consolidateOffline, domainIsRunning, prepareQuickRestoreDisk, pullDisk, startDomain } from '../../activities/host/quickRestore';
import { attachVolume, volumePathFor } from '../../activities/host/vmDefinition';
import { qemuImgCompare as compare, sha256 } from '../helpers/backups';
import { exists, guestReadVerify, info, makeChain, MiB, qemuIo, restoreFiles, restoreWorld, ROOT, sleep, type Chain } from '../helpers/restoreChains';
import { virsh } from '../helpers/vm';

/**
 * Quick restore on real files and VMs (no mocks; MockActivityEnvironment only gives the activities a Context
 * so heartbeats and cancellation can be observed): the VM runs at once on an overlay on the backup while
 * QEMU pulls the data in; a pull the VM's stop interrupts is consolidated offline, a cancelled one aborted.
 */
describe('restore mechanics: quick restore', () => {
  const world = restoreWorld();
  const { newVm } = world;
  let chain: Chain;
  beforeAll(() => {
    chain = world.chain;
  });

  test('(5) quick restore of a stopped VM: overlay on the backup, start, live pull; afterwards standalone and equal to the chain', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 64, start: false });
    await qemuIo(vm.diskPath, 'write -P 0xee 0 8M');
    const oldHash = await sha256(vm.diskPath);
    const backupFile = path.join(chain.repoPath, chain.files[2]);

    // Prepared, then given up before the VM started: the old volume is back.
    const ridA = `qa-${randomBytes(3).toString('hex')}`;
    await prepareQuickRestoreDisk({ repoPath: chain.repoPath, file: chain.files[2], targetPath: vm.diskPath, restoreId: ridA });
    expect(await backingChain({ path: vm.diskPath })).toContain(backupFile);
    expect(await abortQuickRestoreDisk({ targetPath: vm.diskPath, restoreId: ridA })).toEqual({ restored: true });
    expect(await sha256(vm.diskPath)).toBe(oldHash);
    expect(await restoreFiles(vm.dir)).toEqual([]);

    const rid = `qb-${randomBytes(3).toString('hex')}`;
    const prep = { repoPath: chain.repoPath, file: chain.files[2], targetPath: vm.diskPath, restoreId: rid };
    expect(await prepareQuickRestoreDisk(prep)).toEqual({ overlayPath: vm.diskPath });
    expect(await prepareQuickRestoreDisk(prep)).toEqual({ overlayPath: vm.diskPath }); // idempotent
    expect(await sha256(`${vm.diskPath}.pre-restore-${rid}`)).toBe(oldHash);
    const ov = await info(vm.diskPath);
    expect(ov['backing-filename']).toBe(backupFile); // absolute; the backup's parents follow by relative paths
    expect(ov['virtual-size']).toBe(64 * MiB);
    const dir2 = path.join(chain.repoPath, chain.vmUuid, chain.backupIds[2]);
    expect(await backingChain({ path: vm.diskPath })).toEqual([
      backupFile,
      `${dir2}/../${chain.backupIds[1]}/vda.qcow2`,
      `${dir2}/../${chain.backupIds[1]}/../${chain.backupIds[0]}/vda.qcow2`,
    ]);

    expect(await domainIsRunning({ domain: vm.uuid })).toBe(false);
    expect(await startDomain({ domain: vm.uuid })).toEqual({ started: true });
    expect(await startDomain({ domain: vm.uuid })).toEqual({ started: false });
    expect(await domainIsRunning({ domain: vm.uuid })).toBe(true);
    // The VM reads the backup's data at once.
    await guestReadVerify(vm, 'vda', 60 * MiB, 4 * MiB, 0x34);
    // While the VM runs on it, the backup can still be flattened (e.g. for a new VM from the same backup).
    const side = path.join(ROOT, 'vols5');
    await fs.mkdir(side, { recursive: true });
    const f = await flattenBackupDisk({ repoPath: chain.repoPath, file: chain.files[2], targetPath: path.join(side, 'x.qcow2'), restoreId: rid });
    expect((await compare(chain.refs[2], f.tmpPath)).identical).toBe(true);

    // A pull already running (as if started by a worker that died) is re-attached to and its bandwidth lifted.
    await virsh(['blockpull', vm.name, 'vda', '--bandwidth', '1']);
    const env = new MockActivityEnvironment();
    const beats: any[] = [];
    env.on('heartbeat', (d) => beats.push(d));
    const r = (await env.run(pullDisk, { domain: vm.uuid, target: 'vda' })) as { bytes: number };
    expect(r.bytes).toBe(64 * MiB);
    expect(beats.length).toBeGreaterThan(0);
    expect(beats.find((b) => b.end === 64 * MiB && typeof b.cur === 'number' && typeof b.percent === 'number')).toBeDefined();
    expect(await backingChain({ path: vm.diskPath })).toEqual([]);
    expect(await virsh(['dumpxml', vm.name])).not.toMatch(/<backingStore[^/]/);
    expect(await domainIsRunning({ domain: vm.uuid })).toBe(true);
    // Compared while the VM still runs: pullDisk has made QEMU flush the pulled clusters' metadata
    // (without that, the file on disk already says "no backing" but reads zeros there).
    expect((await compare(chain.refs[2], vm.diskPath)).identical).toBe(true);
    expect((await compare(f.tmpPath, vm.diskPath)).identical).toBe(true);
    // Done: pulling again is a no-op, offline consolidation too.
    expect((await pullDisk({ domain: vm.uuid, target: 'vda' })).bytes).toBe(64 * MiB);
    await finishRestore({ targetPaths: [vm.diskPath], restoreId: rid });
    expect(await restoreFiles(vm.dir)).toEqual([]);
    await virsh(['destroy', vm.name]);
    expect(await consolidateOffline({ path: vm.diskPath })).toEqual({ bytes: 0 });
    expect((await compare(chain.refs[2], vm.diskPath)).identical).toBe(true);
  });

  test('(6) the VM destroyed during the pull: DomainNotRunning, then offline consolidation gives a standalone equal disk; cancel aborts the job', async () => {
    const c = await makeChain('slow', 64, [['write -P 0x71 0 24M'], ['write -P 0x72 30M 8M', 'write -z 4M 1M']]);
    const vm = await newVm({ os: false, diskSizeMiB: 64, start: false });
    const rid = `qc-${randomBytes(3).toString('hex')}`;
    await prepareQuickRestoreDisk({ repoPath: c.repoPath, file: c.files[1], targetPath: vm.diskPath, restoreId: rid });
    await startDomain({ domain: vm.name });

    const pulling = pullDisk({ domain: vm.uuid, target: 'vda', bandwidthMiB: 1 }).then(
      () => null,
      (e) => e,
    );
    // Wait until the job has copied something, then pull the plug.
    for (let i = 0; i < 100; i++) {
      const out = await virsh(['blockjob', vm.name, 'vda', '--info', '--raw']).catch(() => '');
      if (/cur=[1-9]/.test(out)) break;
      await sleep(200);
    }
    expect(await virsh(['blockjob', vm.name, 'vda', '--info', '--raw'])).toMatch(/bandwidth=1\b/);
    await virsh(['destroy', vm.name]);
    const err = await pulling;
    expect({ type: err?.type, nonRetryable: err?.nonRetryable, message: err?.message }).toEqual({
      type: 'DomainNotRunning',
      nonRetryable: true,
      message: 'domain stopped during consolidation',
    });
    expect((await backingChain({ path: vm.diskPath })).length).toBe(2);
    // Not running at all: the same.
    await expect(pullDisk({ domain: vm.uuid, target: 'vda' })).rejects.toMatchObject({ type: 'DomainNotRunning' });

    const env = new MockActivityEnvironment();
    const beats: any[] = [];
    env.on('heartbeat', (d) => beats.push(d));
    const r = (await env.run(consolidateOffline, { path: vm.diskPath })) as { bytes: number };
    expect(r.bytes).toBe(64 * MiB);
    expect(beats.some((b) => typeof b?.percent === 'number')).toBe(true);
    expect(await backingChain({ path: vm.diskPath })).toEqual([]);
    expect((await compare(c.refs[1], vm.diskPath)).identical).toBe(true);
    expect(await consolidateOffline({ path: vm.diskPath })).toEqual({ bytes: 0 });
    await finishRestore({ targetPaths: [vm.diskPath], restoreId: rid });

    // Cancelled: the job is aborted, the overlay still consistent (backing kept), the VM runs on.
    const rid2 = `qd-${randomBytes(3).toString('hex')}`;
    await prepareQuickRestoreDisk({ repoPath: c.repoPath, file: c.files[1], targetPath: vm.diskPath, restoreId: rid2 });
    await startDomain({ domain: vm.name });
    const cenv = new MockActivityEnvironment();
    const p = cenv.run(pullDisk, { domain: vm.name, target: 'vda', bandwidthMiB: 1 }).then(
      () => null,
      (e) => e,
    );
    await sleep(3000);
    cenv.cancel();
    const cerr = await p;
    expect(cerr).toBeInstanceOf(CancelledFailure);
    expect((await virsh(['blockjob', vm.name, 'vda', '--info', '--raw'])).trim()).toBe('');
    expect(await domainIsRunning({ domain: vm.name })).toBe(true);
    expect((await backingChain({ path: vm.diskPath })).length).toBe(2);
    // ... and a later pull finishes it.
    expect((await pullDisk({ domain: vm.name, target: 'vda' })).bytes).toBe(64 * MiB);
    expect(await backingChain({ path: vm.diskPath })).toEqual([]);
    expect((await compare(c.refs[1], vm.diskPath)).identical).toBe(true);
    await finishRestore({ targetPaths: [vm.diskPath], restoreId: rid2 });
    expect(await restoreFiles(vm.dir)).toEqual([]);
  });

  test('(8) quick volume restore: an overlay on the backup attached to a running VM is pulled live into a standalone volume', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 32 });
    const newPath = volumePathFor({ dir: vm.dir, name: vm.name, target: 'vda', suffix: 'restored-abcd1234' });
    const rid = `qv-${randomBytes(3).toString('hex')}`;
    expect(await prepareQuickRestoreDisk({ repoPath: chain.repoPath, file: chain.files[1], targetPath: newPath, restoreId: rid })).toEqual({
      overlayPath: newPath,
    });
    expect(await exists(`${newPath}.pre-restore-${rid}`)).toBe(false); // nothing was there to keep
    const { target } = await attachVolume({ domain: vm.uuid, path: newPath, format: 'qcow2' });
    expect(target).toBe('vdb');
    await guestReadVerify(vm, 'vdb', 63 * MiB, MiB, 0x23);
    expect((await pullDisk({ domain: vm.uuid, target, bandwidthMiB: 50 })).bytes).toBe(64 * MiB);
    expect(await backingChain({ path: newPath })).toEqual([]);
    expect((await compare(chain.refs[1], newPath)).identical).toBe(true);
    await guestReadVerify(vm, 'vdb', 1 * MiB, MiB, 0x22);
    await finishRestore({ targetPaths: [newPath], restoreId: rid });
    expect(await restoreFiles(vm.dir)).toEqual([]);

    // Not attached yet when the restore fails: removeNew deletes the new overlay.
    const other = volumePathFor({ dir: vm.dir, name: vm.name, target: 'vda', suffix: 'restored-ffff0000' });
    const rid2 = `qw-${randomBytes(3).toString('hex')}`;
    await prepareQuickRestoreDisk({ repoPath: chain.repoPath, file: chain.files[0], targetPath: other, restoreId: rid2 });
    expect(await abortRestore({ targetPaths: [other], restoreId: rid2, removeNew: true })).toEqual({ restored: [], removed: [other] });
    expect(await exists(other)).toBe(false);
    // ... but an attached one in use by the VM is refused rather than pulled from under it.
    await expect(abortRestore({ targetPaths: [newPath], restoreId: rid, removeNew: true })).rejects.toMatchObject({ type: 'DiskInUse' });
    expect(await exists(newPath)).toBe(true);
  });
});
