import type { Pool } from 'pg';
import { applyGfs } from '../../common/gfs';
import { GfsPolicySchema } from '../../common/schemas/schedules';

export interface RetentionPlan { remove: { backupId: string; reason: string }[] }

/** The catalog side of retention: what a schedule's maxBackups and an offering's GFS policy let go. */
export function createRetentionActivities(pool: Pool) {
  return {
    /** Whether a backup of this VM is followed by retention: it came from a schedule, or its offering has a policy. */
    async retentionDue(input: { vmId: string; scheduleId: string | null }): Promise<boolean> {
      if (input.scheduleId) return true;
      const r = await pool.query(
        `SELECT o.retention_policy IS NOT NULL AS due FROM vms v JOIN backup_offerings o ON o.id = v.backup_offering_id WHERE v.id = $1`,
        [input.vmId],
      );
      return !!r.rows[0]?.due;
    },

    /** Backups to remove, oldest first. Only good, listed, unprotected backups are candidates. */
    async planRetention(input: { vmId: string; scheduleId: string | null }): Promise<RetentionPlan> {
      const remove = new Map<string, { reason: string; at: number }>();
      if (input.scheduleId) {
        // A VM's own schedule, or an SLA offering's (its maxBackups applies to each VM).
        const s = await pool.query(
          `SELECT temporal_id, max_backups FROM backup_schedules WHERE id = $1
           UNION ALL SELECT sla_schedule->>'temporalId', (sla_schedule->>'maxBackups')::int FROM backup_offerings WHERE sla_schedule->>'id' = $1::text`,
          [input.scheduleId],
        );
        if (s.rowCount) {
          const { temporal_id: name, max_backups: max } = s.rows[0];
          // Manual backups carry no schedule_id, so a schedule's retention never reaches them.
          const over = await pool.query(
            `SELECT id, created_at FROM backups WHERE schedule_id = $1 AND vm_id = $3 AND status = 'BackedUp' AND NOT hidden AND NOT protected
             ORDER BY created_at DESC OFFSET $2`,
            [input.scheduleId, max, input.vmId],
          );
          for (const b of over.rows) remove.set(b.id, { reason: `schedule ${name} keeps ${max} backup(s)`, at: b.created_at.getTime() });
        }
      }
      const p = await pool.query(
        `SELECT o.name, o.retention_policy FROM vms v JOIN backup_offerings o ON o.id = v.backup_offering_id WHERE v.id = $1 AND o.retention_policy IS NOT NULL`,
        [input.vmId],
      );
      const policy = p.rowCount ? GfsPolicySchema.safeParse(p.rows[0].retention_policy) : undefined;
      if (policy?.success) {
        const all = await pool.query(
          `SELECT id, created_at, protected FROM backups WHERE vm_id = $1 AND status = 'BackedUp' AND NOT hidden`,
          [input.vmId],
        );
        const gfs = applyGfs(all.rows.map((b) => ({ id: b.id, time: b.created_at, protected: b.protected })), policy.data);
        const at = new Map(all.rows.map((b) => [b.id, b.created_at.getTime()]));
        for (const id of gfs.remove) if (!remove.has(id)) remove.set(id, { reason: `retention policy of offering ${p.rows[0].name}`, at: at.get(id)! });
      }
      return {
        remove: [...remove.entries()].sort((a, b) => a[1].at - b[1].at).map(([backupId, r]) => ({ backupId, reason: r.reason })),
      };
    },

    /** Just before one goes: still good and unprotected, and no restore reads its chain. Records why it goes. */
    async claimForRetention(input: { backupId: string; reason: string }): Promise<{ ok: true } | { ok: false; reason: string }> {
      const r = await pool.query(
        `UPDATE backups b SET retired_reason = $2
         WHERE b.id = $1 AND b.status = 'BackedUp' AND NOT b.protected
           AND NOT EXISTS (SELECT 1 FROM restores r JOIN backups rb ON rb.id = r.backup_id
                           WHERE r.status IN ('Running','Consolidating') AND rb.chain_id = b.chain_id)
         RETURNING id`,
        [input.backupId, input.reason],
      );
      if (r.rowCount) return { ok: true };
      const b = (await pool.query(`SELECT status, protected FROM backups WHERE id = $1`, [input.backupId])).rows[0];
      const why = !b ? 'gone' : b.protected ? 'protected' : b.status !== 'BackedUp' ? `status ${b.status}` : 'a restore reads its chain';
      return { ok: false, reason: why };
    },
  };
}
