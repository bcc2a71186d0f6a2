import type { Pool } from 'pg';
import { inTransaction } from '../../common/db';
import type { RepositoryRef } from '../../common/schemas/backups';
import { fail, Failure } from '../../common/failures';

export interface DeletionPlan {
  backupId: string;
  vmId: string;
  vmName: string;
  hostTaskQueue: string;
  provider: string;
  repository: RepositoryRef | null;
  parentId: string | null;
  /** The backup that backs onto this one (chains are linear: at most one good child). */
  childId: string | null;
  targets: string[];
  isChainHead: boolean;
  status: string;
}

export function createBackupDeletionActivities(pool: Pool) {
  return {
    /** The VM's backups that still exist, of one account (null: all), newest first (children before their parents). */
    async listVmBackupsNewestFirst(input: { vmId: string; accountId?: string | null }): Promise<string[]> {
      const r = await pool.query(
        `SELECT id FROM backups WHERE vm_id=$1 AND status <> 'Expunged' AND ($2::uuid IS NULL OR account_id = $2)
         ORDER BY COALESCE(chain_position, 0) DESC, created_at DESC`,
        [input.vmId, input.accountId ?? null],
      );
      return r.rows.map((x) => x.id);
    },

    async planBackupDeletion(input: { backupId: string; forced: boolean }): Promise<DeletionPlan> {
      const r = await pool.query(
        `SELECT b.id, b.vm_id, v.name AS vm_name, h.task_queue, b.provider, b.parent_id, b.status, b.checkpoint,
                r.id AS repo_id, r.type AS repo_type, r.address, r.mount_options,
                (SELECT array_agg(target ORDER BY target) FROM backup_disks WHERE backup_id = b.id) AS targets,
                (SELECT c.id FROM backups c WHERE c.parent_id = b.id AND c.status = 'BackedUp' LIMIT 1) AS child_id,
                NOT EXISTS (SELECT 1 FROM backups n WHERE n.vm_id = b.vm_id AND n.status = 'BackedUp' AND NOT n.isolated
                            AND n.finished_at > b.finished_at) AS is_head
         FROM backups b JOIN vms v ON v.id = b.vm_id JOIN hosts h ON h.id = v.host_id
         LEFT JOIN backup_repositories r ON r.id = b.repository_id WHERE b.id = $1`,
        [input.backupId],
      );
      if (!r.rowCount) throw fail.nonRetryable(Failure.NotFound, `backup ${input.backupId} not found`);
      const b = r.rows[0];
      if (b.child_id && !input.forced) {
        throw fail.nonRetryable(Failure.HasDependents, `backup ${b.id} has a dependent backup ${b.child_id}; delete with forced=true to merge it`);
      }
      return {
        backupId: b.id, vmId: b.vm_id, vmName: b.vm_name, hostTaskQueue: b.task_queue, provider: b.provider,
        repository: b.repo_id ? { id: b.repo_id, type: b.repo_type, address: b.address, mountOptions: b.mount_options ?? '' } : null,
        parentId: b.parent_id, childId: b.child_id, targets: b.targets ?? [], isChainHead: b.is_head && !!b.checkpoint, status: b.status,
      };
    },

    /**
     * After the child was made independent of the deleted backup: the child now backs onto the
     * deleted one's parent (or is a full of its own), positions after it move up, the backup is gone.
     */
    async applyBackupDeletion(input: { backupId: string }): Promise<void> {
      await inTransaction(pool, async (c) => {
        const b = (await c.query(`SELECT vm_id, parent_id, chain_id, chain_position, checkpoint FROM backups WHERE id=$1 FOR UPDATE`, [input.backupId])).rows[0];
        if (!b) return;
        const child = (await c.query(`SELECT id FROM backups WHERE parent_id=$1 AND status='BackedUp'`, [input.backupId])).rows[0];
        if (child) {
          await c.query(`UPDATE backups SET parent_id=$2, type=CASE WHEN $2::uuid IS NULL THEN 'FULL' ELSE type END WHERE id=$1`, [child.id, b.parent_id]);
          await c.query(`UPDATE backups SET chain_position = chain_position - 1 WHERE chain_id=$1 AND chain_position > $2 AND status='BackedUp'`, [
            b.chain_id, b.chain_position,
          ]);
        }
        await c.query(`UPDATE backups SET status='Expunged', parent_id=NULL, finished_at=COALESCE(finished_at, now()) WHERE id=$1`, [input.backupId]);
      });
    },
  };
}
