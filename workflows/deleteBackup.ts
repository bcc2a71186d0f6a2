import { catalog, onHost } from './activities';
import { hashRewrittenBackup } from './hashBackup';
import { withVmLocks } from './vmLock';

/**
 * deleteBackup. A backup others depend on is only deleted with forced, and then its data is first
 * merged into its child, so every remaining backup stays restorable; only then are its files removed.
 */
export async function deleteBackupWorkflow(input: { backupId: string; forced: boolean }): Promise<{ backupId: string; merged: string | null }> {
  const plan = await catalog.planBackupDeletion(input);
  if (plan.status === 'Expunged') return { backupId: input.backupId, merged: null };
  return withVmLocks([plan.vmId], 'delete backup', async () => {
    // Planned again under the lock: a backup may have finished meanwhile.
    const p = await catalog.planBackupDeletion(input);
    if (p.provider !== 'dummy' && p.repository) {
      const host = onHost(p.hostTaskQueue, 'hostMerge');
      const { path: repoPath } = await host.mountRepository(p.repository);
      if (p.childId) {
        // The merge rewrites the child's files: their hashes go first, and are taken again after it.
        const { cleared } = await catalog.clearHashes({ backupId: p.childId });
        await host.mergeIntoChild({
          repoPath, vmUuid: p.vmId, backupId: p.backupId, childBackupId: p.childId, grandParentBackupId: p.parentId, targets: p.targets,
        });
        await hashRewrittenBackup(p.childId, cleared);
      }
      await catalog.applyBackupDeletion({ backupId: p.backupId });
      await host.deleteBackupFiles({ repoPath, vmUuid: p.vmId, backupId: p.backupId });
    } else {
      await catalog.applyBackupDeletion({ backupId: p.backupId });
    }
    // The VM's newest checkpoint belonged to this backup: the next backup cannot chain onto it.
    if (p.isChainHead) await catalog.breakChain({ vmId: p.vmId, reason: `the chain's latest backup ${p.backupId} was deleted` });
    return { backupId: p.backupId, merged: p.childId };
  });
}
