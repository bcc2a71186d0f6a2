import { ApplicationFailure } from '@temporalio/common';
import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import path from 'node:path';
import { CommandError } from './exec';
import { withTempFile } from './restore';
import { virsh } from './virsh';

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
  if (!/^[a-z0-9]+$/.test(input.format)) throw ApplicationFailure.nonRetryable(`bad disk format ${JSON.stringify(input.format)}`, 'BadRequest');
  const state = (await virsh(['domstate', domain])).trim();
  const running = ['running', 'paused', 'in shutdown', 'pmsuspended'].includes(state);
  const config = listDisks(await virsh(['dumpxml', '--inactive', domain]));
  const live = running ? listDisks(await virsh(['dumpxml', domain])) : [];

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
  await withTempFile('disk.xml', xml, (f) => virsh(['attach-device', domain, f, ...where]));
  return { target };
}

/**
 * Defines a new VM from a backup's domain XML: new name and UUID, each backed-up disk pointed at its new
 * file (qcow2), MAC addresses removed (libvirt assigns new ones), no backing chains, no NVRAM path of
 * the original. Disks of the original that are not in diskMap are left out (they would be shared with
 * the original VM otherwise). Defining again with the same name and UUID just redefines it.
 */
export async function defineVmFromBackup(input: {
  xml: string;
  newName: string;
  newUuid: string;
  diskMap: Record<string, string>;
}): Promise<{ uuid: string; name: string; droppedTargets: string[] }> {
  const { newName, newUuid } = input;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(newName)) throw ApplicationFailure.nonRetryable(`bad VM name ${JSON.stringify(newName)}`, 'BadRequest');
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(newUuid)) {
    throw ApplicationFailure.nonRetryable(`bad UUID ${JSON.stringify(newUuid)}`, 'BadRequest');
  }
  const { xml, droppedTargets } = rewriteDomainXml(input.xml, newName, newUuid, input.diskMap);
  await withTempFile('domain.xml', xml, async (f) => {
    try {
      await virsh(['define', f]);
    } catch (e) {
      if (e instanceof CommandError && /already (exists|defined)/i.test(e.stderr)) {
        throw ApplicationFailure.nonRetryable(`cannot define VM ${newName} (${newUuid}): ${e.stderr.trim()}`, 'NameTaken');
      }
      throw e;
    }
  });
  const uuid = (await virsh(['domuuid', newName])).trim();
  if (uuid.toLowerCase() !== newUuid.toLowerCase()) throw new Error(`VM ${newName} was defined with UUID ${uuid}, not ${newUuid}`);
  return { uuid, name: newName, droppedTargets };
}

/** Path of a new volume in a VM's storage dir: `<dir>/<name>[-<suffix>]-<target>.qcow2`. */
export function volumePathFor(input: { dir: string; name: string; target: string; suffix?: string }): string {
  const base = input.suffix ? `${input.name}-${input.suffix}-${input.target}` : `${input.name}-${input.target}`;
  if (base.includes('/') || base.startsWith('.')) throw ApplicationFailure.nonRetryable(`bad volume name ${base}`, 'BadRequest');
  return path.join(input.dir, `${base}.qcow2`);
}

// ---------------------------------------------------------------------------------------------

const xmlEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');

/** vda..vdz, vdaa.. (libvirt's virIndexToDiskName). */
function diskName(prefix: string, index: number): string {
  let s = '';
  for (let i = index; i >= 0; i = Math.floor(i / 26) - 1) s = String.fromCharCode(97 + (i % 26)) + s;
  return prefix + s;
}

const flatParser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (n) => n === 'disk' });

/** Every disk-like device of a domain XML (disks, cdroms, ...): target, file, alias. */
function listDisks(xml: string): { target: string; file?: string; alias?: string }[] {
  const disks = (flatParser.parse(xml).domain?.devices?.disk ?? []) as {
    source?: { file?: string; dev?: string };
    target?: { dev?: string };
    alias?: { name?: string };
  }[];
  return disks
    .filter((d) => d.target?.dev)
    .map((d) => ({ target: d.target!.dev!, file: d.source?.file ?? d.source?.dev, alias: d.alias?.name }));
}

// Order-preserving XML tree (fast-xml-parser preserveOrder): each node is { tag: children[], ':@': attrs }.
type XNode = Record<string, unknown>;
const XML_OPTS = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  commentPropName: '#comment',
  cdataPropName: '#cdata',
} as const;

const tagOf = (n: XNode) => Object.keys(n).find((k) => k !== ':@')!;
const kids = (n: XNode) => n[tagOf(n)] as XNode[];
const attrsOf = (n: XNode) => ((n[':@'] ??= {}) as Record<string, string>);
const elements = (list: XNode[], tag: string) => list.filter((n) => tagOf(n) === tag);
const el = (tag: string, attrs: Record<string, string> = {}, children: XNode[] = []): XNode =>
  Object.keys(attrs).length ? { [tag]: children, ':@': attrs } : { [tag]: children };

function setText(parent: XNode[], tag: string, text: string, after?: string) {
  const existing = elements(parent, tag)[0];
  if (existing) existing[tag] = [{ '#text': text }];
  else {
    const anchor = after ? parent.findIndex((n) => tagOf(n) === after) : -1;
    parent.splice(anchor + 1, 0, el(tag, {}, [{ '#text': text }]));
  }
}

/** The saved domain XML with a new identity and the disks at their new files. */
export function rewriteDomainXml(
  xml: string,
  newName: string,
  newUuid: string,
  diskMap: Record<string, string>,
): { xml: string; droppedTargets: string[] } {
  const tree = new XMLParser(XML_OPTS).parse(xml) as XNode[];
  const domain = elements(tree, 'domain')[0];
  if (!domain) throw ApplicationFailure.nonRetryable('the backup domain XML has no <domain>', 'CorruptBackup');
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
        const driverAttrs = { ...(oldDriver ? attrsOf(oldDriver) : {}), '@_name': 'qemu', '@_type': 'qcow2' };
        n.disk = [el('driver', driverAttrs), el('source', { '@_file': newPath }), ...c];
      } else if (tag === 'interface') {
        n.interface = kids(n).filter((k) => tagOf(k) !== 'mac');
      }
    }
  }
  const missing = Object.keys(diskMap).filter((t) => !mapped.has(t));
  if (missing.length) throw ApplicationFailure.nonRetryable(`the backup domain XML has no disk ${missing.join(', ')}`, 'DiskMissing');
  return { xml: new XMLBuilder({ ...XML_OPTS, format: false, suppressEmptyNode: true }).build(tree) as string, droppedTargets };
}
