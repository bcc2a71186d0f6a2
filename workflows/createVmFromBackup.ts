import { ApplicationFailure, CancellationScope, setHandler, uuid4, workflowInfo } from '@temporalio/workflow';
import type { RestoreWorkflowInput } from '../common/schemas/restores';
import { catalog } from './activities';
import { errorText } from './errors';
import { dirOf, refreshVm, RestoreProgress, restoreHosts, restoreProgress, RestoreResult } from './restoreCommon';
import { withVmLocks } from './vmLock';

/** createVMFromBackup: a new VM (new name, UUID and disk files) from a backup and its saved domain XML. */
export async function createVmFromBackupWorkflow(input: RestoreWorkflowInput): Promise<RestoreResult> {
  const progress: RestoreProgress = { phase: 'planning' };
  setHandler(restoreProgress, () => progress);
  const plan = await catalog.planRestore({ ...input, workflowId: workflowInfo().workflowId });
  const { host, long } = restoreHosts(plan);
  const newUuid = uuid4();
  const name = input.newVmName!;
  const files = plan.disks.map((d) => ({ ...d, path: `${dirOf(d.sourcePath)}/${name}-${d.target}.qcow2` }));

  return withVmLocks([plan.sourceVm.id], 'create VM from backup', async () => {
    let defined = false;
    try {
      progress.phase = 'preparing';
      const { path: repoPath } = await host.mountRepository(plan.repository);
      const xml = await host.readBackupDomainXml({ repoPath, vmUuid: plan.backup.vmId, backupId: plan.backup.id });
      progress.phase = 'copying';
      for (const f of files) {
        progress.disk = f.target;
        const { tmpPath } = await long.flattenBackupDisk({ repoPath, file: f.file, targetPath: f.path, restoreId: input.restoreId });
        await host.swapInRestoredDisk({ tmpPath, targetPath: f.path, restoreId: input.restoreId });
      }
      progress.phase = 'defining';
      const diskMap = Object.fromEntries(files.map((f) => [f.target, f.path]));
      await host.defineVmFromBackup({ xml, newName: name, newUuid, diskMap });
      defined = true;
      const domain = await host.describeVm({ uuid: newUuid });
      await catalog.recordDomain({ hostId: plan.targetVm.hostId, domain, accountId: plan.backup.accountId });
      await catalog.finishRestore({ restoreId: input.restoreId, bytes: plan.disks.reduce((s, d) => s + d.virtualSize, 0), targetVmId: newUuid });
      progress.phase = 'done';
      return { restoreId: input.restoreId, status: 'Succeeded', vmId: newUuid };
    } catch (err) {
      progress.phase = 'failed';
      progress.error = errorText(err);
      await CancellationScope.nonCancellable(async () => {
        if (!defined) await host.abortRestore({ targetPaths: files.map((f) => f.path), restoreId: input.restoreId, removeNew: true });
        await catalog.failRestore({ restoreId: input.restoreId, error: progress.error! });
      });
      throw ApplicationFailure.nonRetryable(`creating VM ${name} from backup ${plan.backup.id} failed: ${progress.error}`, 'RestoreFailed');
    } finally {
      if (defined) await refreshVm(host, plan.targetVm.hostId, newUuid, plan.backup.accountId);
    }
  });
}
