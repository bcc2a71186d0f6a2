import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { inTransaction } from '../../common/db';
import { fail, Failure } from '../../common/failures';
import { startOperation } from '../../common/operations';
import type { RepositoryRef } from '../../common/schemas/backups';
import { resolveSettings } from '../../common/settings';

/** The catalog side of content hashes (backup_file_hashes): plans, records, re-hash comparisons, due lists. */

export interface HashPlan {
  backupId: string;
  /** Why there is nothing to do (gone, not BackedUp, hashed already, not hashed yet, NotValid by a re-hash), or null. */
  skip: string | null;
  vm: { id: string; name: string };
  hostId: string;
  zoneId: string;
  zone: string;
  hostTaskQueue: string;
  repository: RepositoryRef;
  /** The backup's own files, relative to the repository root. */
  files: { target: string; file: string }[];
}

export interface RehashMismatch { target: string; file: string; expected: string; found: string }

/** A backup to re-hash, with what its workflow id and search attributes need. */
export interface RehashTarget { backupId: string; vmId: string; vmName: string; hostId: string; zone: string }

export const rehashWorkflowId = (vmName: string, backupId: string) => `rehash-${vmName}-${backupId}`;

/** Hashed, final backups (not NotValid by a re-hash already), for one backup, a VM's, or a zone's. */
const REHASH_TARGETS_SQL = `SELECT b.id AS "backupId", b.vm_id AS "vmId", v.name AS "vmName", b.host_id AS "hostId", z.name AS zone
  FROM backups b JOIN vms v ON v.id = b.vm_id JOIN zones z ON z.id = b.zone_id
  WHERE b.status = 'BackedUp' AND NOT b.hidden AND b.host_id IS NOT NULL
    AND EXISTS (SELECT 1 FROM backup_file_hashes h WHERE h.backup_id = b.id)
    AND NOT (b.validation_status IS NOT DISTINCT FROM 'NotValid' AND b.validation_step IS NOT DISTINCT FROM 'rehash')`;

export async function rehashTargets(pool: Pool, where: { backupId?: string; vmId?: string; accountId?: string | null; zoneId?: string }): Promise<RehashTarget[]> {
  const r = await pool.query(
    `${REHASH_TARGETS_SQL} AND ($1::uuid IS NULL OR b.id = $1) AND ($2::uuid IS NULL OR b.vm_id = $2)
       AND ($3::uuid IS NULL OR b.account_id = $3) AND ($4::uuid IS NULL OR b.zone_id = $4) ORDER BY b.created_at`,
    [where.backupId ?? null, where.vmId ?? null, where.accountId ?? null, where.zoneId ?? null],
  );
  return r.rows;
}

/**
 * Starts a re-hash workflow per backup (rehashBackupWorkflow, by type name); one already running for a
 * backup is joined (USE_EXISTING), not doubled. Used by the periodic round and the verify-now routes.
 */
export async function startRehashes(temporal: Client, targets: RehashTarget[]): Promise<{ backupId: string; workflowId: string }[]> {
  const out = [];
  for (const t of targets) {
    const h = await startOperation(temporal, 'rehashBackupWorkflow', {
      workflowId: rehashWorkflowId(t.vmName, t.backupId),
      input: { backupId: t.backupId },
      subject: { operation: 'rehash', vmId: t.vmId, backupId: t.backupId, hostId: t.hostId, zone: t.zone },
    });
    out.push({ backupId: t.backupId, workflowId: h.workflowId });
  }
  return out;
}

/**
 * The backup itself if it is NotValid, else the first backup of its chain below it that a re-hash found
 * changed (its bytes are read by a restore of this one), or null: a restore of it needs `force`.
 */
export async function notValidInChain(pool: Pool, backupId: string): Promise<{ id: string; step: string; reason: string } | null> {
  const r = await pool.query(
    `WITH RECURSIVE a AS (SELECT id, parent_id, 0 AS depth FROM backups WHERE id = $1
       UNION SELECT b.id, b.parent_id, a.depth + 1 FROM backups b JOIN a ON b.id = a.parent_id)
     SELECT b.id, b.validation_step AS step, COALESCE(b.validation_error, '') AS reason FROM backups b JOIN a ON a.id = b.id
     WHERE b.validation_status = 'NotValid' AND (a.depth = 0 OR b.validation_step = 'rehash') ORDER BY a.depth LIMIT 1`,
    [backupId],
  );
  return r.rows[0] ?? null;
}

export function createHashActivities(pool: Pool, temporal?: Client) {
  return {
    /** Everything a hash or re-hash of the backup needs; `skip` says why there is nothing to do. */
    async planHash(input: { backupId: string; kind: 'hash' | 'rehash' }): Promise<HashPlan> {
      const b = (await pool.query(
        `SELECT b.id, b.vm_id, v.name AS vm_name, b.host_id, b.zone_id, z.name AS zone, h.task_queue, b.status, b.hidden,
                b.validation_status, b.validation_step, r.id AS repo_id, r.type AS repo_type, r.address, r.mount_options,
                (SELECT count(*)::int FROM backup_file_hashes x WHERE x.backup_id = b.id) AS hashes
         FROM backups b JOIN vms v ON v.id = b.vm_id JOIN zones z ON z.id = b.zone_id LEFT JOIN hosts h ON h.id = b.host_id
         LEFT JOIN backup_repositories r ON r.id = b.repository_id WHERE b.id = $1`,
        [input.backupId],
      )).rows[0];
      if (!b) throw fail.nonRetryable(Failure.NotFound, `backup ${input.backupId} not found`);
      const files = (await pool.query(`SELECT target, file FROM backup_disks WHERE backup_id = $1 AND file IS NOT NULL ORDER BY target`, [b.id])).rows;
      let skip: string | null = null;
      if (b.status !== 'BackedUp' || b.hidden) skip = `backup ${b.id} is ${b.hidden ? 'deleted' : b.status}`;
      else if (!b.repo_id || !files.length || !b.task_queue) skip = `backup ${b.id} has no files`;
      else if (input.kind === 'hash' && b.hashes > 0) skip = `backup ${b.id} is hashed already`;
      else if (input.kind === 'rehash' && b.hashes === 0) skip = `backup ${b.id} is not hashed yet`;
      else if (input.kind === 'rehash' && b.validation_status === 'NotValid' && b.validation_step === 'rehash') skip = `backup ${b.id} is NotValid by a re-hash already`;
      return {
        backupId: b.id, skip, vm: { id: b.vm_id, name: b.vm_name }, hostId: b.host_id, zoneId: b.zone_id, zone: b.zone, hostTaskQueue: b.task_queue,
        repository: { id: b.repo_id, type: b.repo_type, address: b.address, mountOptions: b.mount_options ?? '' }, files,
      };
    },

    /** Records the backup's hashes (replacing any), if it is still a BackedUp backup. */
    async recordHashes(input: { backupId: string; algorithm: string; files: { target: string; file: string; hash: string; sizeBytes: number }[] }): Promise<{ recorded: boolean }> {
      return inTransaction(pool, async (c) => {
        const ok = await c.query(`SELECT 1 FROM backups WHERE id = $1 AND status = 'BackedUp' AND NOT hidden FOR UPDATE`, [input.backupId]);
        if (!ok.rowCount) return { recorded: false };
        await c.query(`DELETE FROM backup_file_hashes WHERE backup_id = $1`, [input.backupId]);
        for (const f of input.files) {
          await c.query(`INSERT INTO backup_file_hashes (backup_id, target, file, algorithm, hash, size_bytes) VALUES ($1,$2,$3,$4,$5,$6)`, [
            input.backupId, f.target, f.file, input.algorithm, f.hash, f.sizeBytes,
          ]);
        }
        return { recorded: true };
      });
    },

    /** Before a file is rewritten in place (a merge): its hashes go, so no re-hash compares the new bytes with them. */
    async clearHashes(input: { backupId: string }): Promise<{ cleared: number }> {
      return { cleared: (await pool.query(`DELETE FROM backup_file_hashes WHERE backup_id = $1`, [input.backupId])).rowCount ?? 0 };
    },

    /**
     * A re-hash's findings against the hashes recorded now: each file that matches gets verified_at, the
     * others are returned. A file with no recorded hash (cleared meanwhile: compressed, merged) is neither.
     */
    async compareHashes(input: { backupId: string; found: { target: string; hash: string }[] }): Promise<{ mismatches: RehashMismatch[]; verified: number }> {
      const rows = (await pool.query(`SELECT target, file, hash FROM backup_file_hashes WHERE backup_id = $1`, [input.backupId])).rows;
      const mismatches: RehashMismatch[] = [];
      let verified = 0;
      for (const f of input.found) {
        const row = rows.find((x) => x.target === f.target);
        if (!row) continue;
        if (row.hash !== f.hash) {
          mismatches.push({ target: f.target, file: row.file, expected: row.hash, found: f.hash });
          continue;
        }
        verified += (await pool.query(`UPDATE backup_file_hashes SET verified_at = now() WHERE backup_id = $1 AND target = $2 AND hash = $3`, [
          input.backupId, f.target, f.hash,
        ])).rowCount ?? 0;
      }
      return { mismatches, verified };
    },

    /** backup.validation.interval of the zone, in hours, read at each round of the periodic re-hash. */
    async rehashIntervalHours(input: { zoneId: string }): Promise<number> {
      return (await resolveSettings(pool, ['backup.validation.interval'], { zoneId: input.zoneId }))['backup.validation.interval'].value;
    },

    /** One round of the periodic re-hash: a re-hash workflow for each hashed backup of the zone. */
    async startZoneRehashes(input: { zoneId: string }): Promise<{ started: number }> {
      if (!temporal) throw new Error('startZoneRehashes needs a Temporal client');
      return { started: (await startRehashes(temporal, await rehashTargets(pool, { zoneId: input.zoneId }))).length };
    },
  };
}
