import { Router } from 'express';
import type { ApiDeps } from '../deps';
import { caller } from '../auth';
import { listResult, pageSql, parse } from '../validate';
import { ListAlertsQuery } from '../../common/schemas/validation';

/** Alerts raised by unattended work (validation, re-hash): admins see all, users their own account's. */
export function alertRoutes({ pool }: ApiDeps) {
  const r = Router();
  r.get('/alerts', async (req, res) => {
    const q = parse(ListAlertsQuery, req, 'query');
    const me = caller(req);
    const accountId = me.role === 'admin' ? null : me.accountId;
    const { limit, offset } = pageSql(q);
    const rows = await pool.query(
      `SELECT a.id, a.type, a.zone_id AS "zoneId", a.account_id AS "accountId", a.vm_id AS "vmId", a.backup_id AS "backupId",
              a.message, a.details, a.created_at AS "createdAt", count(*) OVER() AS total
       FROM alerts a
       WHERE ($1::uuid IS NULL OR a.account_id = $1) AND ($2::text IS NULL OR a.type = $2) AND ($3::uuid IS NULL OR a.zone_id = $3)
         AND ($4::timestamptz IS NULL OR a.created_at >= $4)
       ORDER BY a.created_at DESC, a.id LIMIT $5 OFFSET $6`,
      [accountId, q.type ?? null, q.zoneId ?? null, q.since ?? null, limit, offset],
    );
    res.json(listResult(rows.rows.map(({ total, ...a }) => a), Number(rows.rows[0]?.total ?? 0), q));
  });
  return r;
}
