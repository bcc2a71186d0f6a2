import { metrics } from '../../common/metrics';
import type { Pool } from 'pg';
import { inTransaction } from '../../common/db';
import { fail, Failure } from '../../common/failures';
import type { CompressionPlan, ServiceJobType } from '../../common/schemas/serviceJobs';
import { resolveSettings } from '../../common/settings';
import { newId } from '../../common/ids';

/** Backups that depend on this one, and itself: a restore of any of them reads this backup's files. */
const READERS_SQL = `WITH RECURSIVE d AS (SELECT id FROM backups WHERE id = $1 UNION SELECT b.id FROM backups b JOIN d ON b.parent_id = d.id)
  SELECT r.id FROM restores r JOIN d ON d.id = r.backup_id WHERE r.status IN ('Running', 'Consolidating') LIMIT 1`;

/** This backup and the ones it backs onto: a restore of it reads them all. */
const CHAIN_FINALIZING_SQL = `WITH RECURSIVE a AS (SELECT id, parent_id FROM backups WHERE id = $1 UNION SELECT b.id, b.parent_id FROM backups b JOIN a ON b.id = a.parent_id)
  SELECT b.id FROM backups b JOIN a ON a.id = b.id WHERE b.compression_status = 'FinalizingCompression' LIMIT 1`;

/** Which backup of the chain a restore of backupId would read while its files are being swapped, if any. */
export async function finalizingInChain(pool: Pool, backupId: string): Promise<string | null> {
  return (await pool.query(CHAIN_FINALIZING_SQL, [backupId])).rows[0]?.id ?? null;
}

/**
 * A restore just recorded checks, after its row is in, that no backup of its chain is being finalized
 * (finalize checks for restores after setting its status: one of the two always sees the other).
 */
export async function refuseRestoreWhileFinalizing(pool: Pool, restoreId: string, backupId: string): Promise<void> {
  const busy = await finalizingInChain(pool, backupId);
  if (!busy) return;
  const message = `backup ${busy} of this backup's chain is FinalizingCompression: its files are being replaced; restore again when it is done`;
  await pool.query(`UPDATE restores SET status='Failed', error=$2, finished_at=now() WHERE id=$1 AND status='Running' AND phase='planned'`, [restoreId, message]);
  throw fail.nonRetryable(Failure.NotRestorable, message);
}

/** The catalog side of service jobs (compression now, validation later): one row per backup and type. */
export function createServiceJobActivities(pool: Pool) {
  const upsertJob = (c: Pool | import('pg').PoolClient, j: { backupId: string; type: ServiceJobType; workflowId: string }) =>
    c.query(
      `INSERT INTO backup_service_jobs (id, backup_id, host_id, zone_id, type, workflow_id, scheduled_at)
       SELECT $1, b.id, b.host_id, b.zone_id, $3, $4, now() FROM backups b WHERE b.id = $2
       ON CONFLICT (backup_id, type) DO UPDATE SET workflow_id = EXCLUDED.workflow_id`,
      [newId(), j.backupId, j.type, j.workflowId],
    );

  return {
    /** Reads the backup, its files, its offering's library and the zone's compression settings. */
    async planCompression(input: { backupId: string; workflowId: string }): Promise<CompressionPlan> {
      const b = (
        await pool.query(
          `SELECT b.id, b.vm_id, v.name AS vm_name, b.host_id, b.zone_id, b.account_id, h.task_queue, b.status, b.hidden, b.size_bytes::float8 AS size,
                  b.compression_status, o.compression_library, r.id AS repo_id, r.type AS repo_type, r.address, r.mount_options
           FROM backups b JOIN vms v ON v.id = b.vm_id JOIN hosts h ON h.id = b.host_id
           LEFT JOIN backup_offerings o ON o.id = b.offering_id LEFT JOIN backup_repositories r ON r.id = b.repository_id
           WHERE b.id = $1`,
          [input.backupId],
        )
      ).rows[0];
      if (!b) throw fail.nonRetryable(Failure.NotFound, `backup ${input.backupId} not found`);
      const targets = (await pool.query(`SELECT target FROM backup_disks WHERE backup_id=$1 ORDER BY target`, [b.id])).rows.map((d) => d.target);
      const attempts = (await pool.query(`SELECT attempts FROM backup_service_jobs WHERE backup_id=$1 AND type='StartCompression'`, [b.id])).rows[0]?.attempts ?? 0;
      const s = await resolveSettings(
        pool,
        ['backup.compression.max.job.retries', 'backup.compression.retry.interval', 'backup.compression.timeout', 'backup.compression.minimum.free.storage',
          'backup.compression.coroutines', 'backup.compression.rate.limit'],
        { zoneId: b.zone_id, accountId: b.account_id },
      );
      let skip: string | null = null;
      if (b.status !== 'BackedUp' || b.hidden) skip = `backup ${b.id} is ${b.hidden ? 'deleted' : b.status}`;
      else if (!b.repo_id || !targets.length) skip = `backup ${b.id} has no files`;
      else if (b.compression_status === 'Compressed') skip = `backup ${b.id} is compressed already`;
      if (!skip) {
        await upsertJob(pool, { backupId: b.id, type: 'StartCompression', workflowId: input.workflowId });
        await pool.query(`UPDATE backups SET compression_status=COALESCE(compression_status, 'Pending') WHERE id=$1`, [b.id]);
      }
      return {
        backupId: b.id, skip, vm: { id: b.vm_id, name: b.vm_name }, hostId: b.host_id, zoneId: b.zone_id, hostTaskQueue: b.task_queue,
        repository: { id: b.repo_id, type: b.repo_type, address: b.address, mountOptions: b.mount_options ?? '' },
        targets, sizeBytes: Number(b.size ?? 0), library: b.compression_library ?? 'zstd', compressionStatus: b.compression_status, attempts,
        settings: {
          maxRetries: s['backup.compression.max.job.retries'].value,
          retryIntervalMinutes: s['backup.compression.retry.interval'].value,
          timeoutSeconds: s['backup.compression.timeout'].value,
          minimumFreeFactor: s['backup.compression.minimum.free.storage'].value,
          coroutines: s['backup.compression.coroutines'].value,
          rateLimitMB: s['backup.compression.rate.limit'].value,
        },
      };
    },

    /** An attempt begins: counted, shown executing; phase 1 shows the backup Compressing. */
    async startServiceJob(input: { backupId: string; type: ServiceJobType; workflowId: string }): Promise<{ attempts: number }> {
      return inTransaction(pool, async (c) => {
        await upsertJob(c, input);
        const r = await c.query(
          `UPDATE backup_service_jobs SET attempts = attempts + 1, executing = true, started_at = now(), ended_at = NULL, scheduled_at = NULL, result = NULL
           WHERE backup_id = $1 AND type = $2 RETURNING attempts`,
          [input.backupId, input.type],
        );
        if (input.type === 'StartCompression') await c.query(`UPDATE backups SET compression_status='Compressing' WHERE id=$1`, [input.backupId]);
        if (input.type === 'BackupValidation') await c.query(`UPDATE backups SET validation_status='Validating' WHERE id=$1`, [input.backupId]);
        return { attempts: r.rows[0].attempts };
      });
    },

    /**
     * The attempt ended; a failure shows the reason (a compression's also CompressionError), with the next
     * attempt's date if one follows. result: what a successful job found (a re-hash: a mismatch), else Succeeded.
     */
    async endServiceJob(input: { backupId: string; type: ServiceJobType; error?: string; retryInMinutes?: number; result?: string }): Promise<void> {
      await inTransaction(pool, async (c) => {
        const r = await c.query(
          `UPDATE backup_service_jobs j SET executing = false, ended_at = now(), result = $3,
                  scheduled_at = CASE WHEN $4::int IS NULL THEN NULL ELSE now() + make_interval(mins => $4::int) END
           FROM (SELECT executing AS was FROM backup_service_jobs WHERE backup_id = $1 AND type = $2) p
           WHERE j.backup_id = $1 AND j.type = $2 RETURNING p.was`,
          [input.backupId, input.type, (input.error ?? input.result ?? 'Succeeded').slice(0, 4000), input.retryInMinutes ?? null],
        );
        // Counted when the attempt ends, not again when a retry records the same end.
        if (r.rows[0]?.was) metrics.serviceJobs.inc({ type: input.type, result: input.error ? 'Failed' : 'Succeeded' });
        if (input.error && ['StartCompression', 'FinalizeCompression'].includes(input.type)) {
          await c.query(`UPDATE backups SET compression_status='CompressionError', compression_error=$2 WHERE id=$1 AND compression_status <> 'Compressed'`, [
            input.backupId, input.error.slice(0, 4000),
          ]);
        }
      });
    },

    /**
     * Finalize waits, without holding the VM, while a restore reads the chain (retryable; shown on the
     * job's row). beginFinalize checks again under the VM's lock.
     */
    async awaitNoRestoreReading(input: { backupId: string; workflowId: string }): Promise<void> {
      await upsertJob(pool, { backupId: input.backupId, type: 'FinalizeCompression', workflowId: input.workflowId });
      const reader = (await pool.query(READERS_SQL, [input.backupId])).rows[0];
      if (!reader) return;
      await pool.query(`UPDATE backup_service_jobs SET scheduled_at=now(), result=$2 WHERE backup_id=$1 AND type='FinalizeCompression'`, [
        input.backupId, `waiting for restore ${reader.id} to end`,
      ]);
      throw fail.retryable(Failure.RestoreReading, `restore ${reader.id} reads this backup's chain: finalize waits until it ends`);
    },

    /**
     * Finalize may begin: the backup goes FinalizingCompression, then no restore may be reading its
     * chain (checked after the status is in, so a restore recorded meanwhile is seen, or sees it);
     * while one is, the status goes back and this fails retryably: the wait is not an attempt.
     */
    async beginFinalize(input: { backupId: string; workflowId: string }): Promise<void> {
      await upsertJob(pool, { backupId: input.backupId, type: 'FinalizeCompression', workflowId: input.workflowId });
      await pool.query(`UPDATE backups SET compression_status='FinalizingCompression' WHERE id=$1`, [input.backupId]);
      const reader = (await pool.query(READERS_SQL, [input.backupId])).rows[0];
      if (reader) {
        await pool.query(`UPDATE backups SET compression_status='Compressing' WHERE id=$1`, [input.backupId]);
        await pool.query(`UPDATE backup_service_jobs SET scheduled_at=now(), result=$2 WHERE backup_id=$1 AND type='FinalizeCompression'`, [
          input.backupId, `waiting for restore ${reader.id} to end`,
        ]);
        throw fail.retryable(Failure.RestoreReading, `restore ${reader.id} reads this backup's chain: finalize waits until it ends`);
      }
    },

    /**
     * The compressed files are in place: the catalog records their sizes and the size before. Their
     * hashes (if it was hashed before it was compressed) are of other bytes now: they go, and the
     * lifecycle hashes the backup again.
     */
    async markCompressed(input: { backupId: string; disks: { target: string; sizeBytes: number }[] }): Promise<void> {
      await inTransaction(pool, async (c) => {
        await c.query(`DELETE FROM backup_file_hashes WHERE backup_id = $1`, [input.backupId]);
        for (const d of input.disks) {
          await c.query(`UPDATE backup_disks SET size_bytes=$3 WHERE backup_id=$1 AND target=$2`, [input.backupId, d.target, d.sizeBytes]);
        }
        await c.query(
          `UPDATE backups SET uncompressed_size = COALESCE(uncompressed_size, size_bytes), size_bytes = $2, compression_status = 'Compressed', compression_error = NULL
           WHERE id = $1`,
          [input.backupId, input.disks.reduce((s, d) => s + d.sizeBytes, 0)],
        );
      });
    },

    /**
     * Backups that may be due a service job (compress, validate or hash: nextServiceJob decides which),
     * e.g. taken while the task was off, or left unhashed by a job that failed. The sync task's round starts them.
     */
    async dueServiceJobs(input: { zoneId?: string }): Promise<{ backupId: string }[]> {
      const r = await pool.query(
        `SELECT b.id FROM backups b LEFT JOIN backup_offerings o ON o.id = b.offering_id
         WHERE b.status = 'BackedUp' AND NOT b.hidden AND b.host_id IS NOT NULL AND ($1::uuid IS NULL OR b.zone_id = $1)
           AND ((b.provider = 'kboss' AND o.compress AND b.compression_status IS NULL)
             OR (b.provider = 'kboss' AND o.validate AND b.validation_status IS NULL)
             OR (EXISTS (SELECT 1 FROM backup_disks d WHERE d.backup_id = b.id) AND NOT EXISTS (SELECT 1 FROM backup_file_hashes h WHERE h.backup_id = b.id)))
         ORDER BY b.created_at`,
        [input.zoneId ?? null],
      );
      return r.rows.map((x) => ({ backupId: x.id }));
    },

    /** Backups due for compression (offering compresses, never started), e.g. after the task is turned on. */
    async dueCompressions(input: { zoneId?: string }): Promise<{ backupId: string }[]> {
      const r = await pool.query(
        `SELECT b.id FROM backups b JOIN backup_offerings o ON o.id = b.offering_id
         WHERE b.status = 'BackedUp' AND NOT b.hidden AND b.provider = 'kboss' AND o.compress AND b.compression_status IS NULL
           AND ($1::uuid IS NULL OR b.zone_id = $1) ORDER BY b.created_at`,
        [input.zoneId ?? null],
      );
      return r.rows.map((x) => ({ backupId: x.id }));
    },
  };
}
