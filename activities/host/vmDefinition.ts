import path from 'node:path';
import { fail, Failure } from '../../common/failures';
import { volumePath } from '../../common/layout';
import { restoreFormat } from './lib/backupChain';
import { domainDisks, xmlEscape } from './lib/virt/domainXml';
import { defineDomain, domainIsRunningNow, virsh, virshWithXml } from './lib/virt/virsh';
import { attrsOf, buildTree, el, elements, kids, parseTree, setText, tagOf } from './lib/virt/xmlTree';

/*
 * Domain definitions for restores: attaching a restored volume to a VM, and defining a new VM from a
 * backup's saved domain XML.
 */

/**
 * Attaches a volume file to a VM at the next virtio target no disk of the domain uses (vdb, vdc, ...):
 * live and persistent if it runs, persistent only if stopped. Already attached (run again after a
 * crash): its target is returned (and the half that was missing, live or persistent, is completed).
 */
export async function attachVolume(input: { domain: string; path: string; format: string }): Promise<{ target: string }> {
  const { domain } = input;
  const file = path.resolve(input.path);
  if (!/^[a-z0-9]+$/.test(input.format)) throw fail.nonRetryable(Failure.BadRequest, `bad disk format ${JSON.stringify(input.format)}`);
  const running = await domainIsRunningNow(domain);
  const config = domainDisks(await virsh(['dumpxml', '--inactive', domain]));
  const live = running ? domainDisks(await virsh(['dumpxml', domain])) : [];

  const inConfig = config.find((d) => d.file && path.resolve(d.file) === file);
  const inLive = live.find((d) => d.file && path.resolve(d.file) === file);
  let target: string;
  const where: string[] = [];
  if (inConfig || inLive) {
    target = (inLive ?? inConfig)!.target;
    if (!inConfig) where.push('--config');
    if (running && !inLive) where.push('--live');
    if (!where.length) return { target };
  } else {
    const used = new Set([...config, ...live].map((d) => d.target));
    let i = 1;
    while (used.has(diskName('vd', i))) i++;
    target = diskName('vd', i);
    where.push('--config');
    if (running) where.push('--live');
  }
  const aliases = new Set([...config, ...live].map((d) => d.alias).filter(Boolean));
  const alias = aliases.has(`ua-${target}`) ? '' : `\n  <alias name='ua-${target}'/>`;
  const xml = `<disk type='file' device='disk'>
  <driver name='qemu' type='${input.format}'/>
  <source file='${xmlEscape(file)}'/>
  <target dev='${target}' bus='virtio'/>${alias}
</disk>
`;
  await virshWithXml('attach-device', domain, xml, where);
  return { target };
}

/**
 * Defines a new VM from a backup's domain XML: new name and UUID, each backed-up disk pointed at its new
 * file, in its format from `formats` (by target; qcow2 when not given, as flattenBackupDisk writes
 * by default: a raw disk restored as raw must say so), MAC addresses removed (libvirt assigns new ones), no backing chains, no NVRAM path of
 * the original. Disks of the original that are not in diskMap are left out (they would be shared with
 * the original VM otherwise). Defining again with the same name and UUID just redefines it.
 */
export async function defineVmFromBackup(input: {
  xml: string;
  newName: string;
  newUuid: string;
  diskMap: Record<string, string>;
  /** Each restored disk's format by target (backup_disks.source_format); qcow2 when absent. */
  formats?: Record<string, string>;
}): Promise<{ uuid: string; name: string; droppedTargets: string[] }> {
  const { newName, newUuid } = input;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(newName)) throw fail.nonRetryable(Failure.BadRequest, `bad VM name ${JSON.stringify(newName)}`);
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(newUuid)) {
    throw fail.nonRetryable(Failure.BadRequest, `bad UUID ${JSON.stringify(newUuid)}`);
  }
  const formats = Object.fromEntries(Object.keys(input.diskMap).map((t) => [t, restoreFormat(input.formats?.[t])]));
  const { xml, droppedTargets } = rewriteDomainXml(input.xml, newName, newUuid, input.diskMap, formats);
  await defineDomain(xml, `cannot define VM ${newName} (${newUuid})`);
  const uuid = (await virsh(['domuuid', newName])).trim();
  if (uuid.toLowerCase() !== newUuid.toLowerCase()) throw new Error(`VM ${newName} was defined with UUID ${uuid}, not ${newUuid}`);
  return { uuid, name: newName, droppedTargets };
}

/** The validated new-volume name of common/layout.ts (this name kept for its tests). */
export const volumePathFor = volumePath;

// ---------------------------------------------------------------------------------------------

/** vda..vdz, vdaa.. (libvirt's virIndexToDiskName). */
function diskName(prefix: string, index: number): string {
  let s = '';
  for (let i = index; i >= 0; i = Math.floor(i / 26) - 1) s = String.fromCharCode(97 + (i % 26)) + s;
  return prefix + s;
}

/** The saved domain XML with a new identity and the disks at their new files. */
export function rewriteDomainXml(
  xml: string,
  newName: string,
  newUuid: string,
  diskMap: Record<string, string>,
  formats: Record<string, string> = {},
): { xml: string; droppedTargets: string[] } {
  const tree = parseTree(xml);
  const domain = elements(tree, 'domain')[0];
  if (!domain) throw fail.nonRetryable(Failure.CorruptBackup, 'the backup domain XML has no <domain>');
  const dom = kids(domain);
  setText(dom, 'name', newName);
  setText(dom, 'uuid', newUuid, 'name');
  // Bound to the original's identity: its VM generation id (an empty <genid/> makes libvirt pick a new
  // one) and its firmware variables file (without a path libvirt makes one for the new VM).
  for (const g of elements(dom, 'genid')) g.genid = [];
  for (const os of elements(dom, 'os')) {
    for (const nv of elements(kids(os), 'nvram')) nv.nvram = [];
  }
  const droppedTargets: string[] = [];
  const mapped = new Set<string>();
  for (const devices of elements(dom, 'devices')) {
    const list = kids(devices);
    for (let i = list.length - 1; i >= 0; i--) {
      const n = list[i];
      const tag = tagOf(n);
      if (tag === 'disk') {
        const a = attrsOf(n);
        const device = a['@_device'] ?? 'disk';
        const target = elements(kids(n), 'target').map((t) => attrsOf(t)['@_dev'])[0];
        if (device !== 'disk' && device !== 'lun') continue;
        const newPath = target ? diskMap[target] : undefined;
        if (!newPath) {
          // Not restored: keeping it would share the original's volume with the new VM.
          list.splice(i, 1);
          droppedTargets.push(target ?? '?');
          continue;
        }
        mapped.add(target!);
        a['@_type'] = 'file';
        a['@_device'] = 'disk';
        const c = kids(n).filter((k) => !['backingStore', 'mirror', 'source', 'driver'].includes(tagOf(k)));
        const oldDriver = elements(kids(n), 'driver')[0];
        const driverAttrs = { ...(oldDriver ? attrsOf(oldDriver) : {}), '@_name': 'qemu', '@_type': formats[target!] ?? 'qcow2' };
        n.disk = [el('driver', driverAttrs), el('source', { '@_file': newPath }), ...c];
      } else if (tag === 'interface') {
        n.interface = kids(n).filter((k) => tagOf(k) !== 'mac');
      }
    }
  }
  const missing = Object.keys(diskMap).filter((t) => !mapped.has(t));
  if (missing.length) throw fail.nonRetryable(Failure.DiskMissing, `the backup domain XML has no disk ${missing.join(', ')}`);
  return { xml: buildTree(tree), droppedTargets };
}
