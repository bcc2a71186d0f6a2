import { executeChild, workflowInfo } from '@temporalio/workflow';
import { catalog } from './activities';
import { deleteBackupWorkflow } from './deleteBackup';

/** Deletes every backup of a VM, newest first, so no deletion has to merge data into a child. */
export async function deleteVmBackupsWorkflow(input: { vmId: string }): Promise<{ deleted: string[] }> {
  const ids = await catalog.listVmBackupsNewestFirst({ vmId: input.vmId });
  for (const backupId of ids) {
    await executeChild(deleteBackupWorkflow, {
      workflowId: `${workflowInfo().workflowId}-${backupId}`,
      args: [{ backupId, forced: true }],
    });
  }
  return { deleted: ids };
}
