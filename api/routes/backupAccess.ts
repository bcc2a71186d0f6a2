import type { Request } from 'express';
import type { Pool } from 'pg';
import { caller } from '../auth';
import { notFound } from '../errors';

/** The backup if the caller may see it (root admins: all; users: their account's), else 404. */
export async function visibleBackup(pool: Pool, req: Request, id: string, field = 'id') {
  const me = caller(req);
  const r = await pool.query(`SELECT id, vm_id, account_id, status, hidden FROM backups WHERE id = $1 AND status <> 'Expunged'`, [id]);
  const b = r.rows[0];
  if (!b || b.hidden || (me.role !== 'admin' && b.account_id !== me.accountId)) throw notFound('backup', field);
  return b as { id: string; vm_id: string; account_id: string | null; status: string; hidden: boolean };
}
