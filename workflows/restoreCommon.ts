import { CancellationScope, defineQuery } from '@temporalio/workflow';
import type { RestorePlan } from '../common/schemas/restores';
import { catalog, onHost, type HostSteps } from './activities';

export interface RestoreProgress { phase: string; disk?: string; error?: string }
export interface RestoreResult { restoreId: string; status: string; vmId?: string; target?: string }
export const restoreProgress = defineQuery<RestoreProgress>('progress');

export type Host = HostSteps;

/** Quick steps on the target host, and the long ones (copies, pulls) with heartbeats. */
export function restoreHosts(plan: RestorePlan) {
  return {
    host: onHost(plan.targetVm.hostTaskQueue, 'hostQuick'),
    long: onHost(plan.targetVm.hostTaskQueue, 'hostRestoreCopy'),
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

