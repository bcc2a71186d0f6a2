import { XMLParser } from 'fast-xml-parser';
import type { DiskInfo } from '../../../../common/schemas/inventory';

/** Escapes text for an XML attribute (either quote) or element. */
export const xmlEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (n) => ['disk', 'channel'].includes(n) });

type Source = { file?: string; dev?: string };
interface XmlDisk {
  device?: string;
  driver?: { type?: string };
  source?: Source;
  target?: { dev?: string };
  alias?: { name?: string };
  backingStore?: { source?: Source } | string;
}

/** A disk-like device of a domain (disk, cdrom, ...); backing: its backing file if libvirt shows one. */
export interface DomainDisk { target: string; device: string; file?: string; format: string; alias?: string; backing: string | null }

/** Every disk-like device of a domain XML that has a target. */
export function domainDisks(xml: string): DomainDisk[] {
  const disks = (parser.parse(xml).domain?.devices?.disk ?? []) as XmlDisk[];
  return disks
    .filter((d) => d.target?.dev)
    .map((d) => {
      const bs = d.backingStore;
      return {
        target: d.target!.dev!,
        device: d.device ?? 'disk',
        file: d.source?.file ?? d.source?.dev,
        format: d.driver?.type ?? 'raw',
        alias: d.alias?.name,
        backing: bs && typeof bs === 'object' && bs.source ? (bs.source.file ?? bs.source.dev ?? 'yes') : null,
      };
    });
}

/** What a backup or restore needs from a domain's XML: its identity, its disks with a file, its agent channel. */
export function parseDomainXml(xml: string): { name: string; uuid: string; disks: Omit<DiskInfo, 'virtualSize'>[]; hasAgentChannel: boolean } {
  const dom = parser.parse(xml).domain;
  const channels = (dom.devices?.channel ?? []) as { target?: { name?: string } }[];
  return {
    name: String(dom.name),
    uuid: String(dom.uuid),
    disks: domainDisks(xml)
      .filter((d) => d.device === 'disk' && d.file)
      .map((d) => ({ target: d.target, path: d.file!, format: d.format })),
    hasAgentChannel: channels.some((c) => c.target?.name === 'org.qemu.guest_agent.0'),
  };
}
