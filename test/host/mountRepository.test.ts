import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mountRepository, readMounts, unmountRepository } from '../../activities/host/mount';
import '../helpers/paths'; // repository roots for tests: the cache and the temp folder

/** Issue 3: the host worker mounts repositories (local ones are directories) on this machine, checking options again. */
describe('host activities: mountRepository / unmountRepository', () => {
  const exec = promisify(execFile);
  let tmp: string;
  let root: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'bf-mount-'));
    root = path.join(tmp, 'mnt');
    process.env.BACKFLOW_MOUNT_ROOT = root;
  });
  afterAll(async () => {
    delete process.env.BACKFLOW_MOUNT_ROOT;
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  test('a local repository is a directory of the host: created if missing, idempotent', async () => {
    const id = randomUUID();
    const dir = path.join(tmp, 'local-repo', 'nested');
    expect(await mountRepository({ id, type: 'local', address: dir, mountOptions: '' })).toEqual({ path: dir });
    expect((await stat(dir)).isDirectory()).toBe(true);
    expect(await mountRepository({ id, type: 'local', address: dir, mountOptions: '' })).toEqual({ path: dir });
    expect(await unmountRepository({ id })).toEqual({ unmounted: false, reason: expect.stringMatching(/in use|not mounted/) });
    expect(await unmountRepository({ id })).toEqual({ unmounted: false, reason: 'not mounted' });
  });

  test('options and addresses are checked again before mount(8) is run', async () => {
    const id = randomUUID();
    await expect(mountRepository({ id, type: 'nfs', address: '127.0.0.1:/export', mountOptions: 'rw,exec' })).rejects.toMatchObject({
      type: 'InvalidMountOptions', nonRetryable: true,
    });
    await expect(mountRepository({ id, type: 'nfs', address: '127.0.0.1:/export', mountOptions: 'rw;reboot' })).rejects.toMatchObject({ type: 'InvalidMountOptions' });
    await expect(mountRepository({ id, type: 'cifs', address: '-oexec', mountOptions: '' })).rejects.toMatchObject({ type: 'InvalidRepository' });
    await expect(mountRepository({ id: '../../etc', type: 'nfs', address: '127.0.0.1:/export', mountOptions: '' })).rejects.toMatchObject({ type: 'InvalidRepository' });
    await expect(mountRepository({ id, type: 'local', address: '/tmp/../etc', mountOptions: '' })).rejects.toMatchObject({ type: 'InvalidRepository' });
    // Nothing was mounted or created for it.
    expect((await readMounts()).some((m) => m.mountPoint.startsWith(root))).toBe(false);
  });

  test('a repository already mounted at its mount point is reused, and unmounted when the last holder lets go', async () => {
    const id = randomUUID();
    const target = path.join(root, id);
    const address = '127.0.0.1:/export/backups';
    // Stand-in for the NFS mount (no NFS server here): a tmpfs whose source reads like the repository's address.
    try {
      await exec('mkdir', ['-p', target]);
      await exec('mount', ['-t', 'tmpfs', '-o', 'size=1m', '--', address, target]);
    } catch (e) {
      console.warn(`skipped: cannot mount a tmpfs here (${(e as Error).message})`);
      return;
    }
    try {
      const repoRef = { id, type: 'nfs' as const, address, mountOptions: 'vers=4.1' };
      expect(await mountRepository(repoRef)).toEqual({ path: target });
      expect(await mountRepository(repoRef)).toEqual({ path: target });
      // Another address at that mount point is never mounted over.
      await expect(mountRepository({ ...repoRef, address: '127.0.0.2:/other' })).rejects.toMatchObject({ type: 'MountPointBusy' });
      expect(await unmountRepository({ id })).toEqual({ unmounted: false, reason: 'in use by 1 other operation(s) on this host' });
      expect((await readMounts()).some((m) => m.mountPoint === target)).toBe(true);
      expect(await unmountRepository({ id })).toEqual({ unmounted: true });
      expect((await readMounts()).some((m) => m.mountPoint === target)).toBe(false);
    } finally {
      await exec('umount', [target]).catch(() => undefined);
    }
  });
});
