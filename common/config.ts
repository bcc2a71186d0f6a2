const list = (v: string | undefined, dflt: string) => (v ?? dflt).split(':').map((s) => s.trim()).filter(Boolean);

/** Process configuration, from the environment, with defaults that match scripts/up.sh. */
export const config = {
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/backflow',
  temporalAddress: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
  temporalNamespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
  apiPort: Number(process.env.BACKFLOW_API_PORT ?? 8080),
  zone: process.env.BACKFLOW_ZONE ?? 'zone-1',
  inventoryIntervalSeconds: Number(process.env.BACKFLOW_INVENTORY_INTERVAL ?? 60),
  stateDir: process.env.BACKFLOW_STATE_DIR ?? `${process.cwd()}/.state`,
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
};
