import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { mountRepository } from '../../activities/host/mount';
import { backupVia, enrol, qemuImgCompare } from '../helpers/backups';
import { CACHE } from '../helpers/paths';
import { Stack, startStack } from '../helpers/stack';
import { createTestVm, destroyTestVm, guestWrite, TestVm, virsh } from '../helpers/vm';

const MiB = 1024 * 1024;
const exec = promisify(execFile);

async function zoneOf(s: Stack): Promise<string> {
  return (await s.pool.query(`SELECT zone_id FROM hosts WHERE id = $1`, [s.facts.id])).rows[0].zone_id;
}

/** Issue 9 item 7: local repositories only inside the configured roots, symlinks resolved, on the API and on the host. */
describe('local repositories are confined to the repository roots', () => {
  let s: Stack;
  let zoneId: string;
  const base = path.join(CACHE, `roots-test-${randomBytes(4).toString('hex')}`);
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  let savedRoots: string | undefined;

  beforeAll(async () => {
    mkdirSync(root, { recursive: true });
    mkdirSync(outside, { recursive: true });
    savedRoots = process.env.BACKFLOW_REPOSITORY_ROOTS;
    process.env.BACKFLOW_REPOSITORY_ROOTS = root;
    s = await startStack();
    zoneId = await zoneOf(s);
  });
  afterAll(async () => {
    if (savedRoots === undefined) delete process.env.BACKFLOW_REPOSITORY_ROOTS;
    else process.env.BACKFLOW_REPOSITORY_ROOTS = savedRoots;
    await s?.stop();
    rmSync(base, { recursive: true, force: true });
  });

  const add = (address: string) =>
    s.api('POST', '/v1/backup-repositories', { body: { name: `r-${randomBytes(3).toString('hex')}`, zoneId, type: 'local', address } });
  const count = async () => (await s.pool.query(`SELECT count(*)::int AS n FROM backup_repositories`)).rows[0].n;

  test('system folders, a path outside the roots and a symlink leading out are refused with 400 naming body.address; nothing is created', async () => {
    symlinkSync('/etc', path.join(root, 'to-etc'));
    symlinkSync(outside, path.join(root, 'to-outside'));
    const before = await count();
    for (const address of ['/etc', '/root/.ssh', '/proc/self', '/etc/backflow-x', path.join(outside, 'repo'), path.join(root, 'to-etc'),
      path.join(root, 'to-etc', 'repo'), path.join(root, 'to-outside', 'repo'), root]) {
      const r = await add(address);
      expect({ address, status: r.status, field: r.body?.error?.field }).toEqual({ address, status: 400, field: 'body.address' });
      expect(r.body.error.message).toMatch(/^body\.address: .*repository root/);
    }
    expect(await count()).toBe(before);
    expect(existsSync('/etc/backflow-x')).toBe(false);
    expect(existsSync(path.join(outside, 'repo'))).toBe(false);
  });

  test('a folder inside a root is accepted; moving it out by update is refused and changes nothing', async () => {
    const good = await add(path.join(root, 'repo-a'));
    expect(good.status).toBe(201);
    for (const address of ['/etc', path.join(root, 'to-etc', 'x')]) {
      const r = await s.api('PATCH', `/v1/backup-repositories/${good.body.id}`, { body: { address } });
      expect({ status: r.status, field: r.body.error?.field }).toEqual({ status: 400, field: 'body.address' });
    }
    expect((await s.api('GET', `/v1/backup-repositories/${good.body.id}`)).body.address).toBe(path.join(root, 'repo-a'));
    const moved = await s.api('PATCH', `/v1/backup-repositories/${good.body.id}`, { body: { address: path.join(root, 'repo-b') } });
    expect(moved.status).toBe(200);
  });

  test('the host checks against its own roots too: it refuses and creates nothing, whatever the catalog holds', async () => {
    const id = randomUUID();
    const inEtc = [`/etc/backflow-test-${id}`, `/etc/backflow-test-${id}-via-link`];
    try {
      for (const address of [inEtc[0], path.join(outside, 'host-repo'), path.join(root, 'to-etc', path.basename(inEtc[1]))]) {
        await expect(mountRepository({ id, type: 'local', address, mountOptions: '' })).rejects.toMatchObject({
          type: 'RepositoryOutsideRoots', nonRetryable: true, message: expect.stringMatching(/repository root/),
        });
      }
      for (const p of [...inEtc, path.join(outside, 'host-repo')]) expect({ p, exists: existsSync(p) }).toEqual({ p, exists: false });
    } finally {
      // Code that fails this test (today's main) creates them: never leave them in /etc.
      for (const p of inEtc) rmSync(p, { recursive: true, force: true });
    }
    // A repository the API accepted under other roots is refused by a host whose roots differ.
    const inside = path.join(root, 'host-ok');
    expect(await mountRepository({ id, type: 'local', address: inside, mountOptions: '' })).toEqual({ path: inside });
    process.env.BACKFLOW_REPOSITORY_ROOTS = outside;
    try {
      await expect(mountRepository({ id, type: 'local', address: path.join(root, 'host-other'), mountOptions: '' })).rejects.toMatchObject({
        type: 'RepositoryOutsideRoots',
      });
      expect(existsSync(path.join(root, 'host-other'))).toBe(false);
    } finally {
      process.env.BACKFLOW_REPOSITORY_ROOTS = root;
    }
  });
});

/**
 * Issue 9 item 14: a repository mounted (a tmpfs, as a stand-in) after the VM started. This host's `/`
 * is a private mount, so a QEMU in libvirt's mount namespace never sees later mounts, unless the host
 * worker made the repository root a shared mount before the VM started. The host worker here is the
 * real process, which does that at start; a VM started before it gets an early, explaining error.
 */
describe('a repository mounted after the VM started', () => {
  let s: Stack;
  const root = path.join(CACHE, `late-root-${randomBytes(4).toString('hex')}`);
  const late = path.join(root, 'late');
  const vms: TestVm[] = [];
  let before: TestVm;

  const umount = (p: string) => exec('umount', [p]).catch(() => undefined);
  const isMountPoint = async (p: string) => (await exec('findmnt', ['-n', '-o', 'TARGET', '--mountpoint', p]).catch(() => ({ stdout: '' }))).stdout.trim() === p;

  beforeAll(async () => {
    mkdirSync(root, { recursive: true });
    // Started before any host worker shared the root: its QEMU has a private copy of the host's mounts.
    before = await createTestVm({ os: false, diskSizeMiB: 32 });
    vms.push(before);
    s = await startStack({
      hostWorker: 'process',
      hostWorkerEnv: { BACKFLOW_REPOSITORY_ROOTS: root, BACKFLOW_SHARE_REPOSITORY_ROOTS: 'true', BACKFLOW_MOUNT_ROOT: path.join(root, 'mnt') },
    });
  });
  afterAll(async () => {
    for (const vm of vms) await destroyTestVm(vm).catch(() => undefined);
    await s?.stop();
    await umount(late);
    await umount(path.join(root, 'mnt'));
    await umount(root);
    if (!(await isMountPoint(root))) rmSync(root, { recursive: true, force: true });
  });

  test('a VM started after the host worker backs up to it byte for byte; one started before fails early, naming cause and fix', async () => {
    expect(await isMountPoint(root)).toBe(true); // the host worker bound the root onto itself and made it shared
    const after = await createTestVm({ os: false, diskSizeMiB: 32 });
    vms.push(after);
    await guestWrite(after, 0, 8 * MiB, 0x5c);
    await guestWrite(before, 0, 8 * MiB, 0x5d);

    // Now the repository's file system appears, after both VMs started.
    mkdirSync(late, { recursive: true });
    await exec('mount', ['-t', 'tmpfs', '-o', 'size=256m', 'tmpfs', late]);
    const zoneId = await zoneOf(s);
    await s.api('PUT', '/v1/settings/backup.framework.enabled', { body: { scope: 'zone', scopeId: zoneId, value: true } });
    await s.api('PUT', '/v1/settings/backup.framework.provider.plugin', { body: { scope: 'zone', scopeId: zoneId, value: 'kboss' } });
    const repo = (await s.api('POST', '/v1/backup-repositories', { body: { name: 'late-tmpfs', zoneId, type: 'local', address: path.join(late, 'repo') } })).body;
    const off = (await s.api('POST', '/v1/backup-offerings', { body: { name: 'kboss-late', zoneId, repositoryId: repo.id } })).body;
    for (const vm of vms) await enrol(s, vm.uuid, off.id);

    await virsh(['suspend', after.name]);
    const refAfter = path.join(after.dir, 'ref.qcow2');
    await exec('qemu-img', ['convert', '-U', '-O', 'qcow2', after.diskPath, refAfter]);
    const ok = await backupVia(s, { vmId: after.uuid });
    await virsh(['resume', after.name]);
    expect(ok).toMatchObject({ status: 'BackedUp', type: 'FULL', error: null });
    const backupFile = path.join(repo.address, ok.disks[0].file);
    expect(backupFile.startsWith(late + '/')).toBe(true);
    expect((await qemuImgCompare(refAfter, backupFile)).identical).toBe(true);

    const failed = await backupVia(s, { vmId: before.uuid });
    expect(failed.status).toBe('Failed');
    expect(failed.error).toMatch(/not visible to the QEMU process .* mounted after the VM started/);
    expect(failed.error).toMatch(/Fix: .*restart this VM/);
    expect(failed.error).toMatch(/namespaces = \[\]/);
    // Early: no job ran, no folder is left, the guest runs on.
    expect(existsSync(path.join(repo.address, before.uuid)) ? readdirSync(path.join(repo.address, before.uuid)) : []).toEqual([]);
    expect((await virsh(['domstate', before.name])).trim()).toBe('running');
    expect((await virsh(['domjobinfo', before.name])).trim()).toMatch(/Job type:\s+None/);
  });
});
