import { CancellationScope, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control';
import type { SlotRequest } from '../common/schemas/slots';
import { presets } from './activities';

/**
 * Waiting for a slot: the acquire step fails with SlotBusy while the pools are full and is tried again
 * (at most 10 s apart) until a slot is granted; a job may queue for days behind long compressions.
 */
const slots = proxyActivities<ControlActivities>(presets.slotWait);

/**
 * Runs fn holding a slot of request.resource in the zone's pool (and the host's, with hostId): at most
 * N such jobs at once, N read from the settings when the job asks. While it waits, the job shows in
 * the slots table as 'waiting'.
 *
 * Order: slots first, then the VM. Call withSlots outside withVmLocks, never inside, so a job waiting
 * for its turn on a busy host does not keep its VM from backups and restores meanwhile (acquireSlots
 * refuses, LockOrder, a workflow that holds a VM lock).
 */
export async function withSlots<T>(request: SlotRequest, fn: () => Promise<T>): Promise<T> {
  const { workflowId, runId } = workflowInfo();
  const holder = { holder: workflowId, runId };
  try {
    await slots.acquireSlots({ request, holder });
    return await fn();
  } finally {
    // Also when the acquire failed or was cancelled: the job's place in the queue goes with it.
    await CancellationScope.nonCancellable(() => slots.releaseSlots({ request, holder }));
  }
}
