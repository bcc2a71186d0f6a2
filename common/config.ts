/** Process configuration, from the environment, with defaults that match scripts/up.sh. */
export const config = {
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/backflow',
  temporalAddress: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
  temporalNamespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
  apiPort: Number(process.env.BACKFLOW_API_PORT ?? 8080),
  zone: process.env.BACKFLOW_ZONE ?? 'zone-1',
  inventoryIntervalSeconds: Number(process.env.BACKFLOW_INVENTORY_INTERVAL ?? 60),
  stateDir: process.env.BACKFLOW_STATE_DIR ?? `${process.cwd()}/.state`,
};
