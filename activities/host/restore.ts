import { ApplicationFailure } from '@temporalio/common';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CommandError, run, runWithProgress } from './exec';
import { heartbeat, throwIfCancelled } from './heartbeat';
import { parseDomainXml } from './domain';
import { virsh } from './virsh';

/*
 * Plain restore: a backup's chain (the backup and its parents, linked by relative qcow2 backing
 * paths) is flattened into a new standalone qcow2 beside the volume, checked, and only then swapped
 * in. The old volume stays as `<volume>.pre-restore-<restoreId>` until finishRestore, so abortRestore
 * can put it back. Every step can be run again after a crash.
 *
 * The helpers exported below the activities (qemuImgInfo, ...) are shared with
 * quickRestore.ts and vmDefinition.ts; they are not activities.
 */

// ---------------------------------------------------------------------------------------------
// Activities
// ---------------------------------------------------------------------------------------------

/** The domain XML saved with a backup (`<repoPath>/<vmUuid>/<backupId>/domain.xml`). */
export async function readBackupDomainXml(input: { repoPath: string; vmUuid: string; backupId: string }): Promise<string> {
  const file = path.join(input.repoPath, safeName(input.vmUuid, 'vmUuid'), safeName(input.backupId, 'backupId'), 'domain.xml');
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    if (isNotFound(e)) throw ApplicationFailure.nonRetryable(`backup ${input.backupId}: its domain XML ${file} is missing`, 'CorruptBackup');
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
  const src = backupFilePath(input.repoPath, input.file);
  const tmpPath = restoreTmpPath(input.targetPath, input.restoreId);
  await verifyBackupChain(src);
  const { virtualSize } = await writeFlatCopy(src, tmpPath, input.targetPath, format);
  return { tmpPath, virtualSize, format };
}

export type RestoreFormat = 'qcow2' | 'raw';

/** The format a restored disk is written in; only what QEMU opens as a plain disk image. */
export function restoreFormat(format: string | undefined): RestoreFormat {
  if (format === undefined || format === 'qcow2') return 'qcow2';
  if (format === 'raw') return 'raw';
  throw ApplicationFailure.nonRetryable(`cannot restore a disk as ${JSON.stringify(format)}: qcow2 or raw`, 'BadFormat');
}

/**
 * The (checked) backup chain at src flattened into tmpPath in `format`, fsynced, checked, owned like
 * targetPath. Removed again if anything fails.
 */
export async function writeFlatCopy(src: string, tmpPath: string, targetPath: string, format: RestoreFormat): Promise<{ virtualSize: number }> {
  await fs.mkdir(path.dirname(tmpPath), { recursive: true });
  await fs.rm(tmpPath, { force: true });
  try {
    // No -U: the repository file must not be changing under us (a running quick-restored VM only reads it).
    await runWithProgress('qemu-img', ['convert', '-p', '-f', 'qcow2', '-O', format, src, tmpPath], {
      progress: (percent) => ({ phase: 'copying', percent }),
    });
    await fsyncFile(tmpPath);
    heartbeat({ phase: 'checking', percent: 100 });
    const problem = await qemuImgCheck(tmpPath, format);
    if (problem) throw ApplicationFailure.retryable(`restored copy ${tmpPath} fails qemu-img check: ${problem}`, 'RestoreCheckFailed');
    const info = await qemuImgInfo(tmpPath, { format });
    if (info['backing-filename']) throw new Error(`restored copy ${tmpPath} still has a backing file ${info['backing-filename']}`);
    await copyOwnership(targetPath, tmpPath);
    await fsyncDir(path.dirname(tmpPath));
    return { virtualSize: info['virtual-size'] };
  } catch (e) {
    await fs.rm(tmpPath, { force: true }).catch(() => undefined);
    throw e;
  }
}

/**
 * Puts a flattened copy in place of the volume: the old volume is kept as `<targetPath>.pre-restore-<restoreId>`
 * (a hard link, so the volume path always names a complete disk), then the copy is renamed over it.
 * Already swapped (copy gone, old volume kept): nothing to do.
 */
export async function swapInRestoredDisk(input: { tmpPath: string; targetPath: string; restoreId: string }): Promise<{ swapped: true }> {
  const { targetPath, restoreId } = input;
  const tmp = restoreTmpPath(targetPath, restoreId);
  if (path.resolve(input.tmpPath) !== tmp) {
    throw ApplicationFailure.nonRetryable(`${input.tmpPath} is not the restore copy of ${targetPath} for restore ${restoreId}`, 'BadRestorePath');
  }
  const pre = preRestorePath(targetPath, restoreId);
  if (!(await exists(tmp))) {
    if ((await exists(pre)) || (await exists(targetPath))) return { swapped: true };
    throw ApplicationFailure.nonRetryable(`restore copy ${tmp} is missing and ${targetPath} does not exist`, 'RestoreCopyMissing');
  }
  await keepOldVolume(targetPath, pre);
  await copyOwnership((await exists(pre)) ? pre : targetPath, tmp);
  await fs.rename(tmp, targetPath);
  await fsyncDir(path.dirname(targetPath));
  return { swapped: true };
}

/** The restore is complete: the old volumes (and any copy left behind) are deleted. */
export async function finishRestore(input: { targetPaths: string[]; restoreId: string }): Promise<{ removed: string[] }> {
  const removed: string[] = [];
  for (const t of input.targetPaths) {
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
    const r = await putBackOldVolume(t, input.restoreId, input.removeNew ?? false);
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
    throw ApplicationFailure.nonRetryable(`the backup's domain XML cannot be parsed: ${(e as Error).message}`, 'CorruptBackup');
  }
  if (parsed.uuid.toLowerCase() !== input.uuid.toLowerCase()) {
    throw ApplicationFailure.nonRetryable(`the backup's domain XML is for VM ${parsed.uuid}, not ${input.uuid}`, 'CorruptBackup');
  }
  await withTempFile('domain.xml', input.xml, async (file) => {
    try {
      await virsh(['define', file]);
    } catch (e) {
      if (e instanceof CommandError && /already exists/i.test(e.stderr)) {
        throw ApplicationFailure.nonRetryable(`cannot redefine VM ${parsed.name} (${input.uuid}): ${e.stderr.trim()}`, 'NameTaken');
      }
      throw e;
    }
  });
  return { defined: true };
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the host restore activities (not activities themselves)
// ---------------------------------------------------------------------------------------------

/** `<dir>/.<basename>.restore-<restoreId>`: where a restored copy of a volume is built. */
export function restoreTmpPath(targetPath: string, restoreId: string): string {
  const abs = path.resolve(targetPath);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.restore-${safeName(restoreId, 'restoreId')}`);
}

/** `<targetPath>.pre-restore-<restoreId>`: the old volume, kept until the restore finishes. */
export function preRestorePath(targetPath: string, restoreId: string): string {
  return `${path.resolve(targetPath)}.pre-restore-${safeName(restoreId, 'restoreId')}`;
}

/** Absolute path of a file of the repository given relative to it (refusing paths that leave it). */
export function backupFilePath(repoPath: string, file: string): string {
  const root = path.resolve(repoPath);
  const abs = path.resolve(root, file);
  if (!abs.startsWith(root + path.sep)) throw ApplicationFailure.nonRetryable(`backup file ${file} is outside the repository ${root}`, 'BadRestorePath');
  return abs;
}

function safeName(s: string, what: string): string {
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(s) || s === '.' || s === '..') throw ApplicationFailure.nonRetryable(`bad ${what}: ${JSON.stringify(s)}`, 'BadRestorePath');
  return s;
}

export interface QemuImgInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  'format-specific'?: { type?: string; data?: { corrupt?: boolean } };
}

/** `qemu-img info --output=json` (-U: only the header is read; the image may be open by QEMU). */
export async function qemuImgInfo(file: string, opts: { format?: string; shared?: boolean } = {}): Promise<QemuImgInfo> {
  const args = ['info', '--output=json'];
  if (opts.shared ?? true) args.push('-U');
  if (opts.format) args.push('-f', opts.format);
  return JSON.parse(await run('qemu-img', [...args, file])) as QemuImgInfo;
}

/** The image and every image under it, top first. */
export async function qemuImgChain(file: string, opts: { format?: string } = {}): Promise<QemuImgInfo[]> {
  const args = ['info', '-U', '--backing-chain', '--output=json'];
  if (opts.format) args.push('-f', opts.format);
  return JSON.parse(await run('qemu-img', [...args, file])) as QemuImgInfo[];
}

/** Heartbeats `details` every 10 s while `fn` runs (a long qemu-img check says nothing meanwhile). */
export async function withHeartbeat<T>(details: unknown, fn: () => Promise<T>): Promise<T> {
  heartbeat(details);
  const timer = setInterval(() => heartbeat(details), 10_000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** qemu-img check: null when the image is fine (leaked clusters are harmless), else what is wrong. */
export async function qemuImgCheck(file: string, format: string): Promise<string | null> {
  try {
    await withHeartbeat({ phase: 'checking', file }, () => run('qemu-img', ['check', '-U', '-f', format, file]));
    return null;
  } catch (e) {
    if (!(e instanceof CommandError)) throw e;
    if (e.code === 3) return null; // leaks only
    if (e.code === 63) return null; // the format cannot be checked (raw)
    const lines = e.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
    const shown = lines.slice(0, 3).join('; ') + (lines.length > 3 ? `; ... (${lines.length} messages)` : '');
    return e.code === 2 ? `corrupted: ${shown}` : shown || `qemu-img check exited with ${e.code}`;
  }
}

/**
 * Every file of a backup's chain exists, opens, and passes qemu-img check; otherwise a non-retryable
 * CorruptBackup naming the file. Returns the chain (top first).
 */
export async function verifyBackupChain(src: string): Promise<QemuImgInfo[]> {
  if (!(await exists(src))) throw ApplicationFailure.nonRetryable(`backup file ${src} is missing`, 'CorruptBackup');
  let chain: QemuImgInfo[];
  try {
    chain = await qemuImgChain(src, { format: 'qcow2' });
  } catch (e) {
    if (e instanceof CommandError) {
      throw ApplicationFailure.nonRetryable(`backup chain of ${src} is broken: ${e.stderr.trim()}`, 'CorruptBackup');
    }
    throw e;
  }
  for (const [i, img] of chain.entries()) {
    heartbeat({ phase: 'checking', file: img.filename });
    throwIfCancelled();
    if (img['format-specific']?.data?.corrupt) {
      throw ApplicationFailure.nonRetryable(`backup file ${img.filename} is marked corrupt`, 'CorruptBackup');
    }
    if (img['backing-filename'] && i === chain.length - 1) {
      throw ApplicationFailure.nonRetryable(`backing file ${img['backing-filename']} of ${img.filename} is missing`, 'CorruptBackup');
    }
    const problem = await qemuImgCheck(img.filename, img.format);
    if (problem) throw ApplicationFailure.nonRetryable(`backup file ${img.filename} fails qemu-img check: ${problem}`, 'CorruptBackup');
  }
  return chain;
}

export function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function fsyncFile(file: string): Promise<void> {
  const fh = await fs.open(file, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Gives `to` the owner and mode of `from` (if `from` exists). */
export async function copyOwnership(from: string, to: string): Promise<void> {
  const st = await fs.stat(from).catch((e) => (isNotFound(e) ? null : Promise.reject(e)));
  if (!st) return;
  await fs.chown(to, st.uid, st.gid);
  await fs.chmod(to, st.mode & 0o7777);
}

async function sameFile(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([fs.stat(a).catch(() => null), fs.stat(b).catch(() => null)]);
  return !!sa && !!sb && sa.dev === sb.dev && sa.ino === sb.ino;
}

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
  await fsyncDir(path.dirname(targetPath));
}

/** Refuses to touch a volume some process (a running QEMU) holds open for writing. */
export async function assertNotInUse(file: string): Promise<void> {
  if (!(await exists(file))) return;
  try {
    await qemuImgInfo(file, { shared: false });
  } catch (e) {
    if (e instanceof CommandError && /lock/i.test(e.stderr)) {
      throw ApplicationFailure.nonRetryable(`${file} is in use (${e.stderr.trim()}): the VM must be stopped`, 'DiskInUse');
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
  const dir = path.dirname(path.resolve(targetPath));
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
  await fsyncDir(dir).catch(() => undefined);
  return result;
}

/** Whether libvirt knows the domain (name, UUID or id; `virsh domuuid` only takes names and ids). */
export async function domainExists(domain: string): Promise<boolean> {
  try {
    await virsh(['domstate', domain]);
    return true;
  } catch (e) {
    if (e instanceof CommandError && /failed to get domain|domain not found|no domain with matching/i.test(e.stderr)) return false;
    throw e;
  }
}

/** Writes `content` to a private temporary file for the duration of `fn`. */
export async function withTempFile<T>(name: string, content: string, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'backflow-'));
  try {
    const file = path.join(dir, name);
    await fs.writeFile(file, content, { mode: 0o600 });
    return await fn(file);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
