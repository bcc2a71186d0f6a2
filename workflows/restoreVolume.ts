import { ApplicationFailure, CancellationScope, setHandler, workflowInfo } from '@temporalio/workflow';
import type { RestoreWorkflowInput } from '../common/schemas/restores';
import { catalog } from './activities';
import { consolidateDisks, consolidateUntilDone } from './consolidate';
import { errorText } from './errors';
import { dirOf, refreshVm, RestoreProgress, restoreHosts, restoreProgress, RestoreResult } from './restoreCommon';
import { withVmLocks } from './vmLock';

/**
 * restoreVolumeFromBackupAndAttachToVM: one disk of a backup becomes a new volume beside the target
 * VM's disks, on its host, attached at the next free target (running or stopped VM).
 */
export async function restoreVolumeWorkflow(input: RestoreWorkflowInput): Promise<RestoreResult> {
  const progress: RestoreProgress = { phase: 'planning' };
  setHandler(restoreProgress, () => progress);
  const plan = await catalog.planRestore({ ...input, workflowId: workflowInfo().workflowId });
  const disk = plan.disks.find((d) => d.target === input.volumeTarget);
  if (!disk) throw ApplicationFailure.nonRetryable(`backup ${plan.backup.id} has no disk ${input.volumeTarget}`, 'DiskMissing');
  const { host, long } = restoreHosts(plan);
  const vmId = plan.targetVm.id;

  return withVmLocks([plan.sourceVm.id, vmId], 'restore volume', async () => {
    let newPath: string | undefined;
    let attached = false;
    try {
      progress.phase = 'preparing';
      const { path: repoPath } = await host.mountRepository(plan.repository);
      const dom = await host.describeVm({ uuid: vmId });
      if (!dom.disks.length) throw ApplicationFailure.nonRetryable(`VM ${dom.name} has no disk to put the volume beside`, 'NoStorage');
      newPath = `${dirOf(dom.disks[0].path)}/${dom.name}-restored-${input.restoreId.slice(0, 8)}-${disk.target}.qcow2`;
      let target: string;
      if (input.quick) {
        progress.phase = 'overlaying';
        await host.prepareQuickRestoreDisk({ repoPath, file: disk.file, targetPath: newPath, restoreId: input.restoreId });
        target = (await host.attachVolume({ domain: vmId, path: newPath, format: 'qcow2' })).target;
        attached = true;
        progress.phase = 'consolidating';
        await catalog.setRestorePhase({ restoreId: input.restoreId, phase: 'consolidating', status: 'Consolidating', vmRunning: true });
        const path = newPath;
        await consolidateUntilDone(progress, () => consolidateDisks(host, long, vmId, [{ target, path }], plan.pullRateLimitMiB, (d) => (progress.disk = d)));
        await host.unmountRepository({ id: plan.repository.id });
      } else {
        progress.phase = 'copying';
        // A new file, created exclusively: whatever is at that path already (anyone's) is not touched.
        const claim = await host.claimNewVolumes({ paths: [newPath], restoreId: input.restoreId });
        if (!claim.claimed) {
          newPath = undefined;
          throw ApplicationFailure.nonRetryable(`the new volume's path ${claim.taken} is taken on the host`, 'PathTaken');
        }
        const { tmpPath } = await long.flattenBackupDisk({ repoPath, file: disk.file, targetPath: newPath, restoreId: input.restoreId });
        await host.placeNewVolume({ tmpPath, targetPath: newPath, restoreId: input.restoreId });
        target = (await host.attachVolume({ domain: vmId, path: newPath, format: 'qcow2' })).target;
        attached = true;
      }
      await catalog.finishRestore({ restoreId: input.restoreId, bytes: disk.virtualSize });
      progress.phase = 'done';
      return { restoreId: input.restoreId, status: 'Succeeded', vmId, target };
    } catch (err) {
      progress.phase = 'failed';
      progress.error = errorText(err);
      await CancellationScope.nonCancellable(async () => {
        // A volume never attached is removed again; an attached one is the VM's now.
        if (newPath && !attached) {
          if (input.quick) await host.abortRestore({ targetPaths: [newPath], restoreId: input.restoreId, removeNew: true });
          else await host.releaseNewVolumes({ paths: [newPath], restoreId: input.restoreId });
        }
        await catalog.failRestore({ restoreId: input.restoreId, error: progress.error! });
      });
      throw ApplicationFailure.nonRetryable(`volume restore from backup ${plan.backup.id} failed: ${progress.error}`, 'RestoreFailed');
    } finally {
      await refreshVm(host, plan.targetVm.hostId, vmId, null);
    }
  });
}
