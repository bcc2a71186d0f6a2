import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
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
  const h = createHash('sha1').update(`backflow-host:${machineId}:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
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
    workerVersion: require('../package.json').version,
  };
}
