import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fail, Failure } from '../../common/failures';
import { restoreTmpPath } from '../../common/layout';
import type { NewVmClaim } from '../../common/schemas/restores';
import { exists, fsyncDir, isNotFound, sameFile } from './lib/files';
import { domainExists } from './lib/virt/virsh';

/*
 * New volumes of a new VM (createVMFromBackup): each path is claimed by creating it exclusively (O_EXCL,
 * so an existing file or symlink, whoever's, is never opened, moved or replaced), holding a marker of the
 * restore. The flattened copy then takes the claim's place with link(2), which never replaces either.
 * Nothing is ever renamed aside, so no `.pre-restore-*` file exists for a new VM.
 */

const marker = (restoreId: string) => `backflow new volume claimed by restore ${restoreId}\n`;

/** Whether `file` is the claim marker of this restore (a retried claim finds its own file). */
async function isOurClaim(file: string, restoreId: string): Promise<boolean> {
  const want = Buffer.from(marker(restoreId));
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return false;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size !== want.length) return false;
    const buf = Buffer.alloc(want.length);
    await fh.read(buf, 0, want.length, 0);
    return buf.equals(want);
  } finally {
    await fh.close();
  }
}

/** Creates `file` exclusively with this restore's marker: 'claimed', or 'taken' when anything is there. */
async function claimFile(file: string, restoreId: string): Promise<'claimed' | 'taken'> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  try {
    // 0644 as qemu-img creates files; the copy placed here later takes this mode.
    await fs.writeFile(file, marker(restoreId), { flag: 'wx', mode: 0o644 });
    return 'claimed';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return (await isOurClaim(file, restoreId)) ? 'claimed' : 'taken';
  }
}

/**
 * Claims a new VM's name (if given) and disk paths on this host. Refused (nothing left behind) when libvirt already
 * has a domain of that name or any path exists. Run again for the same restore, it finds its own claims.
 */
export async function claimNewVolumes(input: { vmName?: string; paths: string[]; restoreId: string }): Promise<NewVmClaim> {
  const paths = input.paths.map((p) => path.resolve(p));
  if (new Set(paths).size !== paths.length) throw fail.nonRetryable(Failure.BadRestorePath, `two disks of the new VM would share a file`);
  if (input.vmName && (await domainExists(input.vmName))) return { claimed: false, taken: `domain ${input.vmName}` };
  const mine: string[] = [];
  for (const p of paths) {
    if ((await claimFile(p, input.restoreId)) === 'taken') {
      for (const m of mine) await fs.rm(m, { force: true });
      return { claimed: false, taken: p };
    }
    mine.push(p);
  }
  for (const d of new Set(paths.map((p) => path.dirname(p)))) await fsyncDir(d);
  return { claimed: true };
}

/**
 * Puts the flattened copy (`restoreTmpPath`) at its claimed path: the claim marker goes, and the copy is
 * hard-linked in its place (link never replaces a file). Already placed (copy gone, path holds the
 * disk): nothing to do.
 */
export async function placeNewVolume(input: { tmpPath: string; targetPath: string; restoreId: string }): Promise<{ placed: true }> {
  const target = path.resolve(input.targetPath);
  const tmp = restoreTmpPath(target, input.restoreId);
  if (path.resolve(input.tmpPath) !== tmp) {
    throw fail.nonRetryable(Failure.BadRestorePath, `${input.tmpPath} is not the restore copy of ${target} for restore ${input.restoreId}`);
  }
  if (!(await exists(tmp))) {
    if ((await exists(target)) && !(await isOurClaim(target, input.restoreId))) return { placed: true };
    throw fail.nonRetryable(Failure.RestoreCopyMissing, `restore copy ${tmp} is missing`);
  }
  if (await isOurClaim(target, input.restoreId)) await fs.rm(target);
  try {
    await fs.link(tmp, target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !(await sameFile(tmp, target))) {
      throw fail.nonRetryable(Failure.PathTaken, `cannot place the new volume ${target}: ${(e as Error).message}`);
    }
  }
  await fs.rm(tmp, { force: true });
  await fsyncDir(path.dirname(target));
  return { placed: true };
}

/**
 * The new VM was not created: its copies and its claimed paths (claim markers or placed disks) go.
 * Only called by a restore that claimed every one of these paths.
 */
export async function releaseNewVolumes(input: { paths: string[]; restoreId: string }): Promise<{ removed: string[] }> {
  const removed: string[] = [];
  for (const p of input.paths.map((x) => path.resolve(x))) {
    await fs.rm(restoreTmpPath(p, input.restoreId), { force: true });
    if (await exists(p)) {
      await fs.rm(p, { force: true });
      removed.push(p);
    }
    await fsyncDir(path.dirname(p)).catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
  }
  return { removed };
}
