import { Router } from 'express';
import type { ApiDeps } from '../deps';
import { caller, hashKey, newApiKey, requireAdmin } from '../auth';
import { badRequest, conflict, notFound } from '../errors';
import { IdParams, listResult, Pagination, pageSql, parse } from '../validate';
import { CreateAccountSchema, CreateDomainSchema, CreateKeySchema, KeyParams, UpdateAccountSchema } from '../../common/schemas/accounts';

const ROOT_DOMAIN = '00000000-0000-0000-0000-000000000001';
const ACCOUNT_COLUMNS = `a.id, a.name, a.role, a.domain_id AS "domainId", d.path AS domain, a.disabled_at IS NOT NULL AS disabled,
  a.disabled_at AS "disabledAt", a.created_at AS "createdAt"`;
const KEY_COLUMNS = `id, account_id AS "accountId", label, created_at AS "createdAt", revoked_at AS "revokedAt"`;

export function accountRoutes({ pool }: ApiDeps) {
  const r = Router();

  r.get('/me', (req, res) => res.json(caller(req)));

  r.get('/domains', requireAdmin, async (req, res) => {
    const q = parse(Pagination, req, 'query');
    const { limit, offset } = pageSql(q);
    const rows = await pool.query(
      `SELECT id, name, parent_id AS "parentId", path, count(*) OVER() AS total FROM domains ORDER BY path LIMIT $1 OFFSET $2`,
      [limit, offset],
    );
    res.json(listResult(rows.rows.map(({ total, ...d }) => d), Number(rows.rows[0]?.total ?? 0), q));
  });

  r.post('/domains', requireAdmin, async (req, res) => {
    const body = parse(CreateDomainSchema, req, 'body');
    const parent = await pool.query(`SELECT path FROM domains WHERE id = $1`, [body.parentId ?? ROOT_DOMAIN]);
    if (!parent.rowCount) throw badRequest('body.parentId', 'no such domain');
    const path = `${parent.rows[0].path}/${body.name}`;
    const ins = await pool.query(
      `INSERT INTO domains (name, parent_id, path) VALUES ($1,$2,$3) ON CONFLICT (path) DO NOTHING
       RETURNING id, name, parent_id AS "parentId", path`,
      [body.name, body.parentId ?? ROOT_DOMAIN, path],
    );
    if (!ins.rowCount) throw conflict(`domain ${path} already exists`, 'body.name');
    res.status(201).json(ins.rows[0]);
  });

  r.get('/accounts', requireAdmin, async (req, res) => {
    const q = parse(Pagination, req, 'query');
    const { limit, offset } = pageSql(q);
    const rows = await pool.query(
      `SELECT ${ACCOUNT_COLUMNS}, count(*) OVER() AS total FROM accounts a JOIN domains d ON d.id = a.domain_id
       ORDER BY a.name LIMIT $1 OFFSET $2`,
      [limit, offset],
    );
    res.json(listResult(rows.rows.map(({ total, ...a }) => a), Number(rows.rows[0]?.total ?? 0), q));
  });

  r.post('/accounts', requireAdmin, async (req, res) => {
    const body = parse(CreateAccountSchema, req, 'body');
    const domainId = body.domainId ?? ROOT_DOMAIN;
    const dom = await pool.query(`SELECT 1 FROM domains WHERE id = $1`, [domainId]);
    if (!dom.rowCount) throw badRequest('body.domainId', 'no such domain');
    const ins = await pool.query(
      `INSERT INTO accounts (name, domain_id, role) VALUES ($1,$2,$3) ON CONFLICT (name) DO NOTHING RETURNING id`,
      [body.name, domainId, body.role],
    );
    if (!ins.rowCount) throw conflict(`account ${body.name} already exists`, 'body.name');
    const row = await pool.query(`SELECT ${ACCOUNT_COLUMNS} FROM accounts a JOIN domains d ON d.id = a.domain_id WHERE a.id = $1`, [ins.rows[0].id]);
    res.status(201).json(row.rows[0]);
  });

  /** Issues a key for the account; the key is in this answer only, the catalog keeps its hash. */
  r.post('/accounts/:id/keys', requireAdmin, async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(CreateKeySchema, req, 'body');
    const acct = await pool.query(`SELECT 1 FROM accounts WHERE id = $1`, [id]);
    if (!acct.rowCount) throw notFound('account', 'id');
    const key = newApiKey();
    const ins = await pool.query(`INSERT INTO api_keys (account_id, key_hash, label) VALUES ($1,$2,$3) RETURNING id, created_at AS "createdAt"`, [
      id, hashKey(key), body.label ?? null,
    ]);
    res.status(201).json({ ...ins.rows[0], accountId: id, key });
  });

  /** The account's keys (never the keys themselves: only their ids, labels and whether revoked). */
  r.get('/accounts/:id/keys', requireAdmin, async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const acct = await pool.query(`SELECT 1 FROM accounts WHERE id = $1`, [id]);
    if (!acct.rowCount) throw notFound('account', 'id');
    const rows = await pool.query(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE account_id = $1 ORDER BY created_at`, [id]);
    res.json({ items: rows.rows, count: rows.rowCount });
  });

  /** Revokes a key: from the next request on it gets 401. Revoking again changes nothing. */
  r.delete('/accounts/:id/keys/:keyId', requireAdmin, async (req, res) => {
    const { id, keyId } = parse(KeyParams, req, 'params');
    const up = await pool.query(
      `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 AND account_id = $2 RETURNING ${KEY_COLUMNS}`,
      [keyId, id],
    );
    if (!up.rowCount) throw notFound('key', 'keyId');
    res.json(up.rows[0]);
  });

  /**
   * Disables (or enables) an account: every key of a disabled account gets 401 at once; its VMs, backups
   * and keys stay as they are. An admin cannot disable their own account (nobody might be left to undo it).
   */
  r.patch('/accounts/:id', requireAdmin, async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(UpdateAccountSchema, req, 'body');
    if (body.disabled && id === caller(req).accountId) throw conflict('an admin cannot disable their own account', 'id');
    const up = await pool.query(
      `UPDATE accounts SET disabled_at = CASE WHEN $2 THEN COALESCE(disabled_at, now()) ELSE NULL END WHERE id = $1 RETURNING id`,
      [id, body.disabled],
    );
    if (!up.rowCount) throw notFound('account', 'id');
    const row = await pool.query(`SELECT ${ACCOUNT_COLUMNS} FROM accounts a JOIN domains d ON d.id = a.domain_id WHERE a.id = $1`, [id]);
    res.json(row.rows[0]);
  });
  return r;
}
