import { CancellationScope, condition, defineUpdate, setHandler, uuid4, workflowInfo } from '@temporalio/workflow';
import { fail, Failure } from '../common/failures';
import type { NewVmClaim, RestorePlan, RestoreWorkflowInput } from '../common/schemas/restores';
import { catalog, onHost } from './activities';
import { Compensations } from './compensations';
import { errorText } from './errors';
import { refreshVm, RestoreProgress, restoreHosts, restoreProgress, RestoreResult } from './restoreCommon';
import { withVmLocks } from './vmLock';
import { shownProgress } from './details';

/** Answers once the new VM's name and disk paths are claimed on the host, or were found taken. */
export const newVmClaim = defineUpdate<NewVmClaim>('newVmClaim');

/**
 * createVMFromBackup: a new VM (new name, UUID and disk files) from a backup and its saved domain XML.
 * First its name and disk paths are claimed on the host (files created exclusively, before anything is
 * recorded), so a taken name or path is refused (result status 'Refused', and the newVmClaim update
 * says so to the API) without touching any file that is not this restore's.
 */
export async function createVmFromBackupWorkflow(input: RestoreWorkflowInput): Promise<RestoreResult> {
  // Also the Web UI's current details of the workflow (workflows/details.ts).
  const progress = shownProgress<RestoreProgress>({ phase: 'claiming' });
  setHandler(restoreProgress, () => progress);
  let claim: NewVmClaim | undefined;
  let answered = false;
  setHandler(newVmClaim, async () => {
    await condition(() => claim !== undefined);
    answered = true;
    return claim!;
  });
  const name = input.newVmName!;
  const planned = await catalog.newVmFiles({ backupId: input.backupId, name, restoreId: input.restoreId });
  if (planned.restoreStatus === 'Succeeded') {
    claim = { claimed: true };
    return { restoreId: input.restoreId, status: 'Succeeded' };
  }
  const claimer = onHost(planned.hostTaskQueue, 'hostClaim');
  const paths = planned.files.map((f) => f.path);
  claim = await claimer.claimNewVolumes({ vmName: name, paths, restoreId: input.restoreId });
  if (!claim.claimed) {
    // Give the API's update its answer before the workflow closes.
    await condition(() => answered, '1 minute');
    return { restoreId: input.restoreId, status: 'Refused' };
  }

  let plan: RestorePlan;
  try {
    plan = await catalog.planRestore({ ...input, workflowId: workflowInfo().workflowId });
  } catch (err) {
    await CancellationScope.nonCancellable(() => claimer.releaseNewVolumes({ paths, restoreId: input.restoreId }));
    throw err;
  }
  const { host, long } = restoreHosts(plan);
  const newUuid = uuid4();
  const files = planned.files.map((f) => ({ ...f, file: plan.disks.find((x) => x.target === f.target)?.file ?? '' }));

  return withVmLocks([plan.sourceVm.id], 'create VM from backup', async () => {
    const undo = new Compensations();
    // Every path was claimed by this restore: its files, and only its, go again unless the VM gets defined.
    undo.add(() => host.releaseNewVolumes({ paths, restoreId: input.restoreId }));
    let defined = false;
    try {
      progress.phase = 'preparing';
      const { path: repoPath } = await host.mountRepository(plan.repository);
      const xml = await host.readBackupDomainXml({ repoPath, vmUuid: plan.backup.vmId, backupId: plan.backup.id });
      const missing = files.find((f) => !f.file);
      if (missing) throw fail.nonRetryable(Failure.DiskMissing, `backup ${plan.backup.id} has no disk ${missing.target}`);
      progress.phase = 'copying';
      for (const f of files) {
        progress.disk = f.target;
        const { tmpPath } = await long.flattenBackupDisk({ repoPath, file: f.file, targetPath: f.path, restoreId: input.restoreId, format: f.format });
        await host.placeNewVolume({ tmpPath, targetPath: f.path, restoreId: input.restoreId });
      }
      progress.phase = 'defining';
      const diskMap = Object.fromEntries(files.map((f) => [f.target, f.path]));
      const formats = Object.fromEntries(files.map((f) => [f.target, f.format]));
      await host.defineVmFromBackup({ xml, newName: name, newUuid, diskMap, formats });
      defined = true;
      // Defined: the files are the new VM's disks now, and stay whatever happens next.
      undo.keepAll();
      const domain = await host.describeVm({ uuid: newUuid });
      await catalog.recordDomain({ hostId: plan.targetVm.hostId, domain, accountId: plan.backup.accountId });
      await catalog.finishRestore({ restoreId: input.restoreId, bytes: plan.disks.reduce((s, d) => s + d.virtualSize, 0), targetVmId: newUuid });
      progress.phase = 'done';
      return { restoreId: input.restoreId, status: 'Succeeded', vmId: newUuid };
    } catch (err) {
      progress.phase = 'failed';
      progress.error = errorText(err);
      await undo.run();
      await CancellationScope.nonCancellable(() => catalog.failRestore({ restoreId: input.restoreId, error: progress.error! }));
      throw fail.nonRetryable(Failure.RestoreFailed, `creating VM ${name} from backup ${plan.backup.id} failed: ${progress.error}`);
    } finally {
      if (defined) await refreshVm(host, plan.targetVm.hostId, newUuid, plan.backup.accountId);
    }
  });
}
