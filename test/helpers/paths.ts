import os from 'node:os';
import path from 'node:path';

export const REPO = path.resolve(__dirname, '../..');
export const CACHE = process.env.BACKFLOW_CACHE ?? path.join(os.homedir(), '.cache/backflow');
export const TEMPORAL_BIN = process.env.TEMPORAL_BIN ?? path.join(CACHE, 'bin/temporal');
