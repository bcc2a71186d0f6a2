import { CancellationScope, setHandler, workflowInfo } from '@temporalio/workflow';
import { fail, Failure } from '../common/failures';
import { restoredFormat, restoredVolumePath } from '../common/layout';
import type { RestoreWorkflowInput } from '../common/schemas/restores';
import { catalog } from './activities';
import { Compensations } from './compensations';
import { consolidateDisks, consolidateUntilDone } from './consolidate';
import { errorText } from './errors';
import { refreshVm, RestoreProgress, restoreHosts, restoreProgress, RestoreResult } from './restoreCommon';
import { withVmLocks } from './vmLock';
import { shownProgress } from './details';

/**
 * restoreVolumeFromBackupAndAttachToVM: one disk of a backup becomes a new volume beside the target
 * VM's disks, on its host, attached at the next free target (running or stopped VM).
 */
export async function restoreVolumeWorkflow(input: RestoreWorkflowInput): Promise<RestoreResult> {
  // Also the Web UI's current details of the workflow (workflows/details.ts).
  const progress = shownProgress<RestoreProgress>({ phase: 'planning' });
  setHandler(restoreProgress, () => progress);
  const plan = await catalog.planRestore({ ...input, workflowId: workflowInfo().workflowId });
  const disk = plan.disks.find((d) => d.target === input.volumeTarget);
  if (!disk) throw fail.nonRetryable(Failure.DiskMissing, `backup ${plan.backup.id} has no disk ${input.volumeTarget}`);
  const { host, long } = restoreHosts(plan);
  const vmId = plan.targetVm.id;

  return withVmLocks([plan.sourceVm.id, vmId], 'restore volume', async () => {
    const undo = new Compensations();
    try {
      progress.phase = 'preparing';
      const { path: repoPath } = await host.mountRepository(plan.repository);
      const dom = await host.describeVm({ uuid: vmId });
      if (!dom.disks.length) throw fail.nonRetryable(Failure.NoStorage, `VM ${dom.name} has no disk to put the volume beside`);
      // The volume comes back in the format it was backed up from: a raw disk as raw.
      const format = restoredFormat(disk.sourceFormat);
      const newPath = restoredVolumePath({ diskPath: dom.disks[0].path, vmName: dom.name, restoreId: input.restoreId, target: disk.target, format });
      const restoreId = input.restoreId;
      let target: string;
      if (input.quick) {
        progress.phase = 'overlaying';
        // Declared before the step: an overlay cut off halfway is removed too.
        undo.add(() => host.abortRestore({ restoreId, targetPaths: [newPath], removeNew: true }));
        await host.prepareQuickRestoreDisk({ restoreId, repoPath, file: disk.file, targetPath: newPath, format });
        target = (await host.attachVolume({ domain: vmId, path: newPath, format })).target;
        // Attached: the volume is the VM's now, and stays whatever happens next.
        undo.keepAll();
        progress.phase = 'consolidating';
        await catalog.setRestorePhase({ restoreId: input.restoreId, phase: 'consolidating', status: 'Consolidating', vmRunning: true });
        await consolidateUntilDone(progress, () => consolidateDisks(host, long, vmId, [{ target, path: newPath, format }], plan.pullRateLimitMiB, (d) => (progress.disk = d)));
        await host.unmountRepository({ id: plan.repository.id });
      } else {
        progress.phase = 'copying';
        // A new file, created exclusively: whatever is at that path already (anyone's) is not touched.
        // Its release is declared before the claim, as a claim cut off halfway may have created it.
        undo.add(() => host.releaseNewVolumes({ restoreId, paths: [newPath] }));
        const claim = await host.claimNewVolumes({ restoreId, paths: [newPath] });
        if (!claim.claimed) {
          undo.keepAll();
          throw fail.nonRetryable(Failure.PathTaken, `the new volume's path ${claim.taken} is taken on the host`);
        }
        const { tmpPath } = await long.flattenBackupDisk({ restoreId, repoPath, file: disk.file, targetPath: newPath, format });
        await host.placeNewVolume({ restoreId, tmpPath, targetPath: newPath });
        target = (await host.attachVolume({ domain: vmId, path: newPath, format })).target;
        undo.keepAll();
      }
      await catalog.finishRestore({ restoreId: input.restoreId, bytes: disk.virtualSize });
      progress.phase = 'done';
      return { restoreId: input.restoreId, status: 'Succeeded', vmId, target };
    } catch (err) {
      progress.phase = 'failed';
      progress.error = errorText(err);
      await undo.run();
      await CancellationScope.nonCancellable(() => catalog.failRestore({ restoreId: input.restoreId, error: progress.error! }));
      throw fail.nonRetryable(Failure.RestoreFailed, `volume restore from backup ${plan.backup.id} failed: ${progress.error}`);
    } finally {
      await refreshVm(host, plan.targetVm.hostId, vmId, null);
    }
  });
}
