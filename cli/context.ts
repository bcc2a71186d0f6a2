import type { Command } from 'commander';
import { apiClient, data, type Api } from './client';
import { resolveConnection } from './config';
import { CliError, EXIT } from './errors';

export interface Ctx { api: Api; json: boolean }

/** The client and output mode for a command, from the program's global options. */
export function ctx(cmd: Command): Ctx {
  const o = cmd.optsWithGlobals<{ apiUrl?: string; apiKey?: string; config?: string; json?: boolean }>();
  return { api: apiClient(resolveConnection(o)), json: Boolean(o.json) };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A VM by id, or by name (looked up with GET /v1/vms?name=): an id is passed on as given, so the API judges it. */
export async function vmId(api: Api, ref: string): Promise<string> {
  if (GUID.test(ref)) return ref;
  const page = await data(api.GET('/v1/vms', { params: { query: { name: ref } } }));
  if (page.items.length === 1) return page.items[0].id;
  throw new CliError(page.items.length ? `${page.items.length} VMs are named ${ref}: give its id` : `no VM named ${ref}`, EXIT.refused);
}

/** A positive integer option. */
export function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`not a whole number: ${v}`, EXIT.usage);
  return n;
}

/** A JSON object option (--body '{"…": …}') for the fields a command has no flag for. */
export function jsonObject(v: string): Record<string, unknown> {
  try {
    const o = JSON.parse(v);
    if (o && typeof o === 'object' && !Array.isArray(o)) return o;
  } catch {
    /* reported below */
  }
  throw new CliError(`--body must be a JSON object: ${v}`, EXIT.usage);
}
