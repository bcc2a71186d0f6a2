import { executeChild, workflowInfo } from '@temporalio/workflow';
import { catalog } from './activities';
import { deleteBackupWorkflow } from './deleteBackup';

/**
 * Deletes the backups of a VM taken by one account (accountId null: by every account), newest first, so
 * no deletion has to merge data into a child of the same account. Another account's backup that depends
 * on one of them gets its data merged in (forced), so it stays restorable.
 */
export async function deleteVmBackupsWorkflow(input: { vmId: string; accountId?: string | null }): Promise<{ deleted: string[] }> {
  const ids = await catalog.listVmBackupsNewestFirst({ vmId: input.vmId, accountId: input.accountId ?? null });
  for (const backupId of ids) {
    await executeChild(deleteBackupWorkflow, {
      workflowId: `${workflowInfo().workflowId}-${backupId}`,
      args: [{ backupId, forced: true }],
      staticSummary: `delete backup ${backupId} (all backups of the VM go)`,
    });
  }
  return { deleted: ids };
}
