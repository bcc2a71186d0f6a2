import { VALIDATION_VM_PREFIX } from '../../common/layout';
import type { DomainInfo } from '../../common/schemas/inventory';
import { describeDomain, listDomainUuids } from './domain';
import { isDomainNotFound } from './lib/virt/virsh';

/**
 * Reads every domain on this host. A domain undefined while we read it is skipped, not an error; so is
 * a throwaway validation VM (bfval-*), which is no VM of the catalog's.
 */
export async function collectInventory(): Promise<DomainInfo[]> {
  const out: DomainInfo[] = [];
  for (const uuid of await listDomainUuids()) {
    try {
      const d = await describeDomain(uuid);
      if (!d.name.startsWith(VALIDATION_VM_PREFIX)) out.push(d);
    } catch (e) {
      if (isDomainNotFound(e)) continue;
      throw e;
    }
  }
  return out;
}
