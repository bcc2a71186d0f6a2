import { CancellationScope, setHandler, workflowInfo } from '@temporalio/workflow';
import { fail, Failure } from '../common/failures';
import type { RestorePlan, RestoreWorkflowInput } from '../common/schemas/restores';
import { catalog, catalogLocal } from './activities';
import { Compensations } from './compensations';
import { consolidateDisks, consolidateUntilDone } from './consolidate';
import { errorText } from './errors';
import { Host, refreshVm, RestoreProgress, restoreHosts, restoreProgress, RestoreResult } from './restoreCommon';
import { withVmLocks } from './vmLock';
import { shownProgress } from './details';

/**
 * restoreBackup: every disk of the VM back to the backup's point, in place. The VM must be stopped.
 * Plain: each disk's chain is flattened into a new file beside the volume and swapped in only once all
 * are complete and checked. Quick: each disk becomes an overlay on the backup, the VM starts at once,
 * and the data is pulled in while it runs.
 */
export async function restoreBackupWorkflow(input: RestoreWorkflowInput): Promise<RestoreResult> {
  // Also the Web UI's current details of the workflow (workflows/details.ts).
  const progress = shownProgress<RestoreProgress>({ phase: 'planning' });
  setHandler(restoreProgress, () => progress);
  // Quick restore is waited on by a user: its catalog steps before the start are local activities.
  const db = input.quick ? catalogLocal : catalog;
  const plan = await db.planRestore({ ...input, workflowId: workflowInfo().workflowId });
  if (plan.status === 'Succeeded') return { restoreId: input.restoreId, status: plan.status, vmId: plan.targetVm.id };
  progress.phase = 'waiting for the VM';
  return withVmLocks([plan.targetVm.id], 'restore', () => restoreInPlace(plan, input, progress));
}

async function restoreInPlace(plan: RestorePlan, input: RestoreWorkflowInput, progress: RestoreProgress): Promise<RestoreResult> {
  const { host, long } = restoreHosts(plan);
  const vmId = plan.targetVm.id;
  const undo = new Compensations();
  await (input.quick ? catalogLocal : catalog).setVmState({ vmId, state: 'Restoring' });
  try {
    progress.phase = 'preparing';
    if (input.quick) await quickRestore(plan, host, long, progress, undo);
    else await plainRestore(plan, host, long, await preparePlain(plan, host), progress, undo);

    // The restored disks carry none of the old dirty bitmaps: the next backup starts a new chain.
    await host.pruneCheckpoints({ domain: vmId, keep: [], metadataOnly: true });
    await catalog.breakChain({ vmId: plan.backup.vmId, reason: `restored from backup ${plan.backup.id}` });
    await catalog.finishRestore({ restoreId: input.restoreId, bytes: plan.disks.reduce((s, d) => s + d.virtualSize, 0) });
    progress.phase = 'done';
    return { restoreId: input.restoreId, status: 'Succeeded', vmId };
  } catch (err) {
    progress.phase = 'failed';
    progress.error = errorText(err);
    await undo.run();
    await CancellationScope.nonCancellable(() => catalog.failRestore({ restoreId: input.restoreId, error: progress.error! }));
    throw fail.nonRetryable(Failure.RestoreFailed, `restore of backup ${plan.backup.id} failed: ${progress.error}`);
  } finally {
    await refreshVm(host, plan.targetVm.hostId, vmId, null);
  }
}

/** A disk of the VM and the backup file it gets back; in its format on the VM (a raw disk restores as raw). */
interface RestoreTarget { target: string; file: string; path: string; format: string }

/** Plain restore's preparation: the repository, the VM (defined again if gone, and stopped), its disks. */
async function preparePlain(plan: RestorePlan, host: Host): Promise<{ repoPath: string; targets: RestoreTarget[] }> {
  const vmId = plan.targetVm.id;
  const { path: repoPath } = await host.mountRepository(plan.repository);
  const xml = await host.readBackupDomainXml({ repoPath, vmUuid: plan.backup.vmId, backupId: plan.backup.id });
  await host.ensureDomainDefined({ uuid: vmId, xml });
  const dom = await host.describeVm({ uuid: vmId });
  if (dom.state !== 'shut off') {
    throw fail.nonRetryable(Failure.VmRunning, `VM ${dom.name} is ${dom.state}: stop it before restoring in place`);
  }
  const targets = plan.disks.map((d): RestoreTarget => {
    const disk = dom.disks.find((x) => x.target === d.target);
    if (!disk) throw fail.nonRetryable(Failure.DiskMissing, `VM ${dom.name} has no disk ${d.target} any more`);
    return { target: d.target, file: d.file, path: disk.path, format: disk.format };
  });
  return { repoPath, targets };
}

async function plainRestore(
  plan: RestorePlan, host: Host, long: Host, { repoPath, targets }: { repoPath: string; targets: RestoreTarget[] }, progress: RestoreProgress, undo: Compensations,
) {
  progress.phase = 'copying';
  // Until every volume is swapped and the restore finished, the old disks can go back untouched.
  undo.add(() => host.abortRestore({ targetPaths: targets.map((t) => t.path), restoreId: plan.restoreId }));
  const tmpPaths: string[] = [];
  for (const t of targets) {
    progress.disk = t.target;
    tmpPaths.push((await long.flattenBackupDisk({ repoPath, file: t.file, targetPath: t.path, restoreId: plan.restoreId, format: t.format })).tmpPath);
  }
  // Only now, with every disk complete and checked, are the volumes replaced.
  progress.phase = 'swapping';
  for (const [i, t] of targets.entries()) await host.swapInRestoredDisk({ tmpPath: tmpPaths[i], targetPath: t.path, restoreId: plan.restoreId });
  await host.finishRestore({ targetPaths: targets.map((t) => t.path), restoreId: plan.restoreId });
}

/**
 * Mount, define if gone, overlays and start are one host activity (startQuickRestore), so the VM runs
 * after one round trip. Once it runs from the backup there is no going back: its old disks stay replaced.
 */
async function quickRestore(plan: RestorePlan, host: Host, long: Host, progress: RestoreProgress, undo: Compensations): Promise<void> {
  progress.phase = 'overlaying';
  const vmUuid = plan.targetVm.id;
  undo.add(() => host.abortQuickRestore({ vmUuid, targets: plan.disks.map((d) => d.target), restoreId: plan.restoreId }));
  const { disks: targets } = await host.startQuickRestore({
    repository: plan.repository, vmUuid, backupVmUuid: plan.backup.vmId, backupId: plan.backup.id, restoreId: plan.restoreId,
    disks: plan.disks.map((d) => ({ target: d.target, file: d.file })),
  });
  undo.keepAll();
  progress.phase = 'consolidating';
  await catalog.setRestorePhase({ restoreId: plan.restoreId, phase: 'consolidating', status: 'Consolidating', vmRunning: true });
  await catalog.setVmState({ vmId: plan.targetVm.id, state: 'Running' });
  await consolidateUntilDone(progress, () => consolidateDisks(host, long, plan.targetVm.id, targets, plan.pullRateLimitMiB, (d) => (progress.disk = d)));
  await host.finishRestore({ targetPaths: targets.map((t) => t.path), restoreId: plan.restoreId });
  await host.unmountRepository({ id: plan.repository.id });
}
