import type { DomainInfo } from '../../common/schemas/inventory';
import { describeDomain, listDomainUuids } from './domain';
import { isDomainNotFound } from './lib/virt/virsh';

/** Reads every domain on this host. A domain undefined while we read it is skipped, not an error. */
export async function collectInventory(): Promise<DomainInfo[]> {
  const out: DomainInfo[] = [];
  for (const uuid of await listDomainUuids()) {
    try {
      out.push(await describeDomain(uuid));
    } catch (e) {
      if (isDomainNotFound(e)) continue;
      throw e;
    }
  }
  return out;
}
