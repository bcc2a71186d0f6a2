import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { ActivityOptions, Duration, RetryPolicy } from '@temporalio/common';
import type { ControlActivities } from '../activities/control';
import type * as HostActivities from '../activities/host';
import { Failure } from '../common/failures';

const hostRetry = (maximumAttempts: number): RetryPolicy => ({ initialInterval: '2s', maximumInterval: '1 minute', maximumAttempts });

/** A host step that must be picked up within `wait`, so a dead host is noticed instead of waited on forever. */
function hostStep(wait: Duration, run: Duration, attempts: number, heartbeat?: Duration): ActivityOptions {
  return { scheduleToStartTimeout: wait, startToCloseTimeout: run, heartbeatTimeout: heartbeat, retry: hostRetry(attempts) };
}

/**
 * The kinds of step a workflow runs, by name: a workflow says which kind (`onHost(queue, 'hostQuick')`),
 * and the timeouts and retries live here, once.
 */
export const presets = {
  /** Catalog writes on the control worker: quick, retried for a while (PostgreSQL may restart). */
  catalog: { startToCloseTimeout: '1 minute', retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 20 } },
  /** Waiting for a VM (withVmLocks): VmBusy is retried until the operation holding it finishes. */
  vmLockWait: { startToCloseTimeout: '30 seconds', scheduleToCloseTimeout: '8 hours', retry: { initialInterval: '1s', backoffCoefficient: 1.5, maximumInterval: '10 seconds' } },
  /** Waiting for a slot (withSlots): SlotBusy is retried; a job may queue for days behind long compressions. */
  slotWait: {
    startToCloseTimeout: '30 seconds', scheduleToCloseTimeout: '7 days',
    retry: { initialInterval: '1s', backoffCoefficient: 1.5, maximumInterval: '10 seconds', nonRetryableErrorTypes: [Failure.LockOrder] },
  },
  /** Describe, mount, prepare, commit, swap, attach: minutes at most; the host may be busy for a while. */
  hostQuick: hostStep('10 minutes', '10 minutes', 3),
  /** A backup's copy: hours, heartbeating, so a dead worker is noticed within a minute. */
  hostLongCopy: hostStep('10 minutes', '8 hours', 3, '1 minute'),
  /** A restore's copies and pulls: like hostLongCopy, tried more often (a copy that fails its check is made again). */
  hostRestoreCopy: hostStep('10 minutes', '8 hours', 10, '1 minute'),
  /** Merging a deleted backup into its child: a rebase of one chain link, heartbeating. */
  hostMerge: hostStep('10 minutes', '4 hours', 3, '1 minute'),
  /** Claiming a new VM's name and files while the API waits for the answer: the host must answer at once. */
  hostClaim: hostStep('30 seconds', '1 minute', 3),
  /** The sync task's scan of one repository: reads every backup's header, heartbeating; retried once. */
  hostScan: hostStep('1 minute', '30 minutes', 2, '2 minutes'),
  /** Hashing a backup's files (xxhsum reads them whole): hours for a big backup, heartbeating; killed at its end. */
  hostHash: hostStep('10 minutes', '8 hours', 3, '1 minute'),
  /**
   * A step that waits on a validation VM's guest (boot, a command, a screenshot's wait): the host ends it
   * at the VM's own timeout, heartbeating, so a dead worker is noticed within a minute; tried once more.
   */
  hostGuestWait: hostStep('10 minutes', '25 hours', 2, '1 minute'),
  /** The inventory round: one attempt; a host that does not pick it up within 30 s is Down. */
  hostProbe: hostStep('30 seconds', '2 minutes', 1),
} satisfies Record<string, ActivityOptions>;

/** The presets for steps on a host: 'hostQuick', 'hostLongCopy', … */
export type HostStepKind = Extract<keyof typeof presets, `host${string}`>;

/** Catalog activities: quick database writes on the control worker. */
export const catalog = proxyActivities<ControlActivities>(presets.catalog);

/**
 * The same catalog activities run as local activities of the control worker (which runs the workflows
 * too): no task-queue round trip, for the few steps a user waits on (quick restore's way to a running VM).
 */
export const catalogLocal = proxyLocalActivities<ControlActivities>(presets.catalog);

/** Activities on one host's own task queue, run as the given kind of step. */
export function onHost(taskQueue: string, kind: HostStepKind) {
  return proxyActivities<typeof HostActivities>({ taskQueue, ...presets[kind] });
}

export type HostSteps = ReturnType<typeof onHost>;
