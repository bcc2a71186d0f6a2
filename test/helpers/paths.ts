import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The repository root: the nearest folder up with the migrations (also when compiled into dist-bench/). */
function repoRoot(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'migrations'))) return dir;
  }
  throw new Error(`no repository root above ${__dirname}`);
}

export const REPO = repoRoot();
export const CACHE = process.env.BACKFLOW_CACHE ?? path.join(os.homedir(), '.cache/backflow');
export const TEMPORAL_BIN = process.env.TEMPORAL_BIN ?? path.join(CACHE, 'bin/temporal');

// Test repositories live under the cache and the temp folder; test hosts leave the host's mounts alone
// (the late-mount test makes its own root shared, as a host worker does at start).
process.env.BACKFLOW_REPOSITORY_ROOTS ??= [CACHE, os.tmpdir()].join(':');
process.env.BACKFLOW_SHARE_REPOSITORY_ROOTS ??= 'false';
