import type { Pool } from 'pg';
import { inTransaction } from '../../common/db';
import { offeringOpenSql } from '../../common/offeringAccess';
import { resolveSettings } from '../../common/settings';
import type { BackupDiskRecord, BackupPlan, BackupWorkflowInput, ChainDecision } from '../../common/schemas/backups';
import { fail, Failure } from '../../common/failures';
import { activityLog } from '../../common/log';
import { observeBackup, type EndedBackup } from '../../common/metrics';

/** The ended backup's figures for the metrics, from the row an UPDATE returns. */
const ENDED = `status, provider, type, duration_ms AS "durationMs", size_bytes AS "sizeBytes", freeze_ms AS "freezeMs"`;

/** Counts a backup that has just ended, and says so in the log (the line carries its workflow and backup ids). */
function ended(b: EndedBackup): void {
  observeBackup(b);
  activityLog().info(`backup ${b.status}`, { ...b });
}

/** The backup rows of the catalog: every status change a backup workflow makes goes through here. */
export function createBackupActivities(pool: Pool) {
  return {
    /** Creates the backup row (Allocated) once, and reads what the workflow needs to run it. */
    async allocateBackup(input: BackupWorkflowInput & { workflowId: string }): Promise<BackupPlan> {
      const r = await pool.query(
        `SELECT v.id, v.name, v.zone_id, z.name AS zone_name, v.host_id, h.task_queue, v.account_id,
                o.id AS offering_id, o.provider, o.backup_chain_size, r.id AS repo_id, r.type AS repo_type, r.address, r.mount_options
         FROM vms v JOIN zones z ON z.id = v.zone_id JOIN hosts h ON h.id = v.host_id
         LEFT JOIN backup_offerings o ON o.id = v.backup_offering_id
         LEFT JOIN backup_repositories r ON r.id = o.repository_id
         WHERE v.id = $1`,
        [input.vmId],
      );
      if (!r.rowCount) throw fail.nonRetryable(Failure.NotFound, `VM ${input.vmId} is not in the catalog`);
      const v = r.rows[0];
      if (!v.offering_id) throw fail.nonRetryable(Failure.NoOffering, `VM ${v.name} is not assigned to a backup offering`);
      if (v.provider !== 'dummy' && !v.repo_id) throw fail.nonRetryable(Failure.NoRepository, `offering of VM ${v.name} has no backup repository`);
      // A scheduled run was asked for by no request: the offering may have been dedicated elsewhere since.
      if (input.scheduleId && v.account_id) {
        const open = await pool.query(
          `SELECT 1 FROM backup_offerings o, accounts a JOIN domains d ON d.id = a.domain_id
           WHERE o.id = $1 AND a.id = $2 AND ${offeringOpenSql('d.path')}`,
          [v.offering_id, v.account_id],
        );
        if (!open.rowCount) throw fail.nonRetryable(Failure.Forbidden, `offering of VM ${v.name} is dedicated to other domains than that of its account`);
      }
      await pool.query(
        `INSERT INTO backups (id, vm_id, account_id, zone_id, host_id, offering_id, repository_id, provider, name, description,
                              request_id, quiesce, isolated, workflow_id, schedule_id)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) ON CONFLICT (id) DO NOTHING`,
        [input.backupId, v.id, v.account_id, v.zone_id, v.host_id, v.offering_id, v.repo_id, v.provider, input.name ?? null,
          input.description ?? null, input.requestId ?? null, input.quiesce, input.isolated, input.workflowId, input.scheduleId ?? null],
      );
      const status = (await pool.query(`SELECT status FROM backups WHERE id=$1`, [input.backupId])).rows[0].status;
      const settings = await resolveSettings(pool, ['backup.chain.size', 'backup.quiesce.freeze.guard'], { zoneId: v.zone_id, accountId: v.account_id });
      // The offering's chain size, where it sets one, overrides the zone's setting.
      const chainSize = v.backup_chain_size ?? settings['backup.chain.size'].value;
      return {
        backupId: input.backupId,
        vm: { id: v.id, name: v.name, zoneId: v.zone_id, zoneName: v.zone_name, hostId: v.host_id },
        hostTaskQueue: v.task_queue,
        provider: v.provider,
        repository: v.repo_id ? { id: v.repo_id, type: v.repo_type, address: v.address, mountOptions: v.mount_options ?? '' } : null,
        chainSize,
        freezeGuardSeconds: settings['backup.quiesce.freeze.guard'].value,
        status,
      };
    },

    /**
     * Full or incremental? A new chain starts for isolated backups, the nas provider, a chain the
     * operator ended (or that broke), no previous backup, or a chain that reached its size.
     */
    async planChain(input: { backupId: string; vmId: string; isolated: boolean; provider: string; chainSize: number }): Promise<ChainDecision> {
      if (input.isolated) return { type: 'FULL', fullReason: 'isolated backup' };
      if (input.provider !== 'kboss') return { type: 'FULL', fullReason: `the ${input.provider} provider takes full backups only` };
      const vm = await pool.query(`SELECT chain_break_reason FROM vms WHERE id=$1`, [input.vmId]);
      if (vm.rows[0]?.chain_break_reason) return { type: 'FULL', fullReason: vm.rows[0].chain_break_reason };
      const latest = await pool.query(
        `SELECT id, checkpoint, chain_id, chain_position, validation_status, validation_step FROM backups
         WHERE vm_id=$1 AND id<>$2 AND status='BackedUp' AND NOT isolated AND provider='kboss' AND checkpoint IS NOT NULL
         ORDER BY finished_at DESC LIMIT 1`,
        [input.vmId, input.backupId],
      );
      if (!latest.rowCount) return { type: 'FULL', fullReason: 'no earlier backup to chain onto' };
      const p = latest.rows[0];
      // A NotValid backup is never a parent (Proxmox's rule for failed snapshots), even when its chain was not ended.
      if (p.validation_status === 'NotValid') return { type: 'FULL', fullReason: `the latest backup ${p.id} is NotValid (${p.validation_step ?? 'unknown step'})` };
      if (input.chainSize >= 1 && p.chain_position + 1 >= input.chainSize) {
        return { type: 'FULL', fullReason: `chain reached backup.chain.size=${input.chainSize}` };
      }
      return { type: 'INCREMENTAL', parent: { id: p.id, checkpoint: p.checkpoint, chainId: p.chain_id, chainPosition: p.chain_position } };
    },

    async markBackingUp(input: {
      backupId: string; hostId: string; type: 'FULL' | 'INCREMENTAL'; parentId: string | null; chainId: string;
      chainPosition: number; checkpoint: string | null; fullReason: string | null;
    }): Promise<void> {
      await pool.query(
        `UPDATE backups SET status='BackingUp', host_id=$2, type=$3, parent_id=$4, chain_id=$5, chain_position=$6, checkpoint=$7,
                full_reason=$8, started_at=COALESCE(started_at, now()), error=NULL
         WHERE id=$1 AND status IN ('Allocated','BackingUp')`,
        [input.backupId, input.hostId, input.type, input.parentId, input.chainId, input.chainPosition, input.checkpoint, input.fullReason],
      );
    },

    /** The files are complete and checked: record them and mark the backup good, in one transaction. */
    async markBackedUp(input: { backupId: string; disks: BackupDiskRecord[]; quiesced: boolean; freezeMs: number | null }): Promise<void> {
      const done = await inTransaction(pool, async (c): Promise<EndedBackup | undefined> => {
        const b = await c.query(`SELECT vm_id, type, isolated, status FROM backups WHERE id=$1 FOR UPDATE`, [input.backupId]);
        if (b.rows[0]?.status === 'BackedUp') return undefined;
        if (b.rows[0]?.status !== 'BackingUp') throw fail.nonRetryable(Failure.WrongState, `backup ${input.backupId} is ${b.rows[0]?.status}, not BackingUp`);
        await c.query(`DELETE FROM backup_disks WHERE backup_id=$1`, [input.backupId]);
        for (const d of input.disks) {
          await c.query(
            `INSERT INTO backup_disks (backup_id, target, file, source_path, size_bytes, virtual_size, source_format, full_reason)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
            [input.backupId, d.target, d.file, d.sourcePath, d.sizeBytes, d.virtualSize, d.sourceFormat ?? null, d.fullReason ?? null],
          );
        }
        const row = await c.query(
          `UPDATE backups SET status='BackedUp', size_bytes=$2, virtual_size=$3, quiesced=$4, freeze_ms=$5, finished_at=now(),
                  duration_ms=(EXTRACT(EPOCH FROM (now() - started_at)) * 1000)::int
           WHERE id=$1 RETURNING ${ENDED}`,
          [input.backupId, input.disks.reduce((s, d) => s + d.sizeBytes, 0), input.disks.reduce((s, d) => s + d.virtualSize, 0), input.quiesced, input.freezeMs],
        );
        if (b.rows[0].type === 'FULL' && !b.rows[0].isolated) await c.query(`UPDATE vms SET chain_break_reason=NULL WHERE id=$1`, [b.rows[0].vm_id]);
        return row.rows[0];
      });
      // Counted once: a retry finds it BackedUp already.
      if (done) ended(done);
    },

    /** Failed: nothing usable was left behind. Error: cleanup failed too, an operator should look. */
    async markBackupFailed(input: { backupId: string; error: string; cleanedUp: boolean }): Promise<void> {
      const r = await pool.query(
        `UPDATE backups b SET status=$3, error=$2, finished_at=now(),
                duration_ms=CASE WHEN started_at IS NULL THEN NULL ELSE (EXTRACT(EPOCH FROM (now() - started_at)) * 1000)::int END
         FROM (SELECT status AS before FROM backups WHERE id=$1) p
         WHERE b.id=$1 AND b.status NOT IN ('BackedUp','Expunged') RETURNING p.before, ${ENDED}`,
        [input.backupId, input.error.slice(0, 4000), input.cleanedUp ? 'Failed' : 'Error'],
      );
      // Counted when it ends, not again when a retry records the same end.
      for (const { before, ...b } of r.rows) if (!['Failed', 'Error'].includes(before)) ended(b);
    },

    /** The next backup of this VM starts a new chain, for the reason given. */
    async breakChain(input: { vmId: string; reason: string }): Promise<void> {
      await pool.query(`UPDATE vms SET chain_break_reason=$2 WHERE id=$1`, [input.vmId, input.reason]);
    },

    /** dummy provider: the backup is recorded from the catalog's view of the VM, no disk is read. */
    async recordDummyBackup(input: { backupId: string; vmId: string }): Promise<void> {
      await inTransaction(pool, async (c) => {
        await c.query(
          `INSERT INTO backup_disks (backup_id, target, file, source_path, size_bytes, virtual_size)
           SELECT $1, target, '', path, 0, virtual_size FROM vm_disks WHERE vm_id=$2 ON CONFLICT DO NOTHING`,
          [input.backupId, input.vmId],
        );
        const row = await c.query(
          `UPDATE backups SET status='BackedUp', type='FULL', chain_id=id, chain_position=0, size_bytes=0, started_at=COALESCE(started_at, now()),
                  virtual_size=(SELECT COALESCE(sum(virtual_size),0) FROM vm_disks WHERE vm_id=$2), finished_at=now(), duration_ms=0
           WHERE id=$1 AND status IN ('Allocated','BackingUp') RETURNING ${ENDED}`,
          [input.backupId, input.vmId],
        );
        return row.rows[0] as EndedBackup | undefined;
      }).then((done) => done && ended(done));
    },
  };
}
