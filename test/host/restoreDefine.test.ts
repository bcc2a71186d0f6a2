import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ensureDomainDefined, flattenBackupDisk, swapInRestoredDisk } from '../../activities/host/restore';
import { domainIsRunning } from '../../activities/host/quickRestore';
import { attachVolume, defineVmFromBackup, volumePathFor } from '../../activities/host/vmDefinition';
import { qemuImgCompare as compare } from '../helpers/backups';
import { guestReadVerify, MiB, qemuIo, restoreWorld, ROOT, sh, type Chain } from '../helpers/restoreChains';
import { type TestVm, TEST_VM_PREFIX, virsh } from '../helpers/vm';

/**
 * The host side of restores on real VMs: a VM redefined from its backup's XML, restored volumes attached
 * to a VM, a new VM defined from a backup.
 */
describe('restore mechanics: VM definitions and volumes', () => {
  const world = restoreWorld();
  const { newVm, vms } = world;
  let chain: Chain;
  beforeAll(() => {
    chain = world.chain;
  });

  test('(3) ensureDomainDefined redefines a VM whose definition is gone, from its XML', async () => {
    const vm = await newVm({ os: false, start: false });
    const xml = await virsh(['dumpxml', '--inactive', '--security-info', vm.name]);
    expect(await ensureDomainDefined({ uuid: vm.uuid, xml })).toEqual({ defined: false });
    await virsh(['undefine', vm.name]);
    await expect(virsh(['domuuid', vm.name])).rejects.toThrow();
    // The XML of another VM is refused.
    await expect(ensureDomainDefined({ uuid: randomUUID(), xml })).rejects.toMatchObject({ type: 'CorruptBackup' });
    expect(await ensureDomainDefined({ uuid: vm.uuid, xml })).toEqual({ defined: true });
    expect((await virsh(['domuuid', vm.name])).trim()).toBe(vm.uuid);
    expect(await ensureDomainDefined({ uuid: vm.uuid, xml })).toEqual({ defined: false });
    expect(await domainIsRunning({ domain: vm.uuid })).toBe(false);
  });

  test('(4) attachVolume attaches at the next free virtio target, live and persistent, with the file\'s data', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 32 });
    const mk = async (name: string, pattern: number) => {
      const p = path.join(vm.dir, name);
      await sh('qemu-img', ['create', '-q', '-f', 'qcow2', p, '16M']);
      await qemuIo(p, `write -P 0x${pattern.toString(16)} 0 2M`, `write -P 0x${(pattern + 1).toString(16)} 15M 1M`);
      const ref = path.join(ROOT, `attach-ref-${name}`);
      await fs.copyFile(p, ref);
      return { p, ref };
    };
    const v1 = await mk('restored-1.qcow2', 0x44);
    const v2 = await mk('restored-2.qcow2', 0x54);
    expect(await attachVolume({ domain: vm.uuid, path: v1.p, format: 'qcow2' })).toEqual({ target: 'vdb' });
    // Run again (worker crashed after attaching): same target, not attached twice.
    expect(await attachVolume({ domain: vm.uuid, path: v1.p, format: 'qcow2' })).toEqual({ target: 'vdb' });
    expect(await attachVolume({ domain: vm.name, path: v2.p, format: 'qcow2' })).toEqual({ target: 'vdc' });

    const live = await virsh(['domblklist', vm.name]);
    const config = await virsh(['domblklist', vm.name, '--inactive']);
    for (const out of [live, config]) {
      expect(out).toMatch(new RegExp(`vdb\\s+${v1.p}`));
      expect(out).toMatch(new RegExp(`vdc\\s+${v2.p}`));
      expect(out.match(/restored-1/g)).toHaveLength(1);
    }
    // The guest's view: QEMU reads the file's data at the new targets.
    await guestReadVerify(vm, 'vdb', 0, 2 * MiB, 0x44);
    await guestReadVerify(vm, 'vdb', 15 * MiB, MiB, 0x45);
    await guestReadVerify(vm, 'vdc', 0, 2 * MiB, 0x54);
    expect((await compare(v1.ref, v1.p)).identical).toBe(true);
    expect((await compare(v2.ref, v2.p)).identical).toBe(true);

    // Stopped VM: persistent only, next free target.
    await virsh(['destroy', vm.name]);
    const v3 = await mk('restored-3.qcow2', 0x64);
    expect(await attachVolume({ domain: vm.uuid, path: v3.p, format: 'qcow2' })).toEqual({ target: 'vdd' });
    expect(await virsh(['domblklist', vm.name, '--inactive'])).toMatch(new RegExp(`vdd\\s+${v3.p}`));
    await virsh(['start', vm.name]);
    await guestReadVerify(vm, 'vdd', 0, 2 * MiB, 0x64);
  });

  test('(7) defineVmFromBackup: new name and UUID, disks at the new files, no MAC, disks not restored left out', async () => {
    const src = await newVm({ os: false, diskSizeMiB: 64, start: false, extraDisks: 1 });
    const mac = '52:54:00:aa:bb:cc';
    const xml = (await virsh(['dumpxml', '--inactive', '--security-info', src.name])).replace(
      '</devices>',
      `  <interface type='user'><mac address='${mac}'/><model type='virtio'/></interface>\n  </devices>`,
    );
    const newName = `${TEST_VM_PREFIX}${randomBytes(4).toString('hex')}-clone`;
    const dir = path.join(ROOT, newName);
    await fs.mkdir(dir, { recursive: true });
    const clone: TestVm = { name: newName, uuid: randomUUID(), dir, diskPath: '' };
    clone.diskPath = volumePathFor({ dir, name: newName, target: 'vda' });
    expect(clone.diskPath).toBe(path.join(dir, `${newName}-vda.qcow2`));
    expect(volumePathFor({ dir, name: 'x', target: 'vdb', suffix: 'restored-1234' })).toBe(path.join(dir, 'x-restored-1234-vdb.qcow2'));
    vms.push(clone);

    const rid = `nv-${randomBytes(3).toString('hex')}`;
    const { tmpPath } = await flattenBackupDisk({ repoPath: chain.repoPath, file: chain.files[1], targetPath: clone.diskPath, restoreId: rid });
    await swapInRestoredDisk({ tmpPath, targetPath: clone.diskPath, restoreId: rid });
    const input = { xml, newName, newUuid: clone.uuid, diskMap: { vda: clone.diskPath } };
    expect(await defineVmFromBackup(input)).toEqual({ uuid: clone.uuid, name: newName, droppedTargets: ['vdb'] });
    expect(await defineVmFromBackup(input)).toEqual({ uuid: clone.uuid, name: newName, droppedTargets: ['vdb'] }); // again: same VM

    const def = await virsh(['dumpxml', '--inactive', newName]);
    expect((await virsh(['domuuid', newName])).trim()).toBe(clone.uuid);
    expect(def).not.toContain(src.uuid);
    expect(def).not.toContain(src.diskPath);
    expect(def).not.toContain(mac);
    expect(def).toMatch(/<mac address='52:54:00:[0-9a-f:]{8}'\/>/);
    const blk = await virsh(['domblklist', newName, '--inactive']);
    expect(blk).toMatch(new RegExp(`vda\\s+${clone.diskPath}`));
    expect(blk).not.toMatch(/vdb/);
    // The original is untouched.
    expect((await virsh(['domuuid', src.name])).trim()).toBe(src.uuid);
    expect(await virsh(['domblklist', src.name, '--inactive'])).toMatch(new RegExp(`vda\\s+${src.diskPath}`));
    // Another VM of that name, or a disk the XML lacks: refused.
    await expect(defineVmFromBackup({ ...input, newUuid: randomUUID() })).rejects.toMatchObject({ type: 'NameTaken' });
    await expect(defineVmFromBackup({ ...input, newName: `${newName}x`, diskMap: { vdz: clone.diskPath } })).rejects.toMatchObject({
      type: 'DiskMissing',
    });
    // It boots from the restored disk (the no-OS guest just runs).
    await virsh(['start', newName]);
    await guestReadVerify(clone, 'vda', 1 * MiB, 1 * MiB, 0x22);
  });
});
