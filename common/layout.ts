import { fail, Failure } from './failures';

/**
 * Where every file of Backflow lives, as strings: the repository (`<repo>/<vm uuid>/<backup id>/
 * <target>.qcow2` plus domain.xml, written under `<backup id>.partial/` first), restore copies beside
 * a volume, and new volumes. Pure and deterministic, no node:path (workflows import it), POSIX paths
 * only; paths it resolves must be absolute (the host resolves relative ones against its cwd first).
 */

export const DOMAIN_XML = 'domain.xml';
export const PARTIAL_SUFFIX = '.partial';

/** An id or name used as one path segment: never a separator, never . or .. */
function segment(s: string, what: string): string {
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(s) || s === '.' || s === '..') throw fail.nonRetryable(Failure.BadRestorePath, `bad ${what}: ${JSON.stringify(s)}`);
  return s;
}

/** node's path.posix.normalize: collapses //, . and .., keeps a trailing slash. */
export function normalizePath(p: string): string {
  if (p === '') return '.';
  const absolute = p.startsWith('/');
  const trailing = p.endsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') out.push(part);
    else if (out.length && out[out.length - 1] !== '..') out.pop();
    else if (!absolute) out.push('..');
  }
  let s = out.join('/');
  if (!s && !absolute) s = '.';
  if (s && trailing) s += '/';
  return absolute ? `/${s}` : s;
}

/** node's path.posix.join. */
export const joinPath = (...parts: string[]): string => normalizePath(parts.filter((p) => p !== '').join('/') || '.');

/** node's path.resolve for an absolute path (no trailing slash); a relative one is refused. */
export function absolutePath(p: string): string {
  if (!p.startsWith('/')) throw fail.nonRetryable(Failure.BadRestorePath, `${JSON.stringify(p)} is not an absolute path`);
  const n = normalizePath(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** node's path.posix.dirname (for paths that do not start with //). */
export function dirName(p: string): string {
  const s = p.replace(/(.)\/+$/, '$1');
  const i = s.lastIndexOf('/');
  return i > 0 ? s.slice(0, i) : i === 0 ? '/' : '.';
}

/** node's path.posix.basename (without a suffix argument). */
export function baseName(p: string): string {
  const s = p.replace(/\/+$/, '');
  return s.slice(s.lastIndexOf('/') + 1);
}

// --- The repository ----------------------------------------------------------------------------

export const diskFileName = (target: string) => `${segment(target, 'disk target')}.qcow2`;
export const vmDir = (repo: string, vmUuid: string) => joinPath(repo, segment(vmUuid, 'vmUuid'));
export const backupDir = (repo: string, vmUuid: string, backupId: string) => joinPath(vmDir(repo, vmUuid), segment(backupId, 'backupId'));
/** Where a backup is written until every file of it is checked; then renamed to backupDir. */
export const partialDir = (repo: string, vmUuid: string, backupId: string) => `${backupDir(repo, vmUuid, backupId)}${PARTIAL_SUFFIX}`;
export const backupDiskPath = (repo: string, vmUuid: string, backupId: string, target: string) => joinPath(backupDir(repo, vmUuid, backupId), diskFileName(target));
export const domainXmlPath = (repo: string, vmUuid: string, backupId: string) => joinPath(backupDir(repo, vmUuid, backupId), DOMAIN_XML);

/** A backup disk as the catalog keeps it (backup_disks.file): relative to the repository's root. */
export const backupDiskFile = (vmUuid: string, backupId: string, target: string) => backupDiskPath('', vmUuid, backupId, target);

/**
 * An incremental's backing file: its parent's disk by a path relative to its own folder, so a
 * backup plus its parents is a complete image wherever the repository is mounted.
 */
export const backingPath = (parentBackupId: string, target: string) => `../${segment(parentBackupId, 'backupId')}/${diskFileName(target)}`;

/** Where a disk's compressed copy is written beside it, until finalize renames it over the original. */
export const compressingPath = (diskPath: string) => `${diskPath}.compressing`;

/** Absolute path of a repository file given relative to it, refusing one that leaves the repository. */
export function repositoryFile(repo: string, file: string): string {
  const root = absolutePath(repo);
  const abs = absolutePath(file.startsWith('/') ? file : `${root}/${file}`);
  if (!abs.startsWith(`${root}/`)) {
    throw fail.nonRetryable(Failure.BadRestorePath, `backup file ${file} is outside the repository ${root}`);
  }
  return abs;
}

// --- Restores beside a volume ------------------------------------------------------------------

/** `<dir>/.<basename>.restore-<restoreId>`: where a restored copy of a volume is built. */
export function restoreTmpPath(targetPath: string, restoreId: string): string {
  const abs = absolutePath(targetPath);
  return joinPath(dirName(abs), `.${baseName(abs)}.restore-${segment(restoreId, 'restoreId')}`);
}

/** `<targetPath>.pre-restore-<restoreId>`: the old volume, kept until the restore finishes. */
export const preRestorePath = (targetPath: string, restoreId: string) => `${absolutePath(targetPath)}.pre-restore-${segment(restoreId, 'restoreId')}`;

// --- New volumes -------------------------------------------------------------------------------

/**
 * A new volume in a VM's storage folder: `<dir>/<name>[-<suffix>]-<target>.<qcow2|raw>`, named for the
 * format it is written in (a raw disk restores as raw; anything else as qcow2).
 */
export function volumePath(input: { dir: string; name: string; target: string; suffix?: string; format?: string }): string {
  const base = input.suffix ? `${input.name}-${input.suffix}-${input.target}` : `${input.name}-${input.target}`;
  if (base.includes('/') || base.startsWith('.')) throw fail.nonRetryable(Failure.BadRequest, `bad volume name ${base}`);
  return joinPath(input.dir, `${base}.${restoredFormat(input.format)}`);
}

/** The format a restored copy of a disk is written in: raw stays raw, everything else becomes qcow2. */
export const restoredFormat = (sourceFormat?: string | null): 'raw' | 'qcow2' => (sourceFormat === 'raw' ? 'raw' : 'qcow2');

/** restoreVolumeFromBackupAndAttachToVM: beside the VM's first disk, named after the VM and the restore. */
export const restoredVolumePath = (input: { diskPath: string; vmName: string; restoreId: string; target: string; format?: string }) =>
  volumePath({ dir: dirName(input.diskPath), name: input.vmName, suffix: `restored-${input.restoreId.slice(0, 8)}`, target: input.target, format: input.format });

/** createVMFromBackup: each disk beside the source VM's disk it was backed up from, named after the new VM. */
export const newVmDiskPath = (input: { sourcePath: string; vmName: string; target: string; format?: string }) =>
  volumePath({ dir: dirName(input.sourcePath), name: input.vmName, target: input.target, format: input.format });

// --- Validation of a backup in a throwaway VM (issue 13) -------------------------------------

/** Every validation VM's name starts with this, so a leftover (after a crashed worker) is recognisable. */
export const VALIDATION_VM_PREFIX = 'bfval-';
/** The validation VM of a backup: one at a time per backup, so a retry finds (and replaces) its own. */
export const validationVmName = (backupId: string) => `${VALIDATION_VM_PREFIX}${segment(backupId, 'backupId')}`;
/** The backup id a validation VM (or its folder) belongs to, or null for any other name. */
export const validationBackupId = (name: string): string | null =>
  name.startsWith(VALIDATION_VM_PREFIX) && name.length > VALIDATION_VM_PREFIX.length ? name.slice(VALIDATION_VM_PREFIX.length) : null;
/** `<root>/bfval-<backup id>`: the validation VM's overlays and console log, removed with the VM. */
export const validationWorkDir = (root: string, backupId: string) => joinPath(absolutePath(root), validationVmName(backupId));
/** A validation VM's disk: a qcow2 overlay whose backing file is the backup's file in the repository. */
export const validationOverlayPath = (root: string, backupId: string, target: string) => joinPath(validationWorkDir(root, backupId), diskFileName(target));
/** The validation screenshot, beside the backup's files. */
export const VALIDATION_SCREENSHOT = 'validation-screenshot.png';
export const validationScreenshotPath = (repo: string, vmUuid: string, backupId: string) => joinPath(backupDir(repo, vmUuid, backupId), VALIDATION_SCREENSHOT);
/** The screenshot as the catalog keeps it (backups.validation_screenshot): relative to the repository's root. */
export const validationScreenshotFile = (vmUuid: string, backupId: string) => validationScreenshotPath('', vmUuid, backupId);
