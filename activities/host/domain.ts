import { XMLParser } from 'fast-xml-parser';
import { virsh } from './virsh';
import { run } from './exec';
import type { DomainInfo, DiskInfo } from '../../common/schemas/inventory';

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (n) => ['disk', 'channel'].includes(n) });

interface XmlDisk { type?: string; device?: string; driver?: { type?: string }; source?: { file?: string; dev?: string }; target?: { dev?: string } }

/** Parses what a backup or restore needs from a domain's XML. */
export function parseDomainXml(xml: string): { name: string; uuid: string; disks: Omit<DiskInfo, 'virtualSize'>[]; hasAgentChannel: boolean } {
  const dom = parser.parse(xml).domain;
  const devices = dom.devices ?? {};
  const disks = ((devices.disk ?? []) as XmlDisk[])
    .filter((d) => (d.device ?? 'disk') === 'disk' && d.target?.dev && (d.source?.file || d.source?.dev))
    .map((d) => ({ target: d.target!.dev!, path: (d.source!.file ?? d.source!.dev)!, format: d.driver?.type ?? 'raw' }));
  const channels = (devices.channel ?? []) as { target?: { name?: string } }[];
  return {
    name: String(dom.name),
    uuid: String(dom.uuid),
    disks,
    hasAgentChannel: channels.some((c) => c.target?.name === 'org.qemu.guest_agent.0'),
  };
}

export async function domainState(domain: string): Promise<string> {
  return (await virsh(['domstate', domain])).trim();
}

async function virtualSize(path: string, format: string, domain: string, target: string, running: boolean): Promise<number> {
  if (running) {
    const info = await virsh(['domblkinfo', domain, target]);
    const m = /Capacity:\s+(\d+)/.exec(info);
    if (m) return Number(m[1]);
  }
  // -U: the image may be open by a running QEMU; we only read its header.
  // -f: a raw disk is never probed (its bytes are the guest's, and could look like a qcow2 header).
  const out = await run('qemu-img', ['info', '-U', '--output=json', '-f', format, path]);
  return Number(JSON.parse(out)['virtual-size']);
}

/** Everything the catalog keeps about one domain, read from libvirt. */
export async function describeDomain(domain: string): Promise<DomainInfo> {
  const xml = await virsh(['dumpxml', '--inactive', domain]);
  const parsed = parseDomainXml(xml);
  const state = await domainState(domain);
  const running = state === 'running' || state === 'paused';
  const disks: DiskInfo[] = [];
  for (const d of parsed.disks) disks.push({ ...d, virtualSize: await virtualSize(d.path, d.format, parsed.uuid, d.target, running) });
  return { uuid: parsed.uuid, name: parsed.name, state, disks, hasAgentChannel: parsed.hasAgentChannel };
}

/** UUIDs of every domain defined or running on this host. */
export async function listDomainUuids(): Promise<string[]> {
  const out = await virsh(['list', '--all', '--uuid']);
  return out.split('\n').map((s) => s.trim()).filter(Boolean);
}

/** Host activity: the domain as the catalog sees it, plus its XML (kept with each backup). */
export async function describeVm(input: { uuid: string }): Promise<DomainInfo & { xml: string }> {
  const info = await describeDomain(input.uuid);
  return { ...info, xml: await virsh(['dumpxml', '--inactive', '--security-info', input.uuid]) };
}
