import { Runtime } from '@temporalio/worker';
import type { Logger as Pino } from 'pino';
import { TemporalPinoLogger } from '../common/log';

/**
 * The Temporal SDK's Runtime for a worker process (it can be installed once per process): its logger is
 * our pino (workflow and activity `log`, and the SDK core's warnings), and, with `sdkMetricsPort`, its
 * own worker metrics are served in Prometheus format on 127.0.0.1:<port>, which the worker's /metrics
 * includes (common/metrics.ts serveMetrics).
 */
export function installRuntime(pino: Pino, sdkMetricsPort?: number, opts: { forwardCoreLogs?: boolean } = {}): void {
  Runtime.install({
    logger: new TemporalPinoLogger(pino),
    telemetryOptions: {
      // Forwarded core logs keep the event loop alive until the Runtime shuts down (the workers close their
      // connections at the end for that); a test process that must exit leaves them on stderr instead.
      logging: { ...(opts.forwardCoreLogs === false ? {} : { forward: {} }), filter: { core: 'WARN', other: 'WARN' } },
      ...(sdkMetricsPort ? { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkMetricsPort}`, countersTotalSuffix: true } } } : {}),
    },
  });
}

export const sdkMetricsUrl = (port: number) => `http://127.0.0.1:${port}/metrics`;
