import { promises as fs } from 'node:fs';
import { fail, Failure } from '../../../common/failures';
import { dirName } from '../../../common/layout';
import { CommandError } from '../exec';
import { heartbeat, throwIfCancelled } from '../heartbeat';
import { copyOwnership, exists, fsyncDir, fsyncFile } from './files';
import * as qemuImg from './qemuImg';

/*
 * Reading a backup for a restore: its chain (the backup and its parents, linked by relative qcow2
 * backing paths) checked, and flattened into one standalone image.
 */

export type RestoreFormat = 'qcow2' | 'raw';

/** The format a restored disk is written in; only what QEMU opens as a plain disk image (qcow2 unless told). */
export function restoreFormat(format: string | undefined): RestoreFormat {
  if (format === undefined || format === 'qcow2') return 'qcow2';
  if (format === 'raw') return 'raw';
  throw fail.nonRetryable(Failure.BadFormat, `cannot restore a disk as ${JSON.stringify(format)}: qcow2 or raw`);
}

/**
 * Every file of a backup's chain exists, opens, and passes qemu-img check; otherwise a non-retryable
 * CorruptBackup naming the file. Returns the chain (top first).
 */
export async function verifyBackupChain(src: string): Promise<qemuImg.ImageInfo[]> {
  if (!(await exists(src))) throw fail.nonRetryable(Failure.CorruptBackup, `backup file ${src} is missing`);
  let chain: qemuImg.ImageInfo[];
  try {
    chain = await qemuImg.chain(src, 'qcow2');
  } catch (e) {
    if (e instanceof CommandError) throw fail.nonRetryable(Failure.CorruptBackup, `backup chain of ${src} is broken: ${e.stderr.trim()}`);
    throw e;
  }
  for (const [i, img] of chain.entries()) {
    if (img['format-specific']?.data?.corrupt) throw fail.nonRetryable(Failure.CorruptBackup, `backup file ${img.filename} is marked corrupt`);
    if (img['backing-filename'] && i === chain.length - 1) {
      throw fail.nonRetryable(Failure.CorruptBackup, `backing file ${img['backing-filename']} of ${img.filename} is missing`);
    }
  }
  // The files are independent: checked four at a time (a quick restore waits on this), reported in chain order.
  for (let i = 0; i < chain.length; i += 4) {
    const batch = chain.slice(i, i + 4);
    heartbeat({ phase: 'checking', file: batch[0].filename });
    throwIfCancelled();
    const problems = await Promise.all(batch.map((img) => qemuImg.check(img.filename, img.format, { heartbeat: { phase: 'checking', file: img.filename } })));
    const bad = problems.findIndex(Boolean);
    if (bad >= 0) throw fail.nonRetryable(Failure.CorruptBackup, `backup file ${batch[bad].filename} fails qemu-img check: ${problems[bad]}`);
  }
  return chain;
}

/**
 * The (checked) backup chain at src flattened into tmpPath in `format`, fsynced, checked, owned like
 * targetPath. Removed again if anything fails.
 */
export async function writeFlatCopy(src: string, tmpPath: string, targetPath: string, format: RestoreFormat): Promise<{ virtualSize: number }> {
  await fs.mkdir(dirName(tmpPath), { recursive: true });
  await fs.rm(tmpPath, { force: true });
  try {
    // The repository file must not be changing under us (a running quick-restored VM only reads it).
    await qemuImg.convert({ src, srcFormat: 'qcow2', dst: tmpPath, dstFormat: format, fast: true, progress: (percent) => ({ phase: 'copying', percent }) });
    await fsyncFile(tmpPath);
    heartbeat({ phase: 'checking', percent: 100 });
    const problem = await qemuImg.check(tmpPath, format, { heartbeat: { phase: 'checking', file: tmpPath } });
    if (problem) throw fail.retryable(Failure.RestoreCheckFailed, `restored copy ${tmpPath} fails qemu-img check: ${problem}`);
    const info = await qemuImg.info(tmpPath, format);
    if (info['backing-filename']) throw new Error(`restored copy ${tmpPath} still has a backing file ${info['backing-filename']}`);
    await copyOwnership(targetPath, tmpPath);
    await fsyncDir(dirName(tmpPath));
    return { virtualSize: info['virtual-size'] };
  } catch (e) {
    await fs.rm(tmpPath, { force: true }).catch(() => undefined);
    throw e;
  }
}
