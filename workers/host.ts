import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { config, hostConfig } from '../common/config';
import { logger } from '../common/log';
import { metrics, serveMetrics, workerRegistry } from '../common/metrics';
import { thawStaleFreezes } from '../activities/host/quiesce';
import { mountRoot } from '../activities/host/mount';
import { shareMountRoots } from '../activities/host/lib/mountNamespaces';
import { hostFacts } from './hostFacts';
import { installRuntime, sdkMetricsUrl } from './runtime';
import { announceHost, createHostWorker } from './wiring';

const log = logger('host');

async function main() {
  const facts = hostFacts();
  const { metricsPort, sdkMetricsPort } = hostConfig();
  installRuntime(log.child({ host: facts.name }), sdkMetricsPort);
  await serveMetrics(metricsPort, workerRegistry, sdkMetricsUrl(sdkMetricsPort));
  // A worker that crashed may have left a guest frozen: thaw it before anything else.
  const thawed = await thawStaleFreezes();
  if (thawed.length) log.warn({ domains: thawed }, 'thawed guests left frozen by a previous run');
  // Before any VM needs them: filesystems mounted later under these are then seen by QEMUs started after now.
  if (config.shareRepositoryRoots) {
    try {
      const r = await shareMountRoots([...config.repositoryRoots, mountRoot()]);
      if (r.shared.length) log.info({ roots: r.shared }, 'made shared mounts of the repository roots');
    } catch (err) {
      log.warn({ err }, 'could not make the repository roots shared mounts (repositories mounted after a VM started stay invisible to it)');
    }
  }
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const worker = await createHostWorker({ connection, namespace: config.temporalNamespace, facts });
  const client = new Client({ connection: await Connection.connect({ address: config.temporalAddress }), namespace: config.temporalNamespace });
  const running = worker.run();
  await announceHost(client, facts, config.inventoryIntervalSeconds);
  metrics.hostWorkerUp.set({ host: facts.name, zone: facts.zone }, 1);
  log.info({ host: facts.name, hostId: facts.id, taskQueue: facts.taskQueue, metricsPort }, 'host worker polling');
  await running;
  metrics.hostWorkerUp.set({ host: facts.name, zone: facts.zone }, 0);
  // The last native object gone, the SDK's Runtime shuts down and the process can end.
  await client.connection.close();
  await connection.close();
}

// A stopped worker (SIGTERM, SIGINT: the SDK drains it first) ends the process.
main().then(
  () => process.exit(0),
  (err) => {
    log.fatal({ err }, 'host worker stopped');
    process.exit(1);
  },
);
