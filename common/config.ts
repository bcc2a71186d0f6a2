import os from 'node:os';

const list = (v: string | undefined, dflt: string) => (v ?? dflt).split(':').map((s) => s.trim()).filter(Boolean);

/** A positive whole number from the environment, or the default when unset; anything else is a startup error. */
function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive whole number, not ${JSON.stringify(v)}`);
  return n;
}

/** Process configuration, from the environment, with defaults that match scripts/up.sh. */
export const config = {
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/backflow',
  temporalAddress: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
  temporalNamespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
  apiPort: Number(process.env.BACKFLOW_API_PORT ?? 8080),
  zone: process.env.BACKFLOW_ZONE ?? 'zone-1',
  inventoryIntervalSeconds: Number(process.env.BACKFLOW_INVENTORY_INTERVAL ?? 60),
  stateDir: process.env.BACKFLOW_STATE_DIR ?? `${process.cwd()}/.state`,
  /** The first root admin's API key, if the operator chooses it (else one is made on first start). */
  adminKey: process.env.BACKFLOW_ADMIN_KEY,
  /** pino's level for every process: trace, debug, info (default; warn under jest, so test output stays readable), warn, error. */
  logLevel: process.env.BACKFLOW_LOG_LEVEL || (process.env.JEST_WORKER_ID ? 'warn' : 'info'),
  /** The control worker's Prometheus endpoint (GET /metrics), and where the Temporal SDK's own metrics are read from. */
  controlMetricsPort: positiveInt('BACKFLOW_CONTROL_METRICS_PORT', process.env.BACKFLOW_CONTROL_METRICS_PORT, 9464),
  controlSdkMetricsPort: positiveInt('BACKFLOW_CONTROL_SDK_METRICS_PORT', process.env.BACKFLOW_CONTROL_SDK_METRICS_PORT, 9474),
  // Read when used (getters), so a test can set them for its own stack.
  /** Folders (colon-separated) that local repositories must lie inside, on the API and on each host. */
  get repositoryRoots(): string[] {
    return list(process.env.BACKFLOW_REPOSITORY_ROOTS, '/var/lib/backflow/repositories');
  },
  /** Where a host mounts remote repositories, at <mount root>/<repository id>. */
  get mountRoot(): string {
    return process.env.BACKFLOW_MOUNT_ROOT || '/var/lib/backflow/mnt';
  },
  /**
   * The host worker makes the repository roots and the mount root shared mounts at start, so a file
   * system mounted there later is seen by QEMUs started after that (libvirt gives each its own mount
   * namespace). 'false' leaves the host's mounts alone (e.g. with namespaces = [] in qemu.conf).
   */
  get shareRepositoryRoots(): boolean {
    return process.env.BACKFLOW_SHARE_REPOSITORY_ROOTS !== 'false';
  },
  /** This host's libvirt, which every virsh call names explicitly. */
  get libvirtUri(): string {
    return process.env.LIBVIRT_URI ?? 'qemu:///system';
  },
  /** Runtime state of the host worker that must not outlive a reboot (freeze markers). */
  get runDir(): string {
    return process.env.BACKFLOW_RUN_DIR ?? '/run/backflow';
  },
  /** Where a host keeps its validation VMs' overlays (a folder per validation, removed with its VM). */
  get validationDir(): string {
    return process.env.BACKFLOW_VALIDATION_DIR || '/var/lib/backflow/validation';
  },
  /** The system's tz database, where a time zone name that ICU knows under another spelling is looked up. */
  get zoneinfoDir(): string {
    return process.env.ZONEINFO || '/usr/share/zoneinfo';
  },
};

/**
 * A host worker's identity, limits and test hooks. A function of the environment, so a test can start
 * host workers with their own names in one process.
 */
export function hostConfig(env: NodeJS.ProcessEnv = process.env) {
  return {
    name: env.BACKFLOW_HOST_NAME ?? os.hostname(),
    /** Unset: derived from the machine id and the name (workers/hostFacts.ts). */
    id: env.BACKFLOW_HOST_ID,
    zone: env.BACKFLOW_ZONE ?? 'zone-1',
    libvirtUri: env.LIBVIRT_URI ?? 'qemu:///system',
    storagePaths: list(env.BACKFLOW_STORAGE_PATHS, '/var/lib/libvirt/images'),
    /** Activities one host worker runs at once (a safety net; counted slots cap the heavy operations). */
    maxActivities: positiveInt('BACKFLOW_HOST_MAX_ACTIVITIES', env.BACKFLOW_HOST_MAX_ACTIVITIES, 20),
    /** This host worker's Prometheus endpoint (GET /metrics), and the Temporal SDK's own metrics it includes. */
    metricsPort: positiveInt('BACKFLOW_HOST_METRICS_PORT', env.BACKFLOW_HOST_METRICS_PORT, 9465),
    sdkMetricsPort: positiveInt('BACKFLOW_HOST_SDK_METRICS_PORT', env.BACKFLOW_HOST_SDK_METRICS_PORT, 9475),
    /**
     * Domains the inventory round describes at once (each a few virsh calls, each its own libvirt
     * connection): one at a time, a host with 200 VMs outlasted the round's 2-minute limit (issue 15).
     */
    inventoryConcurrency: positiveInt('BACKFLOW_HOST_INVENTORY_CONCURRENCY', env.BACKFLOW_HOST_INVENTORY_CONCURRENCY, 8),
    /** Crash tests: the worker kills itself after this activity type completes (workers/crashHook.ts). */
    crashAfterActivity: env.BACKFLOW_CRASH_AFTER_ACTIVITY || undefined,
    /** ... before its result is reported, rather than just after. */
    crashBeforeResult: env.BACKFLOW_CRASH_BEFORE_RESULT === '1',
  };
}
export type HostConfig = ReturnType<typeof hostConfig>;
