import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * A worker process's own Prometheus figures (prom-client). Counted where the catalog records the outcome
 * (activities/control), so a retried activity or a replayed workflow never counts twice: each increment
 * follows a row's change of state, once. The API's /metrics shows the catalog's current state instead
 * (api/metrics.ts), which is the same whichever process took the backup.
 */
export const workerRegistry = new Registry();
collectDefaultMetrics({ register: workerRegistry, prefix: 'backflow_' });

const registers = [workerRegistry];
const MINUTES = [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800];

export const metrics = {
  backups: new Counter({
    name: 'backflow_backups_total', help: 'Backups that ended, by status (BackedUp, Failed, Error), provider and type', labelNames: ['status', 'provider', 'type'], registers,
  }),
  backupBytes: new Counter({ name: 'backflow_backup_bytes_written_total', help: 'Bytes of backup files written (size on disk of BackedUp backups)', labelNames: ['provider', 'type'], registers }),
  backupDuration: new Histogram({
    name: 'backflow_backup_duration_seconds', help: 'From the backup starting to run until it ended', labelNames: ['status', 'provider', 'type'], buckets: MINUTES, registers,
  }),
  freeze: new Histogram({
    name: 'backflow_backup_freeze_seconds', help: 'How long a quiesced backup kept the guest frozen', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60], registers,
  }),
  restores: new Counter({ name: 'backflow_restores_total', help: 'Restores that ended, by status, provider and mode', labelNames: ['status', 'provider', 'mode'], registers }),
  restoreBytes: new Counter({ name: 'backflow_restore_bytes_total', help: 'Virtual bytes of the disks restored', labelNames: ['provider', 'mode'], registers }),
  restoreDuration: new Histogram({
    name: 'backflow_restore_duration_seconds', help: 'From the restore request until it ended', labelNames: ['status', 'provider', 'mode'], buckets: MINUTES, registers,
  }),
  serviceJobs: new Counter({ name: 'backflow_service_jobs_total', help: 'Service job attempts that ended, by type and result (Succeeded, Failed)', labelNames: ['type', 'result'], registers }),
  slotWait: new Histogram({ name: 'backflow_slot_wait_seconds', help: 'How long a job queued for its counted slot', labelNames: ['resource'], buckets: MINUTES, registers }),
  alerts: new Counter({ name: 'backflow_alerts_total', help: 'Alerts raised, by type', labelNames: ['type'], registers }),
  hostWorkerUp: new Gauge({ name: 'backflow_host_worker_up', help: '1 while this host worker runs and polls its queue', labelNames: ['host', 'zone'], registers }),
};

/** A backup row that has just ended, as the catalog activities return it. */
export interface EndedBackup { status: string; provider: string; type: string | null; durationMs: number | null; sizeBytes?: number | string | null; freezeMs?: number | null }

export function observeBackup(b: EndedBackup): void {
  const labels = { status: b.status, provider: b.provider, type: b.type ?? 'unknown' };
  metrics.backups.inc(labels);
  if (b.durationMs != null) metrics.backupDuration.observe(labels, b.durationMs / 1000);
  if (b.status === 'BackedUp' && b.sizeBytes != null) metrics.backupBytes.inc({ provider: b.provider, type: labels.type }, Number(b.sizeBytes));
  if (b.freezeMs != null) metrics.freeze.observe(b.freezeMs / 1000);
}

export interface EndedRestore { status: string; provider: string; mode: string; durationMs: number | null; bytes?: number | string | null }

export function observeRestore(r: EndedRestore): void {
  const labels = { status: r.status, provider: r.provider, mode: r.mode };
  metrics.restores.inc(labels);
  if (r.durationMs != null) metrics.restoreDuration.observe(labels, r.durationMs / 1000);
  if (r.status === 'Succeeded' && r.bytes != null) metrics.restoreBytes.inc({ provider: r.provider, mode: r.mode }, Number(r.bytes));
}

/**
 * Serves GET /metrics on `port`: this registry's figures, then the Temporal SDK's own worker metrics
 * (task slots, poll and activity latencies, sticky cache), which the SDK's Runtime exposes on
 * `sdkMetricsUrl`; one scrape target per worker process.
 */
export function serveMetrics(port: number, registry: Registry, sdkMetricsUrl?: string): Promise<Server> {
  const server = createServer(async (req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    try {
      res.writeHead(200, { 'content-type': registry.contentType }).end((await registry.metrics()) + (await sdkMetrics(sdkMetricsUrl)));
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error).message}\n`);
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // Serving metrics alone does not keep a worker process alive once its worker has stopped.
    server.listen(port, '0.0.0.0', () => resolve(server.unref()));
  });
}

/** The SDK's exposition text, or a comment saying why it is missing (the worker's own figures still count). */
async function sdkMetrics(url: string | undefined): Promise<string> {
  if (!url) return '';
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return r.ok ? `\n${await r.text()}` : `\n# Temporal SDK metrics: ${url} answered ${r.status}\n`;
  } catch (e) {
    return `\n# Temporal SDK metrics: ${url} unreachable (${(e as Error).message})\n`;
  }
}
