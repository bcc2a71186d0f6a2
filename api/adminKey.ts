import type { Pool } from 'pg';
import { inTransaction } from '../common/db';
import { hashKey, newApiKey } from './auth';

const ROOT_DOMAIN = '00000000-0000-0000-0000-000000000001';

/**
 * Makes sure a root admin can get in. With BACKFLOW_ADMIN_KEY set, that key belongs to the `admin`
 * account; otherwise, on the very first start only, a key is created and returned to be shown once.
 */
export async function ensureAdminKey(pool: Pool, presetKey?: string): Promise<{ created?: string }> {
  return inTransaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock(7201)');
    const acct = await c.query(
      `INSERT INTO accounts (name, domain_id, role) VALUES ('admin', $1, 'admin')
       ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id`,
      [ROOT_DOMAIN],
    );
    const accountId: string = acct.rows[0].id;
    if (presetKey) {
      await c.query(`INSERT INTO api_keys (account_id, key_hash, label) VALUES ($1,$2,'env') ON CONFLICT (key_hash) DO NOTHING`, [
        accountId, hashKey(presetKey),
      ]);
      return {};
    }
    const existing = await c.query(`SELECT 1 FROM api_keys WHERE account_id=$1`, [accountId]);
    if (existing.rowCount) return {};
    const key = newApiKey();
    await c.query(`INSERT INTO api_keys (account_id, key_hash, label) VALUES ($1,$2,'first start')`, [accountId, hashKey(key)]);
    return { created: key };
  });
}
