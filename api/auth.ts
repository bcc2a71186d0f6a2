import { createHash, randomBytes } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Pool } from 'pg';
import { HttpError } from './errors';

export interface Caller { accountId: string; accountName: string; domainId: string; role: 'admin' | 'user' }

declare module 'express-serve-static-core' {
  interface Request { caller?: Caller }
}

export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');
export const newApiKey = () => `bf_${randomBytes(24).toString('base64url')}`;

function presentedKey(req: Request): string | undefined {
  const auth = req.header('authorization');
  if (auth?.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim();
  return req.header('x-api-key') ?? undefined;
}

/**
 * Resolves the API key to its account; 401 when missing, unknown, revoked, or its account is disabled.
 * Looked up on every request (no cache), so a revocation or a disabled account takes effect at once.
 */
export function authenticate(pool: Pool): RequestHandler {
  return async (req, _res, next) => {
    const key = presentedKey(req);
    if (!key) return next(new HttpError(401, 'authorization: an API key is required (Authorization: Bearer <key>)', 'authorization'));
    const r = await pool.query(
      `SELECT a.id, a.name, a.domain_id, a.role FROM api_keys k JOIN accounts a ON a.id = k.account_id
       WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND a.disabled_at IS NULL`,
      [hashKey(key)],
    );
    if (!r.rowCount) return next(new HttpError(401, 'authorization: unknown or revoked API key, or its account is disabled', 'authorization'));
    const a = r.rows[0];
    req.caller = { accountId: a.id, accountName: a.name, domainId: a.domain_id, role: a.role };
    next();
  };
}

export function caller(req: Request): Caller {
  if (!req.caller) throw new HttpError(401, 'authorization: not authenticated', 'authorization');
  return req.caller;
}

export const isAdmin = (req: Request) => caller(req).role === 'admin';

/** Root admins only. */
export const requireAdmin: RequestHandler = (req, _res, next) =>
  next(isAdmin(req) ? undefined : new HttpError(403, 'this operation is for root admins', 'authorization'));
