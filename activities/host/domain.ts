import type { DomainInfo, DiskInfo } from '../../common/schemas/inventory';
import { CommandError } from './exec';
import * as qemuImg from './lib/qemuImg';
import { parseDomainXml } from './lib/virt/domainXml';
import { isRunningState, virsh } from './lib/virt/virsh';

/**
 * A disk's virtual size: from libvirt while the domain runs, else from the image header. A file that
 * is missing or unreadable is recorded with size 0 (unknown) rather than failing: one VM with a broken
 * disk must not stop the host's inventory of every other VM.
 */
async function virtualSize(d: Omit<DiskInfo, 'virtualSize'>, domain: string, running: boolean): Promise<number> {
  if (running) {
    const m = /Capacity:\s+(\d+)/.exec(await virsh(['domblkinfo', domain, d.target]));
    if (m) return Number(m[1]);
  }
  try {
    return Number((await qemuImg.info(d.path, d.format))['virtual-size']);
  } catch (e) {
    if (e instanceof CommandError) return 0;
    throw e;
  }
}

/** Everything the catalog keeps about one domain, read from libvirt. */
export async function describeDomain(domain: string): Promise<DomainInfo> {
  const parsed = parseDomainXml(await virsh(['dumpxml', '--inactive', domain]));
  const state = (await virsh(['domstate', domain])).trim();
  const running = isRunningState(state);
  const disks: DiskInfo[] = [];
  for (const d of parsed.disks) disks.push({ ...d, virtualSize: await virtualSize(d, parsed.uuid, running) });
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
