import { readFileSync } from 'node:fs';
import { stableUuid } from '../common/ids';
import os from 'node:os';
import path from 'node:path';
import type { HostFacts } from '../common/schemas/inventory';
import { hostTaskQueue } from '../common/temporal';
import { hostConfig } from '../common/config';

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
  const { name, id, zone, libvirtUri, storagePaths } = hostConfig(env);
  return {
    id: id ?? stableHostId(name),
    name,
    zone,
    taskQueue: hostTaskQueue(name),
    libvirtUri,
    cpus: os.cpus().length,
    memoryBytes: os.totalmem(),
    storagePaths,
    workerVersion: packageVersion(),
  };
}
