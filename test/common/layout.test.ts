import path from 'node:path';
import * as L from '../../common/layout';
import { backupFilePath, preRestorePath, restoreTmpPath } from '../../activities/host/restore';
import { volumePathFor } from '../../activities/host/vmDefinition';

const VM = '5f0c2d3e-8a41-4b7e-9c11-2a9d3f6e7b80';
const BACKUP = '0b7d4c1a-93e2-5f60-8d1b-7c2e4a9f1d35';
const PARENT = '9e3a1f7c-2b4d-5c8e-a6f0-1d2c3b4a5e6f';
const RESTORE = 'c41e8a2f-7d3b-4e19-b5a6-0f9d8c7b6a54';
const REPOS = ['/mnt/backflow/1a2b3c4d-0000-4000-8000-000000000001', '/root/.cache/backflow/test-repo-ab12cd34/', '/srv//repo'];
const DISKS = ['/var/lib/libvirt/images/vm-1.qcow2', '/root/.cache/backflow/vms/bf-test-1/disk-vdb.qcow2', '/data/./vols/../vols/x.img', '/x.qcow2'];

/** The layout gives exactly the strings the host activities and workflows build today. */
describe('the repository layout', () => {
  test('path helpers agree with node:path on the paths Backflow uses', () => {
    const odd = ['', '.', '/', '//', 'a', 'a/', 'a/b', '/a/b/', '/a//b', 'a/../..', '/a/../..', '../a/./b', '/a/b/../c/.'];
    for (const p of [...REPOS, ...DISKS, ...odd]) {
      expect([p, L.normalizePath(p)]).toEqual([p, path.posix.normalize(p)]);
      expect([p, L.dirName(p)]).toEqual([p, path.posix.dirname(p)]);
      expect([p, L.baseName(p)]).toEqual([p, path.posix.basename(p)]);
      expect([p, L.joinPath(p, 'x.qcow2')]).toEqual([p, path.posix.join(p, 'x.qcow2')]);
      if (p.startsWith('/')) expect([p, L.absolutePath(p)]).toEqual([p, path.resolve(p)]);
    }
    expect(L.joinPath('', '')).toBe(path.posix.join('', ''));
    expect(() => L.absolutePath('relative/disk.qcow2')).toThrow(/not an absolute path/);
  });

  test('backup folders, .partial folders, disk files and domain.xml, as repository.ts builds them', () => {
    for (const repo of REPOS) {
      const final = path.join(repo, VM, BACKUP);
      expect(L.vmDir(repo, VM)).toBe(path.join(repo, VM));
      expect(L.backupDir(repo, VM, BACKUP)).toBe(final);
      expect(L.partialDir(repo, VM, BACKUP)).toBe(`${final}.partial`);
      expect(L.backupDiskPath(repo, VM, BACKUP, 'vda')).toBe(path.join(final, 'vda.qcow2'));
      expect(L.domainXmlPath(repo, VM, BACKUP)).toBe(path.join(repo, VM, BACKUP, 'domain.xml'));
      // backup_disks.file: path.relative(repo, file) in commitBackupDir.
      expect(L.backupDiskFile(VM, BACKUP, 'vdb')).toBe(path.relative(repo, path.join(final, 'vdb.qcow2')));
      expect(L.repositoryFile(repo, L.backupDiskFile(VM, BACKUP, 'vdb'))).toBe(backupFilePath(repo, `${VM}/${BACKUP}/vdb.qcow2`));
    }
    expect(L.diskFileName('vdc')).toBe('vdc.qcow2');
  });

  test('an incremental backs onto its parent by a relative path that resolves to the parent', () => {
    const b = L.backingPath(PARENT, 'vda');
    expect(b).toBe(`../${PARENT}/vda.qcow2`);
    for (const repo of REPOS) {
      expect(path.resolve(L.backupDir(repo, VM, BACKUP), b)).toBe(path.resolve(L.backupDiskPath(repo, VM, PARENT, 'vda')));
    }
  });

  test('ids that are not one path segment are refused, so no name leaves its folder', () => {
    for (const bad of ['..', '.', 'a/b', '', '../../etc', 'x y']) {
      expect(() => L.backupDir('/repo', VM, bad)).toThrow(expect.objectContaining({ type: 'BadRestorePath' }));
      expect(() => L.restoreTmpPath('/v/disk.qcow2', bad)).toThrow(expect.objectContaining({ type: 'BadRestorePath' }));
    }
    expect(() => L.backingPath('../x', 'vda')).toThrow(expect.objectContaining({ type: 'BadRestorePath' }));
    expect(() => L.repositoryFile('/repo', '../etc/passwd')).toThrow(expect.objectContaining({ type: 'BadRestorePath' }));
    expect(() => L.repositoryFile('/repo', '/etc/passwd')).toThrow(expect.objectContaining({ type: 'BadRestorePath' }));
    // Same refusals as restore.ts's backupFilePath.
    expect(() => backupFilePath('/repo', '../etc/passwd')).toThrow(expect.objectContaining({ type: 'BadRestorePath' }));
  });

  test("restore copies and kept old volumes, as restore.ts names them", () => {
    for (const disk of DISKS) {
      expect(L.restoreTmpPath(disk, RESTORE)).toBe(restoreTmpPath(disk, RESTORE));
      expect(L.preRestorePath(disk, RESTORE)).toBe(preRestorePath(disk, RESTORE));
    }
    expect(L.restoreTmpPath('/var/lib/images/vm.qcow2', RESTORE)).toBe(`/var/lib/images/.vm.qcow2.restore-${RESTORE}`);
    expect(L.preRestorePath('/var/lib/images/vm.qcow2', RESTORE)).toBe(`/var/lib/images/vm.qcow2.pre-restore-${RESTORE}`);
  });

  test('new volumes: volumePathFor, and the names restoreVolume and createVmFromBackup build today', () => {
    for (const disk of DISKS) {
      const dir = path.dirname(disk);
      expect(L.volumePath({ dir, name: 'web-1', target: 'vdb' })).toBe(volumePathFor({ dir, name: 'web-1', target: 'vdb' }));
      expect(L.volumePath({ dir, name: 'web-1', target: 'vdb', suffix: 's' })).toBe(volumePathFor({ dir, name: 'web-1', target: 'vdb', suffix: 's' }));
      // The template strings below neither normalize a path nor handle a disk at the root ('//').
      if (disk !== path.posix.normalize(disk) || path.dirname(disk) === '/') continue;
      // workflows/restoreVolume.ts and createVmFromBackup.ts
      expect(L.restoredVolumePath({ diskPath: disk, vmName: 'web-1', restoreId: RESTORE, target: 'vdb' }))
        .toBe(`${path.posix.dirname(disk)}/web-1-restored-${RESTORE.slice(0, 8)}-vdb.qcow2`);
      expect(L.newVmDiskPath({ sourcePath: disk, vmName: 'copy-of-web', target: 'vda' })).toBe(`${path.posix.dirname(disk)}/copy-of-web-vda.qcow2`);
    }
    expect(L.newVmDiskPath({ sourcePath: '/x.qcow2', vmName: 'n', target: 'vda' })).toBe('/n-vda.qcow2');
    // A raw disk restores as raw, and its new file says so; any other format becomes qcow2.
    expect(L.newVmDiskPath({ sourcePath: '/v/x.img', vmName: 'n', target: 'vdb', format: 'raw' })).toBe('/v/n-vdb.raw');
    expect(L.restoredVolumePath({ diskPath: '/v/x.qcow2', vmName: 'n', restoreId: RESTORE, target: 'vdb', format: 'raw' }))
      .toBe(`/v/n-restored-${RESTORE.slice(0, 8)}-vdb.raw`);
    expect(L.restoredFormat('vmdk')).toBe('qcow2');
    expect(L.restoredFormat(null)).toBe('qcow2');
    expect(() => L.volumePath({ dir: '/v', name: '.hidden', target: 'vda' })).toThrow(expect.objectContaining({ type: 'BadRequest' }));
    expect(() => volumePathFor({ dir: '/v', name: '.hidden', target: 'vda' })).toThrow(expect.objectContaining({ type: 'BadRequest' }));
    expect(() => L.volumePath({ dir: '/v', name: 'a/b', target: 'vda' })).toThrow(expect.objectContaining({ type: 'BadRequest' }));
  });
});
