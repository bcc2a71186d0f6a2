import type { Pool } from 'pg';
import { inTransaction } from '../../common/db';
import { resolveSetting } from '../../common/settings';
import type { RepositoryRef } from '../../common/schemas/backups';
import type { ExpectedBackup, ScanResult } from '../host/repositoryScan';

export interface SyncTarget { repository: RepositoryRef; name: string; hostTaskQueue: string; expected: ExpectedBackup[]; knownBackupIds: string[]; knownVmIds: string[] }

/** The catalog side of the background sync task (backup.framework.sync.interval). */
export function createSyncActivities(pool: Pool) {
  return {
    /** Read each round, so a changed setting takes effect without a restart. */
    async syncIntervalSeconds(): Promise<number> {
      return (await resolveSetting(pool, 'backup.framework.sync.interval')).value;
    },

    /** Each repository of the zone, a host that is Up to look at it from, and what the catalog says it holds. */
    async planSync(input: { zoneId: string }): Promise<{ zoneName: string; targets: SyncTarget[] }> {
      const zone = (await pool.query(`SELECT name FROM zones WHERE id = $1`, [input.zoneId])).rows[0];
      const host = (await pool.query(`SELECT task_queue FROM hosts WHERE zone_id = $1 AND status = 'Up' ORDER BY last_seen_at DESC NULLS LAST LIMIT 1`, [input.zoneId])).rows[0];
      if (!zone || !host) return { zoneName: zone?.name ?? input.zoneId, targets: [] };
      const repos = await pool.query(`SELECT id, name, type, address, mount_options FROM backup_repositories WHERE zone_id = $1 ORDER BY name`, [input.zoneId]);
      const targets: SyncTarget[] = [];
      for (const r of repos.rows) {
        const expected = await pool.query(
          `SELECT b.id AS "backupId", b.vm_id AS "vmUuid",
                  json_agg(json_build_object('file', d.file, 'virtualSize', d.virtual_size) ORDER BY d.target) AS disks
           FROM backups b JOIN backup_disks d ON d.backup_id = b.id
           WHERE b.repository_id = $1 AND b.status = 'BackedUp' AND d.file <> '' GROUP BY b.id`,
          [r.id],
        );
        const known = await pool.query(`SELECT id, vm_id FROM backups WHERE repository_id = $1 AND status <> 'Expunged'`, [r.id]);
        targets.push({
          repository: { id: r.id, type: r.type, address: r.address, mountOptions: r.mount_options ?? '' },
          name: r.name,
          hostTaskQueue: host.task_queue,
          expected: expected.rows.map((e) => ({ ...e, disks: e.disks.map((d: { file: string; virtualSize: string | number }) => ({ file: d.file, virtualSize: Number(d.virtualSize) })) })),
          knownBackupIds: known.rows.map((k) => k.id),
          knownVmIds: [...new Set<string>(known.rows.map((k) => k.vm_id))],
        });
      }
      return { zoneName: zone.name, targets };
    },

    /**
     * Applies one repository's scan: broken backups become Missing (with the reason) unless they changed
     * meanwhile; orphan folders are recorded (and forgotten once gone); the VM's next backup starts a new chain
     * when its latest backup went Missing.
     */
    async applySync(input: { repositoryId: string; scan: ScanResult }): Promise<{ marked: string[]; orphans: number }> {
      return inTransaction(pool, async (c) => {
        const marked: string[] = [];
        for (const b of input.scan.broken) {
          const up = await c.query(`UPDATE backups SET status = 'Missing', error = $2 WHERE id = $1 AND status = 'BackedUp' RETURNING vm_id`, [b.backupId, b.reason]);
          if (!up.rowCount) continue;
          marked.push(b.backupId);
          await c.query(`UPDATE vms SET chain_break_reason = $2 WHERE id = $1`, [up.rows[0].vm_id, `backup ${b.backupId} is missing from its repository`]);
        }
        for (const p of input.scan.orphans) {
          await c.query(
            `INSERT INTO repository_orphans (repository_id, path) VALUES ($1, $2)
             ON CONFLICT (repository_id, path) DO UPDATE SET last_seen_at = now()`,
            [input.repositoryId, p],
          );
        }
        await c.query(`DELETE FROM repository_orphans WHERE repository_id = $1 AND NOT (path = ANY($2::text[]))`, [input.repositoryId, input.scan.orphans]);
        return { marked, orphans: input.scan.orphans.length };
      });
    },

    /**
     * One usage row per VM of the zone that has backups or an offering: the bytes on disk of its good
     * backups' folders (as this round's scans measured them) and its protected capacity (virtual size
     * while under an offering).
     */
    async recordUsage(input: { zoneId: string; bytes: Record<string, number> }): Promise<{ rows: number }> {
      const r = await pool.query(
        `WITH measured AS (SELECT key::uuid AS id, value::bigint AS bytes FROM jsonb_each_text($2::jsonb))
         INSERT INTO backup_usage (zone_id, account_id, vm_id, offering_id, backup_bytes, protected_bytes)
         SELECT v.zone_id, v.account_id, v.id, v.backup_offering_id,
                COALESCE((SELECT sum(m.bytes) FROM backups b JOIN measured m ON m.id = b.id WHERE b.vm_id = v.id AND b.status = 'BackedUp'), 0),
                CASE WHEN v.backup_offering_id IS NULL THEN 0 ELSE COALESCE((SELECT sum(d.virtual_size) FROM vm_disks d WHERE d.vm_id = v.id), 0) END
         FROM vms v
         WHERE v.zone_id = $1 AND (v.backup_offering_id IS NOT NULL OR EXISTS (SELECT 1 FROM backups b WHERE b.vm_id = v.id AND b.status = 'BackedUp'))`,
        [input.zoneId, JSON.stringify(input.bytes)],
      );
      return { rows: r.rowCount ?? 0 };
    },
  };
}
