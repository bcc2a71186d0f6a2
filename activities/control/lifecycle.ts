import type { Pool } from 'pg';
import { resolveSettings } from '../../common/settings';
import type { NextServiceJob } from '../../common/schemas/serviceJobs';

/**
 * The order of a backup's life after it is taken (../shared/backup-lifecycle.md): compress, then
 * validate, then hash. Each job, when it ends, asks this which one comes next, so the order lives here once.
 */
export function createLifecycleActivities(pool: Pool) {
  return {
    async nextServiceJob(input: { backupId: string }): Promise<NextServiceJob | null> {
      const b = (await pool.query(
        `SELECT b.vm_id, v.name AS vm_name, b.host_id, z.name AS zone, b.zone_id, b.account_id, b.provider, b.status, b.hidden,
                b.compression_status, b.validation_status, COALESCE(o.compress, false) AS compress, COALESCE(o.validate, false) AS validate,
                EXISTS (SELECT 1 FROM backup_file_hashes h WHERE h.backup_id = b.id) AS hashed,
                EXISTS (SELECT 1 FROM backup_disks d WHERE d.backup_id = b.id) AS has_files
         FROM backups b JOIN vms v ON v.id = b.vm_id JOIN zones z ON z.id = b.zone_id
         LEFT JOIN backup_offerings o ON o.id = b.offering_id WHERE b.id = $1`,
        [input.backupId],
      )).rows[0];
      if (!b || b.status !== 'BackedUp' || b.hidden || !b.host_id) return null;
      const s = await resolveSettings(pool, ['backup.compression.task.enabled', 'backup.validation.task.enabled'], { zoneId: b.zone_id, accountId: b.account_id });
      const job = (kind: NextServiceJob['kind']): NextServiceJob => ({ kind, backupId: input.backupId, vmId: b.vm_id, vmName: b.vm_name, hostId: b.host_id, zone: b.zone });
      const kboss = b.provider === 'kboss';
      if (kboss && b.compress && b.compression_status === null && s['backup.compression.task.enabled'].value) return job('compress');
      // A compression under way starts what follows when it ends.
      if (['Pending', 'Compressing', 'FinalizingCompression'].includes(b.compression_status)) return null;
      if (kboss && b.validate && b.validation_status === null && s['backup.validation.task.enabled'].value) return job('validate');
      if (['Pending', 'Validating'].includes(b.validation_status)) return null;
      // Every backup with files is hashed once it is final, validated or not.
      if (b.has_files && !b.hashed) return job('hash');
      return null;
    },
  };
}
