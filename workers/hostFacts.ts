
import { readFileSync } from 'node:fs';
import { stableUuid } from '../common/ids';
import os from 'node:os';
import path from 'node:path';
import type { HostFacts } from '../common/schemas/inventory';
import { hostTaskQueue } from '../common/temporal';
import { LIBVIRT_URI } from '../activities/host/virsh';

/** A stable UUID for this machine: from /etc/machine-id and the host name, so a restart keeps its identity. */
function stableHostId(name: string): string {
  let machineId = '';
  try {
    machineId = readFileSync('/etc/machine-id', 'utf8').trim();
  } catch {
    /* containers may lack it; the name alone is then the identity */
  }
  return stableUuid('backflow-host', machineId, name);
}

/** The package version, from source (workers/) or from the build (dist/workers/). */
function packageVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      return require(path.join(__dirname, rel)).version;
    } catch {
      /* try the next layout */
    }
  }
  return 'unknown';
}

export function hostFacts(env: NodeJS.ProcessEnv = process.env): HostFacts {
  const name = env.BACKFLOW_HOST_NAME ?? os.hostname();
  return {
    id: env.BACKFLOW_HOST_ID ?? stableHostId(name),
    name,
    zone: env.BACKFLOW_ZONE ?? 'zone-1',
    taskQueue: hostTaskQueue(name),
    libvirtUri: LIBVIRT_URI,
    cpus: os.cpus().length,
    memoryBytes: os.totalmem(),
    storagePaths: (env.BACKFLOW_STORAGE_PATHS ?? '/var/lib/libvirt/images').split(':').filter(Boolean),
    workerVersion: packageVersion(),
  };
}
