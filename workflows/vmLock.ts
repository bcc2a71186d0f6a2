import { CancellationScope, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control';
import { presets } from './activities';

/** Waiting for a VM: retried until the operation holding it finishes (one backup or restore at a time per VM). */
const locks = proxyActivities<ControlActivities>(presets.vmLockWait);

/** Runs fn holding every given VM (in a fixed order, so two operations never wait on each other). */
export async function withVmLocks<T>(vmIds: string[], operation: string, fn: () => Promise<T>): Promise<T> {
  const holder = workflowInfo().workflowId;
  const ids = [...new Set(vmIds)].sort();
  const held: string[] = [];
  try {
    for (const vmId of ids) {
      await locks.acquireVmLock({ vmId, holder, operation });
      held.push(vmId);
    }
    return await fn();
  } finally {
    await CancellationScope.nonCancellable(async () => {
      for (const vmId of held) await locks.releaseVmLock({ vmId, holder });
    });
  }
}
