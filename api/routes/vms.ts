import { Router } from 'express';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { caller, requireAdmin } from '../auth';
import { badRequest, conflict, notFound } from '../errors';
import { offeringOpenToDomain } from '../backupPolicy';
import { inTransaction } from '../../common/db';
import { IdParams, listResult, Pagination, pageSql, parse } from '../validate';
import { AssignVmAccountSchema } from '../../common/schemas/accounts';

export const VmQuery = Pagination.extend({
  hostId: z.string().uuid().optional(),
  zoneId: z.string().uuid().optional(),
  accountId: z.string().uuid().optional(),
  state: z.string().optional(),
  name: z.string().optional(),
  includeRemoved: z.enum(['true', 'false']).optional(),
});

const VM_COLUMNS = `v.id, v.name, v.state, v.host_id AS "hostId", v.zone_id AS "zoneId", v.account_id AS "accountId",
  a.name AS account, v.has_agent AS "hasAgent", v.removed_at AS "removedAt", v.updated_at AS "updatedAt",
  COALESCE((SELECT json_agg(json_build_object('target', d.target, 'path', d.path, 'format', d.format, 'virtualSize', d.virtual_size::float8) ORDER BY d.target)
            FROM vm_disks d WHERE d.vm_id = v.id), '[]') AS disks`;

export function vmRoutes({ pool }: ApiDeps) {
  const r = Router();

  /** Users see only their account's VMs; root admins see all, unowned ones included. */
  r.get('/vms', async (req, res) => {
    const q = parse(VmQuery, req, 'query');
    const me = caller(req);
    const account = me.role === 'admin' ? (q.accountId ?? null) : me.accountId;
    const { limit, offset } = pageSql(q);
    const rows = await pool.query(
      `SELECT ${VM_COLUMNS}, count(*) OVER() AS total FROM vms v LEFT JOIN accounts a ON a.id = v.account_id
       WHERE ($1::uuid IS NULL OR v.account_id = $1) AND ($2::uuid IS NULL OR v.host_id = $2) AND ($3::uuid IS NULL OR v.zone_id = $3)
         AND ($4::text IS NULL OR v.state = $4) AND ($5::text IS NULL OR v.name = $5) AND ($6 OR v.removed_at IS NULL)
       ORDER BY v.name LIMIT $7 OFFSET $8`,
      [account, q.hostId ?? null, q.zoneId ?? null, q.state ?? null, q.name ?? null, q.includeRemoved === 'true', limit, offset],
    );
    res.json(listResult(rows.rows.map(({ total, ...v }) => v), Number(rows.rows[0]?.total ?? 0), q));
  });

  r.get('/vms/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const me = caller(req);
    const row = await pool.query(`SELECT ${VM_COLUMNS} FROM vms v LEFT JOIN accounts a ON a.id = v.account_id WHERE v.id = $1`, [id]);
    // Another account's VM is reported as not found, so its existence does not leak.
    if (!row.rowCount || (me.role !== 'admin' && row.rows[0].accountId !== me.accountId)) throw notFound('vm', 'id');
    res.json(row.rows[0]);
  });

  /**
   * A root admin gives a VM to an account (or takes it back with null). Refused (409) while the VM is
   * assigned to an offering not open to the new account's domain. The backups stay with the account that
   * took them, and the VM's next backup starts a new chain, so no chain spans two accounts.
   */
  r.put('/vms/:id/account', requireAdmin, async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(AssignVmAccountSchema, req, 'body');
    await inTransaction(pool, async (c) => {
      const vm = (await c.query(`SELECT account_id AS "accountId", backup_offering_id AS "offeringId" FROM vms WHERE id = $1 FOR UPDATE`, [id])).rows[0];
      if (!vm) throw notFound('vm', 'id');
      if (body.accountId) {
        const acct = await c.query(`SELECT domain_id FROM accounts WHERE id = $1`, [body.accountId]);
        if (!acct.rowCount) throw badRequest('body.accountId', 'no such account');
        if (vm.offeringId && !(await offeringOpenToDomain(c, vm.offeringId, acct.rows[0].domain_id))) {
          throw conflict('the VM is assigned to a backup offering dedicated to other domains than that account\'s: remove it from the offering first', 'body.accountId');
        }
      }
      if (vm.accountId === body.accountId) return;
      await c.query(
        `UPDATE vms SET account_id = $2, updated_at = now(),
           chain_break_reason = CASE WHEN EXISTS (SELECT 1 FROM backups b WHERE b.vm_id = $1 AND b.status = 'BackedUp')
                                     THEN 'the VM was given to another account' ELSE chain_break_reason END
         WHERE id = $1`,
        [id, body.accountId],
      );
    });
    const row = await pool.query(`SELECT ${VM_COLUMNS} FROM vms v LEFT JOIN accounts a ON a.id = v.account_id WHERE v.id = $1`, [id]);
    res.json(row.rows[0]);
  });
  return r;
}
