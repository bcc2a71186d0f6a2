import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError } from './errors';

/** Where the API is and the key to call it with. */
export interface Connection { url: string; key?: string }

export interface ConnectionFlags { apiUrl?: string; apiKey?: string; config?: string }

export const DEFAULT_API_URL = 'http://127.0.0.1:8080';

/** ~/.config/backflow/config.json (or under $XDG_CONFIG_HOME): `{"apiUrl": "...", "apiKey": "..."}`. */
export const defaultConfigPath = (env: NodeJS.ProcessEnv = process.env) =>
  path.join(env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'backflow', 'config.json');

function readConfig(file: string, explicit: boolean): { apiUrl?: string; apiKey?: string } {
  if (!existsSync(file)) {
    if (explicit) throw new CliError(`config file ${file} does not exist`, 2);
    return {};
  }
  try {
    const c = JSON.parse(readFileSync(file, 'utf8'));
    return { apiUrl: typeof c.apiUrl === 'string' ? c.apiUrl : undefined, apiKey: typeof c.apiKey === 'string' ? c.apiKey : undefined };
  } catch (e) {
    throw new CliError(`config file ${file}: ${(e as Error).message}`, 2);
  }
}

/** Flags first, then BACKFLOW_API_URL / BACKFLOW_API_KEY, then the config file, then the local default. */
export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Connection {
  const file = readConfig(flags.config ?? defaultConfigPath(env), flags.config !== undefined);
  const url = flags.apiUrl ?? env.BACKFLOW_API_URL ?? file.apiUrl ?? DEFAULT_API_URL;
  const key = flags.apiKey ?? env.BACKFLOW_API_KEY ?? file.apiKey;
  return { url: url.replace(/\/+$/, ''), key };
}
