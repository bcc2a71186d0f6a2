import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { HostFacts } from '../../common/schemas/inventory';
import { ensureBackupSync } from '../../common/backupSync';
import { inTransaction } from '../../common/db';

export function createHostActivities(pool: Pool, temporal?: Client) {
  return {
    /**
     * Upserts the host (and its zone) from the facts its worker reported at start-up, and makes sure the
     * zone has its background sync task: a zone created after the control worker started gets it here.
     */
    async registerHost(facts: HostFacts): Promise<{ hostId: string; zoneId: string }> {
      const registered = await inTransaction(pool, async (c) => {
        const zone = await c.query(
          `INSERT INTO zones (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id`,
          [facts.zone],
        );
        const zoneId: string = zone.rows[0].id;
        await c.query(
          `INSERT INTO hosts (id, name, zone_id, task_queue, libvirt_uri, cpus, memory_bytes, storage_paths, worker_version, status, status_reason, last_seen_at)
           VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,'Up',NULL,now())
           ON CONFLICT (id) DO UPDATE SET name=$2, zone_id=$3, task_queue=$4, libvirt_uri=$5, cpus=$6, memory_bytes=$7,
             storage_paths=$8, worker_version=$9, status='Up', status_reason=NULL, last_seen_at=now()`,
          [facts.id, facts.name, zoneId, facts.taskQueue, facts.libvirtUri, facts.cpus, facts.memoryBytes, facts.storagePaths, facts.workerVersion],
        );
        return { hostId: facts.id, zoneId };
      });
      // After the commit, so the sync's first round finds the zone; joins a sync already running (USE_EXISTING).
      if (temporal) await ensureBackupSync(temporal, { id: registered.zoneId, name: facts.zone });
      return registered;
    },

    /** The host's worker did not answer: operators see it Down, with why. */
    async markHostDown(input: { hostId: string; reason: string }): Promise<void> {
      await pool.query(`UPDATE hosts SET status='Down', status_reason=$2 WHERE id=$1`, [input.hostId, input.reason]);
    },
  };
}
