import { Router, type RequestHandler } from 'express';
import type { Pool } from 'pg';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The API's Prometheus endpoint, GET /metrics without a key (as scrapers expect; it shows counts by
 * status, no names or ids). Besides the API's own request figures it reads the catalog at each scrape,
 * so the figures are the same whichever worker process took a backup: backups and restores by status
 * and provider, running operations, service jobs by type and state, jobs waiting for a slot, hosts up.
 * The workers' own counters and histograms are on their ports (common/metrics.ts).
 */
export function apiMetrics(pool: Pool): { route: Router; timing: RequestHandler } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'backflow_api_' });
  const registers = [registry];
  const requests = new Histogram({
    name: 'backflow_api_request_duration_seconds', help: 'API requests, by method, route and status', labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers,
  });
  // Each gauge is filled from one catalog query when scraped; a failed query fails the scrape (500), so
  // a database outage is visible instead of stale figures.
  const fromCatalog = (name: string, help: string, labelNames: string[], sql: string) =>
    new Gauge({
      name, help, labelNames, registers,
      async collect() {
        const rows = (await pool.query(sql)).rows as Record<string, string | number>[];
        this.reset();
        for (const { value, ...labels } of rows) this.set(labels as Record<string, string>, Number(value));
      },
    });
  fromCatalog('backflow_backups', 'Backups in the catalog, by status and provider', ['status', 'provider'],
    `SELECT status, provider, count(*) AS value FROM backups GROUP BY 1, 2`);
  fromCatalog('backflow_restores', 'Restores in the catalog, by status, provider and mode', ['status', 'provider', 'mode'],
    `SELECT r.status, b.provider, r.mode, count(*) AS value FROM restores r JOIN backups b ON b.id = r.backup_id GROUP BY 1, 2, 3`);
  fromCatalog('backflow_running_operations', 'Operations running now, by kind', ['operation'],
    `SELECT 'backup' AS operation, count(*) AS value FROM backups WHERE status IN ('Allocated', 'BackingUp')
     UNION ALL SELECT 'restore', count(*) FROM restores WHERE status IN ('Running', 'Consolidating')
     UNION ALL SELECT 'service-job', count(*) FROM backup_service_jobs WHERE executing`);
  fromCatalog('backflow_service_jobs', 'Backup service jobs, by type and state (executing, scheduled, succeeded, failed)', ['type', 'state'],
    `SELECT type, CASE WHEN executing THEN 'executing' WHEN scheduled_at IS NOT NULL THEN 'scheduled'
                       WHEN result = 'Succeeded' THEN 'succeeded' WHEN result IS NULL THEN 'pending' ELSE 'failed' END AS state,
            count(*) AS value FROM backup_service_jobs GROUP BY 1, 2`);
  fromCatalog('backflow_slot_waiting', 'Jobs waiting for a counted slot, by resource', ['resource'],
    `SELECT resource, count(DISTINCT (holder, run_id)) AS value FROM slots WHERE state = 'waiting' GROUP BY 1`);
  fromCatalog('backflow_slot_wait_oldest_seconds', 'How long the longest-waiting job has waited for a slot, by resource', ['resource'],
    `SELECT resource, EXTRACT(EPOCH FROM now() - min(requested_at)) AS value FROM slots WHERE state = 'waiting' GROUP BY 1`);
  fromCatalog('backflow_host_up', '1 when the host worker answers its inventory (Up), else 0', ['host', 'zone'],
    `SELECT h.name AS host, z.name AS zone, (h.status = 'Up')::int AS value FROM hosts h JOIN zones z ON z.id = h.zone_id`);

  const timing: RequestHandler = (req, res, next) => {
    const end = requests.startTimer();
    // The route's pattern, not the path, so ids do not make a series each.
    res.on('finish', () => end({ method: req.method, route: req.route ? `${req.baseUrl}${req.route.path}` : 'unmatched', status: String(res.statusCode) }));
    next();
  };
  const route = Router();
  route.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  return { route, timing };
}
