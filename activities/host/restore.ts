import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fail, Failure } from '../../common/failures';
import { domainXmlPath, preRestorePath, repositoryFile, restoreTmpPath } from '../../common/layout';
import { restoreFormat, RestoreFormat, verifyBackupChain, writeFlatCopy } from './lib/backupChain';
import { exists, fsyncDir, isNotFound } from './lib/files';
import { parseDomainXml } from './lib/virt/domainXml';
import { defineDomain, domainExists } from './lib/virt/virsh';
import { putBackOldVolume, replaceVolume } from './lib/volumes';

/*
 * Plain restore: a backup's chain is flattened into a new standalone image beside the volume, checked,
 * and only then swapped in. The old volume stays as `<volume>.pre-restore-<restoreId>` until
 * finishRestore, so abortRestore can put it back. Every step can be run again after a crash.
 */

/** Kept for the tests that compare the layout with what the host builds (the same functions now). */
export { preRestorePath, restoreTmpPath, repositoryFile as backupFilePath };

/** The domain XML saved with a backup (`<repoPath>/<vmUuid>/<backupId>/domain.xml`). */
export async function readBackupDomainXml(input: { repoPath: string; vmUuid: string; backupId: string }): Promise<string> {
  const file = domainXmlPath(path.resolve(input.repoPath), input.vmUuid, input.backupId);
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    if (isNotFound(e)) throw fail.nonRetryable(Failure.CorruptBackup, `backup ${input.backupId}: its domain XML ${file} is missing`);
    throw e;
  }
}

/**
 * Writes the whole chain of a backup file into a new standalone image `<dir>/.<basename>.restore-<restoreId>`
 * beside the volume (which is not touched), in `format` (qcow2 unless told: a raw disk restores as raw).
 * Every file of the chain is checked first; a broken or missing one is refused (CorruptBackup) before
 * anything is written. Run again, it starts over.
 */
export async function flattenBackupDisk(input: {
  repoPath: string;
  file: string;
  targetPath: string;
  restoreId: string;
  format?: string;
}): Promise<{ tmpPath: string; virtualSize: number; format: RestoreFormat }> {
  const format = restoreFormat(input.format);
  const src = repositoryFile(path.resolve(input.repoPath), input.file);
  const targetPath = path.resolve(input.targetPath);
  const tmpPath = restoreTmpPath(targetPath, input.restoreId);
  await verifyBackupChain(src);
  const { virtualSize } = await writeFlatCopy(src, tmpPath, targetPath, format);
  return { tmpPath, virtualSize, format };
}

/**
 * Puts a flattened copy in place of the volume: the old volume is kept as `<targetPath>.pre-restore-<restoreId>`
 * (a hard link, so the volume path always names a complete disk), then the copy is renamed over it.
 * Already swapped (copy gone, old volume kept): nothing to do.
 */
export async function swapInRestoredDisk(input: { tmpPath: string; targetPath: string; restoreId: string }): Promise<{ swapped: true }> {
  const { restoreId } = input;
  const targetPath = path.resolve(input.targetPath);
  const tmp = restoreTmpPath(targetPath, restoreId);
  if (path.resolve(input.tmpPath) !== tmp) {
    throw fail.nonRetryable(Failure.BadRestorePath, `${input.tmpPath} is not the restore copy of ${targetPath} for restore ${restoreId}`);
  }
  if (!(await exists(tmp))) {
    if ((await exists(preRestorePath(targetPath, restoreId))) || (await exists(targetPath))) return { swapped: true };
    throw fail.nonRetryable(Failure.RestoreCopyMissing, `restore copy ${tmp} is missing and ${targetPath} does not exist`);
  }
  await replaceVolume(tmp, targetPath, restoreId);
  return { swapped: true };
}

/** The restore is complete: the old volumes (and any copy left behind) are deleted. */
export async function finishRestore(input: { targetPaths: string[]; restoreId: string }): Promise<{ removed: string[] }> {
  const removed: string[] = [];
  for (const t of input.targetPaths.map((p) => path.resolve(p))) {
    for (const f of [preRestorePath(t, input.restoreId), restoreTmpPath(t, input.restoreId)]) {
      if (await exists(f)) {
        await fs.rm(f, { force: true });
        removed.push(f);
      }
    }
    await fsyncDir(path.dirname(t)).catch(() => undefined);
  }
  return { removed };
}

/**
 * The restore failed: copies are removed and any volume already swapped gets its old disk back, so the
 * volumes are as they were. removeNew: the volumes are new files of this restore (a restored volume or a
 * new VM's disks): one with no old disk to put back is deleted.
 */
export async function abortRestore(input: { targetPaths: string[]; restoreId: string; removeNew?: boolean }): Promise<{ restored: string[]; removed: string[] }> {
  const restored: string[] = [];
  const removed: string[] = [];
  for (const t of input.targetPaths) {
    const r = await putBackOldVolume(path.resolve(t), input.restoreId, input.removeNew ?? false);
    if (r === 'restored') restored.push(t);
    if (r === 'removed') removed.push(t);
  }
  return { restored, removed };
}

/** A VM whose definition is gone (but whose backup we restore) is defined again from the backup's domain XML. */
export async function ensureDomainDefined(input: { uuid: string; xml: string }): Promise<{ defined: boolean }> {
  if (await domainExists(input.uuid)) return { defined: false };
  let parsed: ReturnType<typeof parseDomainXml>;
  try {
    parsed = parseDomainXml(input.xml);
  } catch (e) {
    throw fail.nonRetryable(Failure.CorruptBackup, `the backup's domain XML cannot be parsed: ${(e as Error).message}`);
  }
  if (parsed.uuid.toLowerCase() !== input.uuid.toLowerCase()) {
    throw fail.nonRetryable(Failure.CorruptBackup, `the backup's domain XML is for VM ${parsed.uuid}, not ${input.uuid}`);
  }
  await defineDomain(input.xml, `cannot redefine VM ${parsed.name} (${input.uuid})`);
  return { defined: true };
}
