import { mkdirSync, writeFileSync } from 'node:fs';
import { config } from '../common/config';
import { logger } from '../common/log';
import { createPool } from '../common/db';
import { ensureAdminKey } from './adminKey';
import { createApp } from './app';
import { answerClientErrorsAsJson } from './clientErrors';
import { apiTemporalClient } from './temporalClient';

const log = logger('api');

async function main() {
  const pool = createPool(config.databaseUrl);
  // Lazy: the API starts, and answers 503 for operations, while Temporal is away.
  const temporal = apiTemporalClient(config.temporalAddress, config.temporalNamespace);
  const { created } = await ensureAdminKey(pool, config.adminKey);
  if (created) {
    // Shown once: printed, and left for the operator in the state folder (readable by root only).
    mkdirSync(config.stateDir, { recursive: true });
    writeFileSync(`${config.stateDir}/admin-key`, `${created}\n`, { mode: 0o600 });
    // The operator reads it from the log once; it is not repeated.
    log.info({ keyFile: `${config.stateDir}/admin-key` }, `first start: root admin API key ${created}`);
  }
  const server = createApp({ pool, temporal }).listen(config.apiPort, () => log.info({ port: config.apiPort }, `backflow API on http://127.0.0.1:${config.apiPort}`));
  answerClientErrorsAsJson(server);
}

main().catch((err) => {
  log.fatal({ err }, 'API stopped');
  process.exit(1);
});
