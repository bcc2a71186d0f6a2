import { repositoryFile } from '../../common/layout';
import { fail, Failure } from '../../common/failures';
import { exists } from './lib/files';
import { ALGORITHM, fileStamp, hashFile, sameStamp, type FileStamp } from './lib/hashing';

/**
 * Content hashes of a backup's own files (not its parents': each backup is hashed and re-hashed on its
 * own), through lib/hashing.ts. Files are named relative to the repository root, as the catalog has them.
 */

export interface BackupFiles { repoPath: string; files: { target: string; file: string }[] }
export interface HashedFile { target: string; file: string; hash: string; sizeBytes: number; stamp: FileStamp }

const pathOf = (repoPath: string, file: string) => repositoryFile(repoPath, file);

/** Hashes each file, heartbeating which one and how far; a missing file fails the job (CorruptBackup). */
export async function hashBackupFiles(input: BackupFiles): Promise<{ algorithm: string; files: HashedFile[] }> {
  const out: HashedFile[] = [];
  for (const [index, f] of input.files.entries()) {
    const p = pathOf(input.repoPath, f.file);
    if (!(await exists(p))) throw fail.nonRetryable(Failure.CorruptBackup, `backup file ${f.file} is missing`);
    const h = await hashFile(p, { progress: (done, size) => ({ disk: f.target, index, disks: input.files.length, done, size }) });
    out.push({ target: f.target, file: f.file, ...h });
  }
  return { algorithm: ALGORITHM, files: out };
}

/** Whether every file is still the one hashed (same stamp): a hash taken earlier then still holds for it. */
export async function filesUnchanged(input: { repoPath: string; files: { file: string; stamp: FileStamp }[] }): Promise<boolean> {
  for (const f of input.files) {
    const now = await fileStamp(pathOf(input.repoPath, f.file)).catch(() => null);
    if (!now || !sameStamp(now, f.stamp)) return false;
  }
  return true;
}
