import { Pool, PoolClient } from 'pg';
import { logger } from './log';

/** How long a request waits for a catalog connection before it is told the database is away. */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * A pool that survives its server going away: an idle client that loses its connection emits 'error' on
 * the pool, which without a listener would end the process. pg-pool drops such a client by itself; the
 * next query opens a fresh connection, so the pool recovers once the server is back.
 */
export function createPool(connectionString: string): Pool {
  const pool = new Pool({ connectionString, max: 10, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  pool.on('error', (err) => logger().warn({ err }, 'catalog: an idle PostgreSQL connection failed and was discarded'));
  return pool;
}

/** Runs fn in one transaction: all of it lands, or none of it. A client whose connection broke is discarded, not reused. */
export async function inTransaction<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  let broken: Error | undefined;
  // A checked-out client's connection may also drop between queries; its 'error' must not go unheard.
  const onError = (err: Error) => (broken = err);
  c.on('error', onError);
  try {
    await c.query('BEGIN');
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (e) {
    await c.query('ROLLBACK').catch((err: Error) => (broken ??= err));
    throw e;
  } finally {
    c.off('error', onError);
    c.release(broken);
  }
}
