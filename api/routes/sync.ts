import { Router } from 'express';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { caller, requireAdmin } from '../auth';
import { forbidden, notFound } from '../errors';
import { IdParams, listResult, Pagination, pageSql, parse } from '../validate';
import { ensureBackupSync } from '../../common/backupSync';
import { backupSyncNow } from '../../workflows/backupSync';

export const OrphanQuery = Pagination.extend({ repositoryId: z.guid().optional(), zoneId: z.guid().optional() });
export const UsageQuery = Pagination.extend({
  accountId: z.guid().optional(),
  vmId: z.guid().optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
});

/** The background sync task: run it now, the orphan folders it found, and the usage it recorded. */
export function syncRoutes({ pool, temporal }: ApiDeps) {
  const r = Router();

  /** Runs a sync round of the zone now and answers with it (starts the zone's sync if it is not running). */
  r.post('/zones/:id/backup-sync', requireAdmin, async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const zone = (await pool.query(`SELECT id, name FROM zones WHERE id = $1`, [id])).rows[0];
    if (!zone) throw notFound('zone', 'id');
    const handle = await ensureBackupSync(temporal, zone);
    res.json({ zoneId: id, workflowId: handle.workflowId, round: await handle.executeUpdate(backupSyncNow) });
  });

  /** Folders in repositories that the catalog does not know; Backflow never deletes them itself. */
  r.get('/backup-orphans', requireAdmin, async (req, res) => {
    const q = parse(OrphanQuery, req, 'query');
    const { limit, offset } = pageSql(q);
    const rows = await pool.query(
      `SELECT o.repository_id AS "repositoryId", r.name AS "repositoryName", r.zone_id AS "zoneId", o.path,
              o.first_seen_at AS "firstSeenAt", o.last_seen_at AS "lastSeenAt", count(*) OVER() AS total
       FROM repository_orphans o JOIN backup_repositories r ON r.id = o.repository_id
       WHERE ($1::uuid IS NULL OR o.repository_id = $1) AND ($2::uuid IS NULL OR r.zone_id = $2)
       ORDER BY r.name, o.path LIMIT $3 OFFSET $4`,
      [q.repositoryId ?? null, q.zoneId ?? null, limit, offset],
    );
    res.json(listResult(rows.rows.map(({ total, ...o }) => o), Number(rows.rows[0]?.total ?? 0), q));
  });

  /** Usage rows for billing (users: their own account's only). */
  r.get('/usage', async (req, res) => {
    const q = parse(UsageQuery, req, 'query');
    const me = caller(req);
    if (me.role !== 'admin' && q.accountId && q.accountId !== me.accountId) throw forbidden('users see their own account\'s usage only', 'query.accountId');
    const accountId = me.role === 'admin' ? (q.accountId ?? null) : me.accountId;
    const { limit, offset } = pageSql(q);
    const rows = await pool.query(
      `SELECT u.recorded_at AS "recordedAt", u.zone_id AS "zoneId", u.account_id AS "accountId", u.vm_id AS "vmId", v.name AS "vmName",
              u.offering_id AS "offeringId", u.backup_bytes::float8 AS "backupBytes", u.protected_bytes::float8 AS "protectedBytes",
              count(*) OVER() AS total
       FROM backup_usage u JOIN vms v ON v.id = u.vm_id
       WHERE ($1::uuid IS NULL OR u.account_id = $1) AND ($2::uuid IS NULL OR u.vm_id = $2)
         AND ($3::timestamptz IS NULL OR u.recorded_at >= $3) AND ($4::timestamptz IS NULL OR u.recorded_at < $4)
       ORDER BY u.recorded_at DESC, v.name LIMIT $5 OFFSET $6`,
      [accountId, q.vmId ?? null, q.from ?? null, q.to ?? null, limit, offset],
    );
    res.json(listResult(rows.rows.map(({ total, ...u }) => u), Number(rows.rows[0]?.total ?? 0), q));
  });
  return r;
}
