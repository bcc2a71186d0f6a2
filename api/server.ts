import { mkdirSync, writeFileSync } from 'node:fs';
import { config } from '../common/config';
import { createPool } from '../common/db';
import { ensureAdminKey } from './adminKey';
import { createApp } from './app';
import { answerClientErrorsAsJson } from './clientErrors';
import { apiTemporalClient } from './temporalClient';

async function main() {
  const pool = createPool(config.databaseUrl);
  // Lazy: the API starts, and answers 503 for operations, while Temporal is away.
  const temporal = apiTemporalClient(config.temporalAddress, config.temporalNamespace);
  const { created } = await ensureAdminKey(pool, process.env.BACKFLOW_ADMIN_KEY);
  if (created) {
    // Shown once: printed, and left for the operator in the state folder (readable by root only).
    mkdirSync(config.stateDir, { recursive: true });
    writeFileSync(`${config.stateDir}/admin-key`, `${created}\n`, { mode: 0o600 });
    console.log(`first start: root admin API key ${created} (also in ${config.stateDir}/admin-key)`);
  }
  const server = createApp({ pool, temporal }).listen(config.apiPort, () => console.log(`backflow API on http://127.0.0.1:${config.apiPort}`));
  answerClientErrorsAsJson(server);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
