import * as qemuImg from './lib/qemuImg';
import { parseDomainXml } from './lib/virt/domainXml';
import { domainIsRunningNow, virsh } from './lib/virt/virsh';

export async function listCheckpoints(input: { domain: string }): Promise<string[]> {
  const out = await virsh(['checkpoint-list', input.domain, '--name', '--topological']);
  return out.split('\n').map((s) => s.trim()).filter(Boolean);
}

interface QmpNode { 'node-name'?: string; drv?: string; file?: string; 'dirty-bitmaps'?: { name: string; persistent?: boolean; inconsistent?: boolean }[] }

/** The dirty bitmaps QEMU holds for each image file of a running domain. */
async function liveBitmaps(domain: string): Promise<Map<string, string[]>> {
  const out = await virsh(['qemu-monitor-command', domain, JSON.stringify({ execute: 'query-named-block-nodes', arguments: { flat: true } })]);
  const nodes = (JSON.parse(out).return ?? []) as QmpNode[];
  const byFile = new Map<string, string[]>();
  for (const n of nodes) {
    if (n.drv !== 'qcow2' || !n.file) continue;
    const names = (n['dirty-bitmaps'] ?? []).filter((b) => !b.inconsistent).map((b) => b.name);
    byFile.set(n.file, [...(byFile.get(n.file) ?? []), ...names]);
  }
  return byFile;
}

/**
 * Can the next backup be incremental from this checkpoint? Only if libvirt still has it and every
 * disk still carries its bitmap: a VM redefined without its metadata or a replaced disk fails here.
 */
export async function checkpointUsable(input: { domain: string; name: string; disks: { target: string; path: string }[] }): Promise<{ usable: boolean; reason?: string }> {
  if (!(await listCheckpoints(input).catch(() => [] as string[])).includes(input.name)) {
    return { usable: false, reason: `libvirt has no checkpoint ${input.name} for this VM` };
  }
  const running = await domainIsRunningNow(input.domain);
  const live = running ? await liveBitmaps(input.domain) : undefined;
  for (const d of input.disks) {
    const names = live ? (live.get(d.path) ?? []) : await qemuImg.bitmapNames(d.path).catch(() => [] as string[]);
    if (!names.includes(input.name)) return { usable: false, reason: `disk ${d.target} (${d.path}) has no bitmap ${input.name}` };
  }
  return { usable: true };
}

/** Deletes every checkpoint not kept (with metadataOnly, only libvirt's record of it), so they do not pile up in libvirt (and their bitmaps in the disks). */
export async function pruneCheckpoints(input: { domain: string; keep: string[]; metadataOnly?: boolean }): Promise<{ deleted: string[] }> {
  const deleted: string[] = [];
  const running = await domainIsRunningNow(input.domain);
  for (const name of await listCheckpoints(input)) {
    if (input.keep.includes(name)) continue;
    // After a restore the disks are new files without the bitmaps: only libvirt's metadata is left to drop.
    if (input.metadataOnly) await virsh(['checkpoint-delete', input.domain, name, '--metadata']);
    else if (running) await virsh(['checkpoint-delete', input.domain, name]);
    else await deleteOffline(input.domain, name);
    deleted.push(name);
  }
  return { deleted };
}

/** libvirt cannot delete a checkpoint of a stopped domain: drop its metadata, and its bitmaps with qemu-img. */
async function deleteOffline(domain: string, name: string) {
  await virsh(['checkpoint-delete', domain, name, '--metadata']);
  const { disks } = parseDomainXml(await virsh(['dumpxml', '--inactive', domain]));
  for (const d of disks.filter((x) => x.format === 'qcow2')) {
    if ((await qemuImg.bitmapNames(d.path, { includeInUse: true }).catch(() => [] as string[])).includes(name)) await qemuImg.bitmap(d.path, 'remove', name);
  }
}
