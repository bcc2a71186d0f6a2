import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { config } from '../common/config';
import { createPool } from '../common/db';
import { createControlWorker } from './wiring';

async function main() {
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const pool = createPool(config.databaseUrl);
  const temporal = new Client({ connection: await Connection.connect({ address: config.temporalAddress }), namespace: config.temporalNamespace });
  const worker = await createControlWorker({ connection, namespace: config.temporalNamespace, pool, temporal });
  console.log(`control worker polling ${worker.options.taskQueue}`);
  await worker.run();
  await pool.end();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
