import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { flattenBackupDisk, swapInRestoredDisk } from '../../activities/host/restore';
import { attachVolume, defineVmFromBackup } from '../../activities/host/vmDefinition';
import { REPO } from '../helpers/paths';
import { createTestVm, destroyTestVm, TestVm, TEST_VM_PREFIX, virsh } from '../helpers/vm';

const exec = promisify(execFile);
const ROOT = path.join(REPO, '.cache', 'tmp-disk-formats-test', `run-${randomBytes(4).toString('hex')}`);

/** The <disk> element of a domain XML that has this source file. */
const diskXmlOf = (xml: string, file: string) => xml.split('<disk ').find((d) => d.includes(`'${file}'`)) ?? '';

/**
 * Issue 10: the host steps of createVMFromBackup and restoreVolume take a disk's format, so a raw disk
 * restores as raw: flattened as raw, defined and attached with driver type raw, and QEMU opens it so.
 */
describe('restored disks keep their format', () => {
  const vms: TestVm[] = [];
  const repoPath = path.join(ROOT, 'repo');
  const vmUuid = randomUUID();
  const backupId = randomUUID();
  const file = `${vmUuid}/${backupId}/vdb.qcow2`;

  beforeAll(async () => {
    await fs.mkdir(path.join(repoPath, vmUuid, backupId), { recursive: true });
    const backup = path.join(repoPath, file);
    await exec('qemu-img', ['create', '-q', '-f', 'qcow2', backup, '16M']);
    await exec('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 2M', '-c', 'write -P 0xa5 9M 1M', backup]);
  });
  afterAll(async () => {
    for (const vm of vms) await destroyTestVm(vm).catch(() => undefined);
    await fs.rm(ROOT, { recursive: true, force: true });
  });

  test('a raw disk is flattened as raw, defined in a new VM as raw and attached as raw, and QEMU runs it', async () => {
    const src = await createTestVm({ os: false, diskSizeMiB: 16, extraDisks: 1, start: false });
    vms.push(src);
    const newName = `${TEST_VM_PREFIX}${randomBytes(4).toString('hex')}-rawclone`;
    const dir = path.join(ROOT, newName);
    await fs.mkdir(dir, { recursive: true });
    const clone: TestVm = { name: newName, uuid: randomUUID(), dir, diskPath: path.join(dir, `${newName}-vdb.qcow2`) };
    vms.push(clone);

    // Flattened in the backup's source format: raw bytes, equal to the backup.
    const rid = randomUUID();
    const flat = await flattenBackupDisk({ repoPath, file, targetPath: clone.diskPath, restoreId: rid, format: 'raw' });
    expect(flat).toMatchObject({ format: 'raw', virtualSize: 16 * 1024 * 1024 });
    await swapInRestoredDisk({ tmpPath: flat.tmpPath, targetPath: clone.diskPath, restoreId: rid });
    const probed = JSON.parse((await exec('qemu-img', ['info', '--output=json', clone.diskPath])).stdout);
    expect(probed.format).toBe('raw');
    await exec('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', path.join(repoPath, file), clone.diskPath]);

    // Defined with the format it was restored in (vda not restored: left out).
    const xml = await virsh(['dumpxml', '--inactive', '--security-info', src.name]);
    const defined = await defineVmFromBackup({ xml, newName, newUuid: clone.uuid, diskMap: { vdb: clone.diskPath }, formats: { vdb: 'raw' } });
    expect(defined).toEqual({ uuid: clone.uuid, name: newName, droppedTargets: ['vda'] });
    expect(diskXmlOf(await virsh(['dumpxml', '--inactive', newName]), clone.diskPath)).toMatch(/<driver name='qemu' type='raw'/);
    // QEMU opens it as raw (declared qcow2, a raw file would not start).
    await virsh(['start', newName]);
    expect((await virsh(['domstate', newName])).trim()).toBe('running');
    await virsh(['destroy', newName]);

    // Attached to another VM as raw.
    const other = await createTestVm({ os: false, diskSizeMiB: 16, start: false });
    vms.push(other);
    const vol = path.join(other.dir, 'restored-vdb.raw');
    await fs.copyFile(clone.diskPath, vol);
    expect(await attachVolume({ domain: other.uuid, path: vol, format: 'raw' })).toEqual({ target: 'vdb' });
    expect(diskXmlOf(await virsh(['dumpxml', '--inactive', other.name]), vol)).toMatch(/type='raw'/);
    await virsh(['start', other.name]);
    expect((await virsh(['domstate', other.name])).trim()).toBe('running');
  });

  test('a format that is not a plain disk image is refused before anything is written', async () => {
    const target = path.join(ROOT, 'refused.img');
    await expect(flattenBackupDisk({ repoPath, file, targetPath: target, restoreId: randomUUID(), format: 'vmdk' })).rejects.toMatchObject({
      type: 'BadFormat',
    });
    await expect(
      defineVmFromBackup({ xml: '<domain/>', newName: `${TEST_VM_PREFIX}x`, newUuid: randomUUID(), diskMap: { vdb: target }, formats: { vdb: 'vmdk' } }),
    ).rejects.toMatchObject({ type: 'BadFormat' });
    expect(await fs.readdir(ROOT)).not.toContain('refused.img');
  });
});
