import { CancellationScope, defineQuery } from '@temporalio/workflow';
import type { RestorePlan } from '../common/schemas/restores';
import { catalog, onHost } from './activities';

export interface RestoreProgress { phase: string; disk?: string; error?: string }
export interface RestoreResult { restoreId: string; status: string; vmId?: string; target?: string }
export const restoreProgress = defineQuery<RestoreProgress>('progress');

export type Host = ReturnType<typeof onHost>;

/** Quick steps on the target host, and the long ones (copies, pulls) with heartbeats. */
export function restoreHosts(plan: RestorePlan) {
  return {
    host: onHost(plan.targetVm.hostTaskQueue, { scheduleToStart: '10 minutes', startToClose: '10 minutes' }),
    long: onHost(plan.targetVm.hostTaskQueue, { scheduleToStart: '10 minutes', startToClose: '8 hours', heartbeat: '1 minute', attempts: 10 }),
  };
}

/** Whatever happened, the catalog shows the VM as its host now reports it. */
export async function refreshVm(host: Host, hostId: string, vmId: string, accountId: string | null): Promise<void> {
  await CancellationScope.nonCancellable(async () => {
    try {
      const domain = await host.describeVm({ uuid: vmId });
      await catalog.recordDomain({ hostId, domain, accountId });
    } catch {
      /* the inventory workflow will catch up */
    }
  });
}

export const dirOf = (path: string) => path.slice(0, path.lastIndexOf('/')) || '/';
