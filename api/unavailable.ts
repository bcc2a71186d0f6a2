import { HttpError } from './errors';

/** Node socket errors that mean the other end is not there (now). */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** gRPC status codes for "the server cannot be reached or did not answer in time". */
const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

/** The error and its causes, outermost first. */
function chain(err: unknown): any[] {
  const out: any[] = [];
  for (let e: any = err; e && typeof e === 'object' && out.length < 8; e = e.cause) out.push(e);
  return out;
}

/** PostgreSQL is down, restarting or refusing connections: SQLSTATE class 08, 57P01-57P03, 53300, or a dropped socket. */
function isDatabaseOutage(e: any): boolean {
  if (typeof e.code === 'string' && (e.code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(e.code))) return true;
  if (typeof e.code === 'string' && SOCKET_CODES.has(e.code)) return true;
  const m = String(e.message ?? '');
  return /^Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|Connection terminated due to connection timeout/.test(m);
}

const isTemporalOutage = (e: any) => e.code === GRPC_UNAVAILABLE || e.code === GRPC_DEADLINE_EXCEEDED;

/**
 * A 503 naming what cannot be reached, when err says the catalog or Temporal is away; the client may try
 * again later, and nothing was changed by this request that it would need to undo.
 */
export function unavailable(err: unknown): HttpError | undefined {
  const errors = chain(err);
  const temporal = errors.find(isTemporalOutage);
  if (temporal) {
    const why = temporal.code === GRPC_DEADLINE_EXCEEDED ? 'did not answer in time' : 'cannot be reached';
    return new HttpError(503, `temporal: the Temporal service ${why} (${temporal.details ?? temporal.message}); try again later`, 'temporal');
  }
  const db = errors.find(isDatabaseOutage);
  if (db) return new HttpError(503, `database: the PostgreSQL catalog cannot be reached (${db.message}); try again later`, 'database');
  return undefined;
}
