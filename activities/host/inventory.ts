import { hostConfig } from '../../common/config';
import { VALIDATION_VM_PREFIX } from '../../common/layout';
import type { DomainInfo } from '../../common/schemas/inventory';
import { describeDomain, listDomainUuids } from './domain';
import { isDomainNotFound } from './lib/virt/virsh';

/**
 * Reads every domain on this host, BACKFLOW_HOST_INVENTORY_CONCURRENCY at a time, in libvirt's order. A
 * domain undefined while we read it is skipped, not an error; so is a throwaway validation VM (bfval-*),
 * which is no VM of the catalog's.
 */
export async function collectInventory(): Promise<DomainInfo[]> {
  const uuids = await listDomainUuids();
  const found: (DomainInfo | null)[] = new Array(uuids.length).fill(null);
  let next = 0;
  const reader = async () => {
    for (let i = next++; i < uuids.length; i = next++) {
      try {
        const d = await describeDomain(uuids[i]);
        if (!d.name.startsWith(VALIDATION_VM_PREFIX)) found[i] = d;
      } catch (e) {
        if (!isDomainNotFound(e)) throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(hostConfig().inventoryConcurrency, uuids.length) }, reader));
  return found.filter((d): d is DomainInfo => d !== null);
}
