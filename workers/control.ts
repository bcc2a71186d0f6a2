import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { config } from '../common/config';
import { createPool } from '../common/db';
import { logger } from '../common/log';
import { serveMetrics, workerRegistry } from '../common/metrics';
import { createControlWorker } from './wiring';
import { ensureBackupSync } from '../common/backupSync';
import { installRuntime, sdkMetricsUrl } from './runtime';

const log = logger('control');

async function main() {
  installRuntime(log, config.controlSdkMetricsPort);
  await serveMetrics(config.controlMetricsPort, workerRegistry, sdkMetricsUrl(config.controlSdkMetricsPort));
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const pool = createPool(config.databaseUrl);
  const temporal = new Client({ connection: await Connection.connect({ address: config.temporalAddress }), namespace: config.temporalNamespace });
  const worker = await createControlWorker({ connection, namespace: config.temporalNamespace, pool, temporal });
  log.info({ taskQueue: worker.options.taskQueue, metricsPort: config.controlMetricsPort }, 'control worker polling');
  // The background sync task of every zone (issue 11): one workflow each, kept running by Temporal. A zone
  // made later gets its own when its first host registers (activities/control/hosts.ts).
  for (const zone of (await pool.query(`SELECT id, name FROM zones`)).rows) await ensureBackupSync(temporal, zone);
  await worker.run();
  await pool.end();
  // The last native object gone, the SDK's Runtime shuts down and the process can end.
  await connection.close();
}

// A stopped worker (SIGTERM, SIGINT: the SDK drains it first) ends the process.
main().then(
  () => process.exit(0),
  (err) => {
    log.fatal({ err }, 'control worker stopped');
    process.exit(1);
  },
);
