import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { heartbeat } from './heartbeat';
import { allocatedBytes, exists } from './lib/files';
import { info as imageInfo } from './lib/qemuImg';

/** What the catalog says a repository holds, for one backup: its folder and each disk's file and virtual size. */
export interface ExpectedBackup { backupId: string; vmUuid: string; disks: { file: string; virtualSize: number }[] }
export interface ScanResult {
  /** Backups whose files are gone or no longer what the catalog recorded, with why. */
  broken: { backupId: string; reason: string }[];
  /** Folders the catalog does not know (relative to the repository), never removed here. */
  orphans: string[];
  /** Bytes on disk of each expected backup's folder. */
  bytes: Record<string, number>;
}

/** What `du -s -B1` says of a folder: the blocks of every file and folder in it, itself included. */
async function duBytes(dir: string): Promise<number> {
  let total = await allocatedBytes(dir).catch(() => 0);
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? await duBytes(p) : await allocatedBytes(p);
  }
  return total;
}

/**
 * The background sync's look at one repository: every good backup's files exist and `qemu-img info`
 * still gives what was recorded; every folder is known to the catalog (known: any backup or VM it has
 * a row for, so a backup being written is not an orphan). Reads only.
 */
export async function scanRepository(input: { repoPath: string; expected: ExpectedBackup[]; knownBackupIds: string[]; knownVmIds: string[] }): Promise<ScanResult> {
  const out: ScanResult = { broken: [], orphans: [], bytes: {} };
  for (const b of input.expected) {
    heartbeat({ scanning: b.backupId });
    for (const d of b.disks) {
      const file = path.join(input.repoPath, d.file);
      try {
        // -f qcow2: every backup file is qcow2; a file that is not fails to open and counts as broken.
        const info = await imageInfo(file, 'qcow2');
        if (info.format !== 'qcow2' || info['virtual-size'] !== d.virtualSize) {
          out.broken.push({ backupId: b.backupId, reason: `${d.file} is ${info.format} of ${info['virtual-size']} bytes, recorded as qcow2 of ${d.virtualSize}` });
          break;
        }
      } catch (e) {
        const missing = !(await exists(file).catch(() => false));
        out.broken.push({ backupId: b.backupId, reason: missing ? `${d.file} is missing` : `${d.file} cannot be read: ${(e as Error).message.slice(0, 500)}` });
        break;
      }
    }
    out.bytes[b.backupId] = await duBytes(path.join(input.repoPath, b.vmUuid, b.backupId));
  }
  const backups = new Set(input.knownBackupIds);
  const vms = new Set(input.knownVmIds);
  for (const v of await readdir(input.repoPath, { withFileTypes: true })) {
    if (!v.isDirectory() || v.name === 'lost+found') continue;
    if (!vms.has(v.name)) {
      out.orphans.push(v.name);
      continue;
    }
    for (const b of await readdir(path.join(input.repoPath, v.name), { withFileTypes: true })) {
      const id = b.name.replace(/\.partial$/, '');
      if (!backups.has(id)) out.orphans.push(`${v.name}/${b.name}`);
    }
  }
  return out;
}
