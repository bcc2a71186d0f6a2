import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fail, Failure } from '../../../common/failures';
import { run } from '../exec';
import { readMounts } from '../mount';

/*
 * libvirt starts each QEMU in its own mount namespace, a copy of the host's mounts taken when the VM
 * starts. Where the host's mounts are private (`/` is not a shared mount: many containers, this test
 * machine), a file system mounted later (a repository) never appears in it, and QEMU writing a backup
 * there fails with "No such file or directory". Two remedies: the host worker makes its repository
 * roots shared mounts at start, so VMs started after that see what is mounted under them later; and
 * before a backup job starts, the folder is checked from inside QEMU's namespace (/proc/<pid>/root),
 * so a VM that cannot see it fails early with the cause and the fix.
 */

/**
 * Makes each root (created if missing) a shared mount: bound onto itself if it is not a mount point,
 * then made recursively shared. Already shared (e.g. systemd hosts, where `/` is shared): left alone.
 */
export async function shareMountRoots(roots: string[]): Promise<{ shared: string[]; already: string[] }> {
  const shared: string[] = [];
  const already: string[] = [];
  for (const root of roots) {
    await mkdir(root, { recursive: true, mode: 0o750 });
    const real = path.resolve(root);
    if (await propagatesBelow(real)) {
      already.push(real);
      continue;
    }
    if (!(await mountAt(real))) await run('mount', ['--bind', '--', real, real]);
    await run('mount', ['--make-rshared', '--', real]);
    shared.push(real);
  }
  return { shared, already };
}

async function mountAt(dir: string) {
  return (await readMounts()).filter((m) => m.mountPoint === dir).pop();
}

/** Whether mounts made below dir propagate: the mount that holds dir is shared. */
async function propagatesBelow(dir: string): Promise<boolean> {
  const mounts = await readMounts();
  let holder: (typeof mounts)[number] | undefined;
  for (const m of mounts) {
    const inside = dir === m.mountPoint || dir.startsWith(m.mountPoint === '/' ? '/' : m.mountPoint + '/');
    if (inside && (!holder || m.mountPoint.length >= holder.mountPoint.length)) holder = m;
  }
  return !!holder?.shared;
}

/** The pid of the QEMU running this domain (its command line carries `-uuid <uuid>`), if any. */
export async function qemuPidOf(uuid: string): Promise<number | undefined> {
  const want = uuid.toLowerCase();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const i = args.indexOf('-uuid');
    if (i >= 0 && args[i + 1]?.toLowerCase() === want && /qemu/.test(path.basename(args[0]))) return Number(entry);
  }
  return undefined;
}

/**
 * Fails (non-retryable, RepositoryNotVisibleToVm) when the running domain's QEMU does not see `dir` as
 * the host does. Nothing to check when the domain has no QEMU process, or /proc does not let us look.
 */
export async function assertVisibleToQemu(input: { domain: string; dir: string }): Promise<void> {
  const pid = await qemuPidOf(input.domain);
  if (!pid) return;
  const host = await stat(input.dir);
  let seen: { dev: number; ino: number } | null;
  try {
    seen = await stat(path.join(`/proc/${pid}/root`, input.dir));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') return;
    seen = null;
  }
  if (seen && seen.dev === host.dev && seen.ino === host.ino) return;
  throw fail.nonRetryable(
    Failure.RepositoryNotVisibleToVm,
    `the backup folder ${input.dir} is not visible to the QEMU process (pid ${pid}) of VM ${input.domain}: ` +
      `its file system was mounted after the VM started, and libvirt runs each QEMU in its own mount namespace, ` +
      `which does not receive later mounts because the mount holding ${input.dir} is not shared on this host. ` +
      `Fix: mount repositories inside a repository root (BACKFLOW_REPOSITORY_ROOTS), which the host worker makes a shared mount ` +
      `at start, and restart this VM once so its QEMU starts after that; or mount the repository before starting the VM; ` +
      `or set namespaces = [] in /etc/libvirt/qemu.conf and restart libvirtd and the VM.`,
  );
}
