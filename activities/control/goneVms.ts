import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { deleteVmSchedules } from './schedules';

/**
 * How long the inventory must have missed a VM before it counts as gone for good. A VM moved to another
 * host, or whose host was down for a while, is seen again well within it; one that is not was deleted.
 */
export const GONE_FOR_GOOD_SECONDS = 24 * 3600;

export function createGoneVmActivities(pool: Pool, client?: Client) {
  return {
    /** The sync task's step: every schedule of a zone's VMs gone for good goes, from Temporal and the catalog. */
    async deleteSchedulesOfGoneVms(input: { zoneId: string; goneForSeconds?: number }): Promise<{ vmIds: string[]; deleted: string[] }> {
      if (!client) throw new Error('deleteSchedulesOfGoneVms needs a Temporal client');
      const vms = await pool.query<{ id: string }>(
        `SELECT DISTINCT v.id FROM vms v JOIN backup_schedules s ON s.vm_id = v.id
         WHERE v.zone_id = $1 AND v.removed_at < now() - make_interval(secs => $2)`,
        [input.zoneId, input.goneForSeconds ?? GONE_FOR_GOOD_SECONDS],
      );
      const deleted: string[] = [];
      for (const { id } of vms.rows) deleted.push(...(await deleteVmSchedules(pool, client, id)));
      return { vmIds: vms.rows.map((r) => r.id), deleted };
    },
  };
}
