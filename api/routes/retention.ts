import { Router } from 'express';
import type { ApiDeps } from '../deps';
import { requireAdmin } from '../auth';
import { badRequest, notFound } from '../errors';
import { IdParams, parse } from '../validate';
import { applyGfs } from '../../common/gfs';
import { ProtectBackupSchema, RetentionDryRunSchema, SetRetentionPolicySchema, type GfsPolicy } from '../../common/schemas/schedules';
import { visibleBackup } from './backupAccess';

/** Retention beyond schedules: a backup's `protected` flag, an offering's GFS policy and its dry run. */
export function retentionRoutes({ pool }: ApiDeps) {
  const r = Router();

  /** The owner sets or clears `protected`: a protected backup is never removed by retention or delete. */
  r.patch('/backups/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(ProtectBackupSchema, req, 'body');
    const b = await visibleBackup(pool, req, id);
    const up = await pool.query(`UPDATE backups SET protected=$2 WHERE id=$1 AND status <> 'Expunged' RETURNING id, protected`, [b.id, body.protected]);
    if (!up.rowCount) throw notFound('backup', 'id');
    res.json({ backupId: id, protected: up.rows[0].protected });
  });

  r.use('/backup-offerings/:id/retention-policy', requireAdmin);

  r.get('/backup-offerings/:id/retention-policy', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const o = await pool.query(`SELECT retention_policy FROM backup_offerings WHERE id=$1`, [id]);
    if (!o.rowCount) throw notFound('backup offering', 'id');
    res.json({ offeringId: id, policy: o.rows[0].retention_policy });
  });

  /** Sets (or, with null, removes) the offering's GFS policy; it applies from the next backup of each of its VMs. */
  r.put('/backup-offerings/:id/retention-policy', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const { policy } = parse(SetRetentionPolicySchema, req, 'body');
    const o = await pool.query(`UPDATE backup_offerings SET retention_policy=$2, updated_at=now() WHERE id=$1 RETURNING retention_policy`, [
      id, policy === null ? null : JSON.stringify(policy),
    ]);
    if (!o.rowCount) throw notFound('backup offering', 'id');
    res.json({ offeringId: id, policy: o.rows[0].retention_policy });
  });

  /** Which backups the policy (the offering's, or one given) would keep and remove, per VM; removes nothing. */
  r.post('/backup-offerings/:id/retention-policy/dry-run', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(RetentionDryRunSchema, req, 'body');
    const o = await pool.query(`SELECT retention_policy FROM backup_offerings WHERE id=$1`, [id]);
    if (!o.rowCount) throw notFound('backup offering', 'id');
    const policy: GfsPolicy | null = body.policy ?? o.rows[0].retention_policy;
    if (!policy) throw badRequest('body.policy', 'the offering has no retention policy: give one to try');
    const backups = await pool.query(
      `SELECT b.id, b.vm_id, v.name AS vm_name, b.created_at, b.protected FROM backups b JOIN vms v ON v.id = b.vm_id
       WHERE b.offering_id = $1 AND b.status = 'BackedUp' AND NOT b.hidden AND ($2::uuid IS NULL OR b.vm_id = $2) ORDER BY b.created_at DESC`,
      [id, body.vmId ?? null],
    );
    const byVm = new Map<string, { vmId: string; vmName: string; rows: typeof backups.rows }>();
    for (const b of backups.rows) {
      if (!byVm.has(b.vm_id)) byVm.set(b.vm_id, { vmId: b.vm_id, vmName: b.vm_name, rows: [] });
      byVm.get(b.vm_id)!.rows.push(b);
    }
    const vms = [...byVm.values()].map((v) => {
      const g = applyGfs(v.rows.map((b) => ({ id: b.id, time: b.created_at, protected: b.protected })), policy);
      const at = new Map(v.rows.map((b) => [b.id, b.created_at]));
      const show = (ids: string[]) => ids.map((bid) => ({ backupId: bid, createdAt: at.get(bid), mark: g.marks[bid] }));
      return { vmId: v.vmId, vmName: v.vmName, keep: show(g.keep), remove: show(g.remove) };
    });
    res.json({ offeringId: id, policy, dryRun: true, vms });
  });

  return r;
}
