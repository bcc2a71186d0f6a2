import { ParentClosePolicy, startChild, workflowInfo } from '@temporalio/workflow';
import { SA } from '../common/temporal';
import { catalog } from './activities';
import { createBackupWorkflow } from './backup';

/**
 * One time of an SLA offering's schedule: a backup of every VM assigned to the offering now (a VM
 * removed from it is no longer backed up, with nothing to undo). Each is the ordinary backup
 * workflow, carrying the SLA schedule's id, so its retention follows.
 */
export async function slaBackupsWorkflow(input: { offeringId: string; scheduleId: string; quiesce: boolean }): Promise<{ started: string[] }> {
  const vms = await catalog.listSlaVms({ offeringId: input.offeringId });
  const started: string[] = [];
  for (const vm of vms) {
    const child = await startChild(createBackupWorkflow, {
      workflowId: `backup-${vm.vmName}-${workflowInfo().workflowId}`,
      args: [{ vmId: vm.vmId, accountId: vm.accountId, quiesce: input.quiesce, isolated: false, scheduleId: input.scheduleId }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      staticSummary: `scheduled backup of ${vm.vmName} (SLA offering)`,
      typedSearchAttributes: [
        { key: SA.VmId, value: vm.vmId },
        { key: SA.HostId, value: vm.hostId },
        { key: SA.Zone, value: vm.zoneName },
        { key: SA.Operation, value: 'backup' },
      ],
    });
    started.push(child.workflowId);
  }
  return { started };
}
