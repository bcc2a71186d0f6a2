import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { config } from '../common/config';
import { thawStaleFreezes } from '../activities/host/quiesce';
import { mountRoot } from '../activities/host/mount';
import { shareMountRoots } from '../activities/host/lib/mountNamespaces';
import { hostFacts } from './hostFacts';
import { announceHost, createHostWorker } from './wiring';

async function main() {
  const facts = hostFacts();
  // A worker that crashed may have left a guest frozen: thaw it before anything else.
  const thawed = await thawStaleFreezes();
  if (thawed.length) console.log(`thawed guests left frozen by a previous run: ${thawed.join(', ')}`);
  // Before any VM needs them: filesystems mounted later under these are then seen by QEMUs started after now.
  if (config.shareRepositoryRoots) {
    try {
      const r = await shareMountRoots([...config.repositoryRoots, mountRoot()]);
      if (r.shared.length) console.log(`made shared mounts of the repository roots: ${r.shared.join(', ')}`);
    } catch (e) {
      console.warn(`could not make the repository roots shared mounts (repositories mounted after a VM started stay invisible to it): ${(e as Error).message}`);
    }
  }
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const worker = await createHostWorker({ connection, namespace: config.temporalNamespace, facts });
  const client = new Client({ connection: await Connection.connect({ address: config.temporalAddress }), namespace: config.temporalNamespace });
  const running = worker.run();
  await announceHost(client, facts, config.inventoryIntervalSeconds);
  console.log(`host worker ${facts.name} (${facts.id}) polling ${facts.taskQueue}`);
  await running;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
