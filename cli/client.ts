import createClient from 'openapi-fetch';
import type { paths } from './api/schema';
import type { Connection } from './config';
import { CliError, EXIT } from './errors';

/** The client generated from the API's OpenAPI document (cli/api/schema.d.ts, npm run gen:client). */
export type Api = ReturnType<typeof createClient<paths>>;

export function apiClient(c: Connection): Api {
  return createClient<paths>({ baseUrl: c.url, headers: c.key ? { authorization: `Bearer ${c.key}` } : {} });
}

interface ApiError { error?: { status?: number; message?: string; field?: string } }

/** The answer's body, or a CliError carrying the API's own message (and field), with an exit code by status. */
export async function data<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let r: Awaited<typeof call>;
  try {
    r = await call;
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(`cannot reach the API: ${cause?.code ?? cause?.message ?? (e as Error).message}`, EXIT.unavailable);
  }
  if (r.response.ok) return r.data as T;
  const e = (r.error as ApiError | undefined)?.error;
  const status = r.response.status;
  const message = e?.message ?? `${status} ${r.response.statusText}`;
  throw new CliError(`${status}: ${message}`, status >= 500 ? EXIT.unavailable : EXIT.refused);
}
