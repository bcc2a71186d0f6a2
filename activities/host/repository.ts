import { mkdir, open, readdir, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { heartbeat } from './heartbeat';
import { run } from './exec';
import { assertVisibleToQemu } from './lib/mountNamespaces';
import { allocatedBytes, checkImage, imageChain, imageInfo, rebaseUnsafe } from './qemuImg';

/**
 * Repository layout: <repo>/<vm uuid>/<backup id>/<target>.qcow2 plus domain.xml. A backup is written
 * into <backup id>.partial/ and renamed into place only once complete and checked, so a folder under
 * its final name is always a whole backup.
 */
const vmDir = (repoPath: string, vmUuid: string) => path.join(repoPath, vmUuid);
const finalDir = (repoPath: string, vmUuid: string, backupId: string) => path.join(repoPath, vmUuid, backupId);
const partialDir = (repoPath: string, vmUuid: string, backupId: string) => `${finalDir(repoPath, vmUuid, backupId)}.partial`;
const exists = (p: string) => stat(p).then(() => true, () => false);

async function fsyncPath(p: string) {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Creates the backup's .partial folder. runningDomain: QEMU itself will write into it, so it must see
 * the folder from its own mount namespace; if not, the backup fails here, before any job or freeze.
 */
export async function prepareBackupDir(input: {
  repoPath: string; vmUuid: string; backupId: string; domainXml: string; runningDomain?: string;
}): Promise<{ dir: string }> {
  const dir = partialDir(input.repoPath, input.vmUuid, input.backupId);
  await rm(dir, { recursive: true, force: true }); // a previous attempt's leftovers
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'domain.xml'), input.domainXml);
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

/** Chains incrementals onto their parents (relative paths), checks every file, then renames into place. */
export async function commitBackupDir(input: {
  repoPath: string; vmUuid: string; backupId: string; disks: { target: string; parentBackupId?: string }[];
}): Promise<CommittedDisk[]> {
  const partial = partialDir(input.repoPath, input.vmUuid, input.backupId);
  const final = finalDir(input.repoPath, input.vmUuid, input.backupId);
  if (await exists(partial)) {
    for (const d of input.disks) {
      const file = path.join(partial, `${d.target}.qcow2`);
      // libvirt leaves an incremental backed by the live disk; its parent is the previous backup instead.
      if (d.parentBackupId) await rebaseUnsafe(file, `../${d.parentBackupId}/${d.target}.qcow2`);
      else if ((await imageInfo(file))['backing-filename']) await rebaseUnsafe(file, '');
      await checkImage(file);
      await fsyncPath(file);
      heartbeat({ committed: d.target });
    }
    await fsyncPath(partial);
    await rm(final, { recursive: true, force: true });
    await rename(partial, final);
    await fsyncPath(vmDir(input.repoPath, input.vmUuid));
  }
  const out: CommittedDisk[] = [];
  for (const d of input.disks) {
    const file = path.join(final, `${d.target}.qcow2`);
    out.push({
      target: d.target,
      file: path.relative(input.repoPath, file),
      sizeOnDisk: await allocatedBytes(file),
      virtualSize: (await imageInfo(file))['virtual-size'],
    });
  }
  return out;
}

/** Removes an unfinished backup's folder; never a finished one. */
export async function discardBackupDir(input: { repoPath: string; vmUuid: string; backupId: string }): Promise<void> {
  await rm(partialDir(input.repoPath, input.vmUuid, input.backupId), { recursive: true, force: true });
}

export async function deleteBackupFiles(input: { repoPath: string; vmUuid: string; backupId: string }): Promise<void> {
  await rm(partialDir(input.repoPath, input.vmUuid, input.backupId), { recursive: true, force: true });
  await rm(finalDir(input.repoPath, input.vmUuid, input.backupId), { recursive: true, force: true });
  const left = await readdir(vmDir(input.repoPath, input.vmUuid)).catch(() => ['?']);
  if (!left.length) await rm(vmDir(input.repoPath, input.vmUuid), { recursive: true, force: true });
}

/**
 * Before a backup in the middle of a chain is deleted: its child is rebased (safe mode, so the data
 * it needs is copied in) onto the grandparent, or made standalone when there is none.
 */
export async function mergeIntoChild(input: {
  repoPath: string; vmUuid: string; backupId: string; childBackupId: string; grandParentBackupId: string | null; targets: string[];
}): Promise<void> {
  for (const t of input.targets) {
    const child = path.join(finalDir(input.repoPath, input.vmUuid, input.childBackupId), `${t}.qcow2`);
    const backing = input.grandParentBackupId ? `../${input.grandParentBackupId}/${t}.qcow2` : '';
    const current = (await imageInfo(child))['backing-filename'] ?? '';
    if (current === backing) continue; // merged already (a retry)
    if (!current) continue; // a standalone copy (a disk copied in full, e.g. raw): it depends on nothing
    const chain = await imageChain(child);
    if (!chain[1]?.filename.includes(input.backupId)) throw new Error(`${child} does not back onto backup ${input.backupId}`);
    heartbeat({ merging: t });
    await run('qemu-img', ['rebase', '-f', 'qcow2', ...(backing ? ['-F', 'qcow2'] : []), '-b', backing, child]);
    await checkImage(child);
  }
}

export async function freeSpace(input: { repoPath: string }): Promise<number> {
  const s = await statfs(input.repoPath);
  return s.bavail * s.bsize;
}
