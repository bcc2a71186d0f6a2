import type { Pool } from 'pg';
import { inTransaction } from '../../common/db';
import type { DomainInfo } from '../../common/schemas/inventory';
import type { NewVmFiles, RestorePlan, RestoreWorkflowInput } from '../../common/schemas/restores';
import { resolveSettings } from '../../common/settings';
import { catalogState } from './inventory';
import { fail, Failure } from '../../common/failures';
import { newVmDiskPath, restoredFormat } from '../../common/layout';
import { refuseRestoreWhileFinalizing } from './serviceJobs';
import { notValidInChain } from './hashes';
import { activityLog } from '../../common/log';
import { observeRestore, type EndedRestore } from '../../common/metrics';

const VM_SQL = `SELECT v.id, v.name, v.host_id AS "hostId", h.task_queue AS "hostTaskQueue", v.account_id AS "accountId"
  FROM vms v JOIN hosts h ON h.id = v.host_id WHERE v.id = $1`;

/** The ended restore's figures for the metrics, from the row an UPDATE returns. */
const ENDED = `status, mode, duration_ms AS "durationMs", bytes, (SELECT provider FROM backups WHERE backups.id = restores.backup_id) AS provider`;

/** Counts a restore that has just ended, and says so in the log (with its workflow, restore and backup ids). */
function ended(r: EndedRestore): void {
  observeRestore(r);
  activityLog().info(`restore ${r.status}`, { ...r });
}

export function createRestoreActivities(pool: Pool) {
  return {
    /**
     * createVMFromBackup's disk paths (newVmDiskPath: `<source disk's folder>/<name>-<target>.qcow2`) and
     * the host that holds them; reads only, so a refused name leaves no record.
     */
    async newVmFiles(input: { backupId: string; name: string; restoreId: string }): Promise<NewVmFiles> {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(input.name)) throw fail.nonRetryable(Failure.BadRequest, `bad VM name ${JSON.stringify(input.name)}`);
      const r = await pool.query(
        `SELECT d.target, d.source_path, d.source_format, h.task_queue FROM backup_disks d JOIN backups b ON b.id = d.backup_id
         JOIN vms v ON v.id = b.vm_id JOIN hosts h ON h.id = v.host_id WHERE d.backup_id = $1 ORDER BY d.target`,
        [input.backupId],
      );
      if (!r.rowCount) throw fail.nonRetryable(Failure.NotRestorable, `backup ${input.backupId} has no disks`);
      const restore = await pool.query(`SELECT status FROM restores WHERE id = $1`, [input.restoreId]);
      return {
        hostTaskQueue: r.rows[0].task_queue,
        files: r.rows.map((d) => {
          const format = restoredFormat(d.source_format);
          return { target: d.target, format, path: newVmDiskPath({ sourcePath: d.source_path, vmName: input.name, target: d.target, format }) };
        }),
        restoreStatus: restore.rows[0]?.status ?? null,
      };
    },

    /** Records the restore (once) and reads the backup, its files and the VMs involved. */
    async planRestore(input: RestoreWorkflowInput & { workflowId: string }): Promise<RestorePlan> {
      const b = (
        await pool.query(
          `SELECT b.id, b.vm_id, b.account_id, b.status, b.created_at, r.id AS repo_id, r.type, r.address, r.mount_options
           FROM backups b LEFT JOIN backup_repositories r ON r.id = b.repository_id WHERE b.id = $1`,
          [input.backupId],
        )
      ).rows[0];
      if (!b) throw fail.nonRetryable(Failure.NotFound, `backup ${input.backupId} not found`);
      if (b.status !== 'BackedUp') throw fail.nonRetryable(Failure.NotRestorable, `backup ${input.backupId} is ${b.status}, not BackedUp`);
      if (!b.repo_id) throw fail.nonRetryable(Failure.NotRestorable, `backup ${input.backupId} has no files to restore (dummy provider)`);
      const disks = (
        await pool.query(`SELECT target, file, source_path AS "sourcePath", virtual_size::float8 AS "virtualSize", COALESCE(source_format, 'qcow2') AS "sourceFormat"
                    FROM backup_disks WHERE backup_id=$1 ORDER BY target`, [b.id])
      ).rows;
      const sourceVm = (await pool.query(VM_SQL, [b.vm_id])).rows[0];
      const targetVm = input.targetVmId ? (await pool.query(VM_SQL, [input.targetVmId])).rows[0] : sourceVm;
      if (!targetVm) throw fail.nonRetryable(Failure.NotFound, `VM ${input.targetVmId} not found`);
      // The API checked it too; checked again here, as the VM may have changed owner since.
      if (input.callerAccountId && input.mode !== 'new_vm' && targetVm.accountId !== input.callerAccountId) {
        throw fail.nonRetryable(Failure.Forbidden, `VM ${targetVm.name} is not the caller's account's now`);
      }
      // A NotValid backup (or a chain a re-hash found changed) is restored only when forced, and the force recorded.
      const notValid = await notValidInChain(pool, b.id);
      const recorded = (await pool.query(`SELECT 1 FROM restores WHERE id=$1`, [input.restoreId])).rowCount;
      if (notValid && !input.force && !recorded) {
        throw fail.nonRetryable(Failure.NotRestorable, `backup ${notValid.id} is NotValid (${notValid.step}: ${notValid.reason}): restore it only with force`);
      }
      await pool.query(
        `INSERT INTO restores (id, backup_id, source_vm_id, target_vm_id, account_id, mode, quick, volume_target, new_vm_name, workflow_id, request_id, phase, forced_not_valid)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,'planned',$12) ON CONFLICT (id) DO NOTHING`,
        [input.restoreId, b.id, b.vm_id, input.mode === 'new_vm' ? null : targetVm.id, input.accountId, input.mode, input.quick,
          input.volumeTarget ?? null, input.newVmName ?? null, input.workflowId, input.requestId ?? null, !!notValid && !!input.force],
      );
      const status = (await pool.query(`SELECT status FROM restores WHERE id=$1`, [input.restoreId])).rows[0].status;
      // Compression swaps files in place: a restore never starts reading a chain being finalized.
      if (status === 'Running') await refuseRestoreWhileFinalizing(pool, input.restoreId, b.id);
      const zoneId = (await pool.query(`SELECT zone_id FROM vms WHERE id=$1`, [targetVm.id])).rows[0].zone_id;
      const settings = await resolveSettings(pool, ['backup.quickrestore.pull.rate.limit'], { zoneId });
      return {
        pullRateLimitMiB: settings['backup.quickrestore.pull.rate.limit'].value,
        restoreId: input.restoreId,
        status,
        backup: { id: b.id, vmId: b.vm_id, accountId: b.account_id, createdAt: new Date(b.created_at).toISOString() },
        disks,
        repository: { id: b.repo_id, type: b.type, address: b.address, mountOptions: b.mount_options ?? '' },
        sourceVm,
        targetVm,
      };
    },

    async setRestorePhase(input: { restoreId: string; phase: string; status?: 'Running' | 'Consolidating'; vmRunning?: boolean }): Promise<void> {
      await pool.query(
        `UPDATE restores SET phase=$2, status=COALESCE($3, status), running_at=CASE WHEN $4 THEN COALESCE(running_at, now()) ELSE running_at END
         WHERE id=$1 AND status NOT IN ('Succeeded','Failed')`,
        [input.restoreId, input.phase, input.status ?? null, input.vmRunning ?? false],
      );
    },

    async finishRestore(input: { restoreId: string; bytes: number; targetVmId?: string }): Promise<void> {
      const r = await pool.query(
        `UPDATE restores SET status='Succeeded', phase='done', bytes=$2, target_vm_id=COALESCE($3, target_vm_id), finished_at=now(),
                duration_ms=(EXTRACT(EPOCH FROM (now() - created_at)) * 1000)::int
         WHERE id=$1 AND status <> 'Succeeded' RETURNING ${ENDED}`,
        [input.restoreId, input.bytes, input.targetVmId ?? null],
      );
      for (const row of r.rows) ended(row);
    },

    async failRestore(input: { restoreId: string; error: string }): Promise<void> {
      const r = await pool.query(
        `UPDATE restores SET status='Failed', error=$2, finished_at=now(), duration_ms=(EXTRACT(EPOCH FROM (now() - created_at)) * 1000)::int
         FROM (SELECT status AS before FROM restores WHERE id=$1) p
         WHERE id=$1 AND status <> 'Succeeded' RETURNING p.before, ${ENDED}`,
        [input.restoreId, input.error.slice(0, 4000)],
      );
      // Counted when it ends, not again when a retry records the same end.
      for (const { before, ...row } of r.rows) if (before !== 'Failed') ended(row);
    },

    /** Shows a VM as being restored, or back in the state its host reports. */
    async setVmState(input: { vmId: string; state: string }): Promise<void> {
      await pool.query(`UPDATE vms SET state=$2, updated_at=now() WHERE id=$1`, [input.vmId, input.state]);
    },

    /** Records one domain as its host reports it (a VM just restored or created), owned by accountId. */
    async recordDomain(input: { hostId: string; domain: DomainInfo; accountId: string | null }): Promise<void> {
      await inTransaction(pool, async (c) => {
        const d = input.domain;
        await c.query(
          `INSERT INTO vms (id, name, host_id, zone_id, state, has_agent, account_id)
           SELECT $1,$2,$3,h.zone_id,$4,$5,$6 FROM hosts h WHERE h.id = $3
           ON CONFLICT (id) DO UPDATE SET name=$2, host_id=$3, state=$4, has_agent=$5, removed_at=NULL, updated_at=now(),
             account_id=COALESCE(vms.account_id, EXCLUDED.account_id)`,
          [d.uuid, d.name, input.hostId, catalogState(d.state), d.hasAgentChannel, input.accountId],
        );
        await c.query(`DELETE FROM vm_disks WHERE vm_id=$1`, [d.uuid]);
        for (const disk of d.disks) {
          await c.query(`INSERT INTO vm_disks (vm_id, target, path, format, virtual_size) VALUES ($1,$2,$3,$4,$5)`, [
            d.uuid, disk.target, disk.path, disk.format, disk.virtualSize,
          ]);
        }
      });
    },
  };
}
