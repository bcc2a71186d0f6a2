import { promises as fs } from 'node:fs';
import { fail, Failure } from '../../../common/failures';
import { absolutePath, dirName, preRestorePath, restoreTmpPath } from '../../../common/layout';
import { CommandError } from '../exec';
import { copyOwnership, exists, fsyncDir, renameDurably, sameFile } from './files';
import * as qemuImg from './qemuImg';

/*
 * Replacing a volume so that a crash at any point leaves a complete disk at its path: the old volume is
 * kept as `<volume>.pre-restore-<restoreId>` until the restore finishes, and put back if it fails.
 */

/**
 * Keeps the current volume as `pre` before it is replaced: a hard link (the volume path keeps naming
 * the old disk until the new one is renamed over it), or a rename where hard links are not supported.
 * Nothing to do if there is no volume or it is already kept.
 */
export async function keepOldVolume(targetPath: string, pre: string): Promise<void> {
  if (!(await exists(targetPath)) || (await exists(pre))) return;
  try {
    await fs.link(targetPath, pre);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw e;
    await fs.rename(targetPath, pre);
  }
  await fsyncDir(dirName(absolutePath(targetPath)));
}

/** The old volume kept, then the copy (owned like the old volume) renamed over the volume's path. */
export async function replaceVolume(tmp: string, targetPath: string, restoreId: string): Promise<void> {
  const pre = preRestorePath(targetPath, restoreId);
  await keepOldVolume(targetPath, pre);
  await copyOwnership((await exists(pre)) ? pre : targetPath, tmp);
  await renameDurably(tmp, targetPath);
}

/** Refuses to touch a volume some process (a running QEMU) holds open for writing. */
export async function assertNotInUse(file: string): Promise<void> {
  if (!(await exists(file))) return;
  try {
    // Only the lock matters, whatever the file's format: the qcow2 driver asks that nobody else writes,
    // so it meets a running QEMU's lock (raw or qcow2 file alike) before it reads any header.
    await qemuImg.info(file, 'qcow2', { shared: false });
  } catch (e) {
    if (e instanceof CommandError && /lock/i.test(e.stderr)) {
      throw fail.nonRetryable(Failure.DiskInUse, `${file} is in use (${e.stderr.trim()}): the VM must be stopped`);
    }
    // An unreadable file is not in use; whoever replaces it does not need to read it.
  }
}

/**
 * Removes the copy of a volume and, if the volume was swapped, puts its old disk back. With removeNew a
 * volume that had no old disk is deleted. Returns what happened.
 */
export async function putBackOldVolume(targetPath: string, restoreId: string, removeNew: boolean): Promise<'restored' | 'removed' | 'untouched'> {
  const tmp = restoreTmpPath(targetPath, restoreId);
  const pre = preRestorePath(targetPath, restoreId);
  await fs.rm(tmp, { force: true });
  let result: 'restored' | 'removed' | 'untouched' = 'untouched';
  if (await exists(pre)) {
    if (await sameFile(pre, targetPath)) {
      // Crashed between keeping the old volume and swapping: the volume still is the old disk.
      await fs.rm(pre, { force: true });
    } else {
      await assertNotInUse(targetPath);
      await fs.rename(pre, targetPath);
      result = 'restored';
    }
  } else if (removeNew && (await exists(targetPath))) {
    await assertNotInUse(targetPath);
    await fs.rm(targetPath, { force: true });
    result = 'removed';
  }
  await fsyncDir(dirName(absolutePath(targetPath))).catch(() => undefined);
  return result;
}
