import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { config } from '../common/config';
import { createPool } from '../common/db';
import { createControlWorker } from './wiring';
import { ensureBackupSync } from '../api/routes/sync';

async function main() {
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const pool = createPool(config.databaseUrl);
  const temporal = new Client({ connection: await Connection.connect({ address: config.temporalAddress }), namespace: config.temporalNamespace });
  const worker = await createControlWorker({ connection, namespace: config.temporalNamespace, pool, temporal });
  console.log(`control worker polling ${worker.options.taskQueue}`);
  // The background sync task of every zone (issue 11): one workflow each, started once, kept running by Temporal.
  for (const zone of (await pool.query(`SELECT id, name FROM zones`)).rows) await ensureBackupSync(temporal, zone);
  await worker.run();
  await pool.end();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
