import { describeDomain, listDomainUuids } from './domain';
import type { DomainInfo } from '../../common/schemas/inventory';
import { CommandError } from './exec';

/** Reads every domain on this host. A domain undefined while we read it is skipped, not an error. */
export async function collectInventory(): Promise<DomainInfo[]> {
  const out: DomainInfo[] = [];
  for (const uuid of await listDomainUuids()) {
    try {
      out.push(await describeDomain(uuid));
    } catch (e) {
      if (e instanceof CommandError && /failed to get domain|Domain not found/i.test(e.stderr)) continue;
      throw e;
    }
  }
  return out;
}
