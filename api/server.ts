import { mkdirSync, writeFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { config } from '../common/config';
import { createPool } from '../common/db';
import { ensureAdminKey } from './adminKey';
import { createApp } from './app';

async function main() {
  const pool = createPool(config.databaseUrl);
  const temporal = new Client({ connection: await Connection.connect({ address: config.temporalAddress }), namespace: config.temporalNamespace });
  const { created } = await ensureAdminKey(pool, process.env.BACKFLOW_ADMIN_KEY);
  if (created) {
    // Shown once: printed, and left for the operator in the state folder (readable by root only).
    mkdirSync(config.stateDir, { recursive: true });
    writeFileSync(`${config.stateDir}/admin-key`, `${created}\n`, { mode: 0o600 });
    console.log(`first start: root admin API key ${created} (also in ${config.stateDir}/admin-key)`);
  }
  createApp({ pool, temporal }).listen(config.apiPort, () => console.log(`backflow API on http://127.0.0.1:${config.apiPort}`));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
