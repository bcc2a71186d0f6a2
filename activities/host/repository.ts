import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import * as layout from '../../common/layout';
import { fail, Failure } from '../../common/failures';
import { heartbeat } from './heartbeat';
import { allocatedBytes, exists, fsyncPath } from './lib/files';
import { assertVisibleToQemu } from './lib/mountNamespaces';
import * as qemuImg from './lib/qemuImg';

/**
 * Backup folders in a repository (names from common/layout.ts). A backup is written into
 * <backup id>.partial/ and renamed into place only once complete and checked, so a folder under its
 * final name is always a whole backup.
 */

/**
 * Creates the backup's .partial folder. runningDomain: QEMU itself will write into it, so it must see
 * the folder from its own mount namespace; if not, the backup fails here, before any job or freeze.
 */
export async function prepareBackupDir(input: {
  repoPath: string; vmUuid: string; backupId: string; domainXml: string; runningDomain?: string;
}): Promise<{ dir: string }> {
  const dir = layout.partialDir(input.repoPath, input.vmUuid, input.backupId);
  await rm(dir, { recursive: true, force: true }); // a previous attempt's leftovers
  await mkdir(dir, { recursive: true });
  await writeFile(layout.joinPath(dir, layout.DOMAIN_XML), input.domainXml);
  if (input.runningDomain) {
    try {
      await assertVisibleToQemu({ domain: input.runningDomain, dir });
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }
  return { dir };
}

export interface CommittedDisk { target: string; file: string; sizeOnDisk: number; virtualSize: number }

/** Passes qemu-img check (by its one rule, lib/qemuImg.ts) or fails non-retryably as CorruptBackup. */
async function assertChecks(file: string): Promise<void> {
  const problem = await qemuImg.check(file, 'qcow2');
  if (problem) throw fail.nonRetryable(Failure.CorruptBackup, `${file} failed qemu-img check: ${problem}`);
}

/** Chains incrementals onto their parents (relative paths), checks every file, then renames into place. */
export async function commitBackupDir(input: {
  repoPath: string; vmUuid: string; backupId: string; disks: { target: string; parentBackupId?: string }[];
}): Promise<CommittedDisk[]> {
  const { repoPath, vmUuid, backupId } = input;
  const partial = layout.partialDir(repoPath, vmUuid, backupId);
  const final = layout.backupDir(repoPath, vmUuid, backupId);
  if (await exists(partial)) {
    for (const d of input.disks) {
      const file = layout.joinPath(partial, layout.diskFileName(d.target));
      // libvirt leaves an incremental backed by the live disk; its parent is the previous backup instead.
      if (d.parentBackupId) await qemuImg.rebase({ file, backing: layout.backingPath(d.parentBackupId, d.target), unsafe: true });
      else if ((await qemuImg.info(file, 'qcow2'))['backing-filename']) await qemuImg.rebase({ file, backing: '', unsafe: true });
      await assertChecks(file);
      await fsyncPath(file);
      heartbeat({ committed: d.target });
    }
    await fsyncPath(partial);
    await rm(final, { recursive: true, force: true });
    await rename(partial, final);
    await fsyncPath(layout.vmDir(repoPath, vmUuid));
  }
  const out: CommittedDisk[] = [];
  for (const d of input.disks) {
    const file = layout.backupDiskPath(repoPath, vmUuid, backupId, d.target);
    out.push({
      target: d.target,
      file: layout.backupDiskFile(vmUuid, backupId, d.target),
      sizeOnDisk: await allocatedBytes(file),
      virtualSize: (await qemuImg.info(file, 'qcow2'))['virtual-size'],
    });
  }
  return out;
}

/** Removes an unfinished backup's folder; never a finished one. */
export async function discardBackupDir(input: { repoPath: string; vmUuid: string; backupId: string }): Promise<void> {
  await rm(layout.partialDir(input.repoPath, input.vmUuid, input.backupId), { recursive: true, force: true });
}

export async function deleteBackupFiles(input: { repoPath: string; vmUuid: string; backupId: string }): Promise<void> {
  const vmDir = layout.vmDir(input.repoPath, input.vmUuid);
  await rm(layout.partialDir(input.repoPath, input.vmUuid, input.backupId), { recursive: true, force: true });
  await rm(layout.backupDir(input.repoPath, input.vmUuid, input.backupId), { recursive: true, force: true });
  const left = await readdir(vmDir).catch(() => ['?']);
  if (!left.length) await rm(vmDir, { recursive: true, force: true });
}

/**
 * Before a backup in the middle of a chain is deleted: its child is rebased (safe mode, so the data
 * it needs is copied in) onto the grandparent, or made standalone when there is none.
 */
export async function mergeIntoChild(input: {
  repoPath: string; vmUuid: string; backupId: string; childBackupId: string; grandParentBackupId: string | null; targets: string[];
}): Promise<void> {
  for (const t of input.targets) {
    const child = layout.backupDiskPath(input.repoPath, input.vmUuid, input.childBackupId, t);
    const backing = input.grandParentBackupId ? layout.backingPath(input.grandParentBackupId, t) : '';
    const current = (await qemuImg.info(child, 'qcow2'))['backing-filename'] ?? '';
    if (current === backing) continue; // merged already (a retry)
    if (!current) continue; // a standalone copy (a disk copied in full, e.g. raw): it depends on nothing
    const chain = await qemuImg.chain(child, 'qcow2');
    if (!chain[1]?.filename.includes(input.backupId)) throw new Error(`${child} does not back onto backup ${input.backupId}`);
    heartbeat({ merging: t });
    await qemuImg.rebase({ file: child, backing, progress: (percent) => ({ merging: t, percent }) });
    await assertChecks(child);
  }
}
