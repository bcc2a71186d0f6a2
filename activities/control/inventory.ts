import type { Pool } from 'pg';
import type { DomainInfo } from '../../common/schemas/inventory';
import { inTransaction } from '../../common/db';

/** libvirt's domstate words, as the catalog shows them. */
const STATES: Record<string, string> = {
  running: 'Running',
  'shut off': 'Stopped',
  paused: 'Paused',
  crashed: 'Crashed',
  'in shutdown': 'Stopping',
  pmsuspended: 'Suspended',
  blocked: 'Running',
};
export const catalogState = (libvirtState: string) => STATES[libvirtState] ?? 'Unknown';

export function createInventoryActivities(pool: Pool) {
  return {
    /**
     * Makes the catalog match what the host's libvirt has: new domains appear (unowned), known ones get
     * their state and disks refreshed, and domains no longer on the host are marked removed.
     */
    async saveInventory(input: { hostId: string; domains: DomainInfo[] }): Promise<{ vms: number; removed: number }> {
      return inTransaction(pool, async (c) => {
        const host = await c.query(`SELECT zone_id FROM hosts WHERE id=$1`, [input.hostId]);
        if (!host.rowCount) throw new Error(`host ${input.hostId} is not registered`);
        const zoneId: string = host.rows[0].zone_id;
        for (const d of input.domains) {
          await c.query(
            `INSERT INTO vms (id, name, host_id, zone_id, state, has_agent) VALUES ($1,$2,$3,$4,$5,$6)
             ON CONFLICT (id) DO UPDATE SET name=$2, host_id=$3, zone_id=$4, state=$5, has_agent=$6, removed_at=NULL, updated_at=now()`,
            [d.uuid, d.name, input.hostId, zoneId, catalogState(d.state), d.hasAgentChannel],
          );
          await c.query(`DELETE FROM vm_disks WHERE vm_id=$1`, [d.uuid]);
          for (const disk of d.disks) {
            await c.query(`INSERT INTO vm_disks (vm_id, target, path, format, virtual_size) VALUES ($1,$2,$3,$4,$5)`, [
              d.uuid, disk.target, disk.path, disk.format, disk.virtualSize,
            ]);
          }
        }
        const gone = await c.query(
          `UPDATE vms SET state='Removed', removed_at=now(), updated_at=now()
           WHERE host_id=$1 AND removed_at IS NULL AND NOT (id = ANY($2::uuid[]))`,
          [input.hostId, input.domains.map((d) => d.uuid)],
        );
        await c.query(`UPDATE hosts SET status='Up', status_reason=NULL, last_seen_at=now(), last_sync_at=now() WHERE id=$1`, [input.hostId]);
        return { vms: input.domains.length, removed: gone.rowCount ?? 0 };
      });
    },
  };
}
