import { proxyActivities } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control';
import type * as HostActivities from '../activities/host';

/** Catalog activities: quick database writes on the control worker. */
export const catalog = proxyActivities<ControlActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 20 },
});

/**
 * Activities on one host's own task queue. scheduleToStart bounds how long we wait for that host's
 * worker to pick the task up, so a dead host is noticed instead of waited on forever.
 */
export function onHost(taskQueue: string, opts: { startToClose?: string; heartbeat?: string; attempts?: number; scheduleToStart?: string } = {}) {
  return proxyActivities<typeof HostActivities>({
    taskQueue,
    scheduleToStartTimeout: (opts.scheduleToStart ?? '1 minute') as '1 minute',
    startToCloseTimeout: (opts.startToClose ?? '5 minutes') as '5 minutes',
    heartbeatTimeout: opts.heartbeat as '30s' | undefined,
    retry: { initialInterval: '2s', maximumInterval: '1 minute', maximumAttempts: opts.attempts ?? 3 },
  });
}
