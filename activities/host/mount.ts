import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from './exec';
import { config } from '../../common/config';
import { fail, Failure } from '../../common/failures';
import { confineToRoots } from '../../common/repositoryRoots';
import { validateMountOptions } from '../../common/schemas/mountOptions';
import { RepositoryType, validateRepositoryAddress, type RepositoryTypeName } from '../../common/schemas/repositories';

/**
 * Backup repositories on a host. A local repository is a directory of the host; a remote one (nfs, cifs,
 * cephfs) is mounted with mount(8), run without a shell, at <mount root>/<repository id>. The options and
 * address were checked when the repository was saved; they are checked again here before reaching mount.
 */

export interface RepositoryMount { id: string; type: RepositoryTypeName; address: string; mountOptions: string }

const FS_TYPE = { nfs: 'nfs', cifs: 'cifs', cephfs: 'ceph' } as const;
/** Always added: nothing on a repository runs, acts as a device or gains privileges on the host. */
const HARDENING = ['nosuid', 'nodev', 'noexec'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const mountRoot = () => path.resolve(config.mountRoot);
export const mountPointOf = (id: string) => path.join(mountRoot(), id);

/** Operations of this worker process currently using each mounted repository. */
const holders = new Map<string, number>();

/** shared: in a peer group, so mounts made under it propagate to its copies in other mount namespaces. */
export interface MountEntry { mountPoint: string; fsType: string; source: string; shared: boolean }

/** The kernel's mount table for this process, with mountinfo's octal escapes (\040 for a space...) decoded. */
export async function readMounts(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [pre, post] = line.split(' - ');
    const f = pre.split(' ');
    const g = (post ?? '').split(' ');
    out.push({ mountPoint: unescape(f[4]), fsType: g[0], source: unescape(g[1] ?? ''), shared: f.slice(6).some((o) => o.startsWith('shared:')) });
  }
  return out;
}

/** The last (topmost) mount at exactly this path, if any. */
async function mountedAt(target: string): Promise<MountEntry | undefined> {
  return (await readMounts()).filter((m) => m.mountPoint === target).pop();
}

function checkInput(repo: RepositoryMount) {
  if (!UUID.test(repo.id)) throw fail.nonRetryable(Failure.InvalidRepository, `repository id ${JSON.stringify(repo.id)} is not a UUID`);
  if (!RepositoryType.safeParse(repo.type).success) throw fail.nonRetryable(Failure.InvalidRepository, `unknown repository type ${repo.type}`);
  const badAddress = validateRepositoryAddress(repo.type, repo.address);
  if (badAddress) throw fail.nonRetryable(Failure.InvalidRepository, `repository address ${JSON.stringify(repo.address)}: ${badAddress}`);
  const badOptions = validateMountOptions(repo.mountOptions ?? '');
  if (badOptions) throw fail.nonRetryable(Failure.InvalidMountOptions, `repository mount options: ${badOptions}`);
}

/** The options passed to mount: the repository's, with the hardening flags added unless already there. */
export function effectiveMountOptions(mountOptions: string): string {
  const given = mountOptions ? mountOptions.split(',') : [];
  const keys = new Set(given.map((o) => o.split('=')[0]));
  return [...given, ...HARDENING.filter((h) => !keys.has(h))].join(',');
}

/**
 * Makes the repository usable on this host and returns its path. local: creates the directory if needed.
 * Remote: mounts it at <mount root>/<id> unless it is mounted there already; a different file system
 * mounted at that point is an error (never mounted over).
 */
export async function mountRepository(repo: RepositoryMount): Promise<{ path: string }> {
  checkInput(repo);
  if (repo.type === 'local') return { path: await localRepository(repo.address) };
  const target = mountPointOf(repo.id);
  const current = await mountedAt(target);
  if (current) {
    // The kernel may rewrite a ceph source (fsid, client name), so only nfs and cifs sources are compared.
    if (repo.type !== 'cephfs' && current.source !== repo.address) {
      throw fail.nonRetryable(Failure.MountPointBusy, `${target} has ${current.source} (${current.fsType}) mounted, not ${repo.address}: unmount it first`);
    }
  } else {
    await mkdir(target, { recursive: true, mode: 0o750 });
    const opts = effectiveMountOptions(repo.mountOptions ?? '');
    // `--` ends mount's options: the address and the target are never read as options.
    await run('mount', ['-t', FS_TYPE[repo.type], '-o', opts, '--', repo.address, target], { timeoutMs: 120_000 });
  }
  holders.set(repo.id, (holders.get(repo.id) ?? 0) + 1);
  return { path: target };
}

/**
 * A local repository's folder, created if missing, only inside this host's repository roots: checked
 * before it is created, and again after (a symlink swapped in meanwhile does not lead it elsewhere).
 */
async function localRepository(address: string): Promise<string> {
  const refuse = (why: string) => fail.nonRetryable(Failure.RepositoryOutsideRoots, `local repository ${JSON.stringify(address)}: ${why}`);
  const before = await confineToRoots(address, config.repositoryRoots);
  if ('error' in before) throw refuse(before.error);
  await mkdir(before.path, { recursive: true, mode: 0o750 });
  const after = await confineToRoots(before.path, config.repositoryRoots);
  if ('error' in after) throw refuse(after.error);
  return after.path;
}

/**
 * Releases the repository for one operation of this worker; unmounts it when it is mounted and nothing
 * else holds it: no other operation of this worker, and no open file (umount refuses with EBUSY then).
 */
export async function unmountRepository(input: { id: string }): Promise<{ unmounted: boolean; reason?: string }> {
  if (!UUID.test(input.id)) throw fail.nonRetryable(Failure.InvalidRepository, `repository id ${JSON.stringify(input.id)} is not a UUID`);
  const left = Math.max(0, (holders.get(input.id) ?? 0) - 1);
  if (left > 0) {
    holders.set(input.id, left);
    return { unmounted: false, reason: `in use by ${left} other operation(s) on this host` };
  }
  holders.delete(input.id);
  const target = mountPointOf(input.id);
  if (!(await mountedAt(target))) return { unmounted: false, reason: 'not mounted' };
  try {
    await run('umount', ['--', target], { timeoutMs: 120_000 });
  } catch (e) {
    const msg = (e as Error).message;
    if (/busy/i.test(msg)) return { unmounted: false, reason: 'busy: files on it are open' };
    throw e;
  }
  return { unmounted: true };
}
