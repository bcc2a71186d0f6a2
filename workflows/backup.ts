import { CancellationScope, defineQuery, setHandler, workflowInfo } from '@temporalio/workflow';
import { carriesBitmap } from '../common/diskFormats';
import { fail, Failure } from '../common/failures';
import type { BackupPlan, BackupStart, BackupWorkflowInput, ChainDecision, DiskBackupPlan } from '../common/schemas/backups';
import { catalog, catalogLocal, onHost, type HostSteps } from './activities';
import { copyRunningVm, copyStoppedVm } from './backupCopy';
import { Compensations } from './compensations';
import { errorText } from './errors';
import { withVmLocks } from './vmLock';
import { scheduledRun, startRetention } from './retention';
import { startNextServiceJob } from './lifecycle';
import { shownProgress } from './details';

export interface BackupProgress { phase: string; type?: 'FULL' | 'INCREMENTAL'; fullReason?: string; error?: string }
export interface BackupResult { backupId: string; status: string; type?: string; fullReason?: string }
export const backupProgress = defineQuery<BackupProgress>('progress');

/** createBackup: one backup of every disk of a VM, on the host that runs it, into the offering's repository. */
export async function createBackupWorkflow(start: BackupStart): Promise<BackupResult> {
  // Also the Web UI's current details of the workflow (workflows/details.ts).
  const progress = shownProgress<BackupProgress>({ phase: 'allocating' });
  setHandler(backupProgress, () => progress);
  const input: BackupWorkflowInput = scheduledRun(start);

  const plan = await catalogLocal.allocateBackup({ ...input, workflowId: workflowInfo().workflowId });
  if (plan.status === 'BackedUp') return { backupId: input.backupId, status: plan.status };
  progress.phase = 'waiting for the VM';
  const result = await withVmLocks([plan.vm.id], 'backup', async (): Promise<BackupResult> => {
    if (plan.provider === 'dummy') {
      await catalog.recordDummyBackup({ backupId: input.backupId, vmId: plan.vm.id });
      return { backupId: input.backupId, status: 'BackedUp', type: 'FULL' };
    }
    return takeBackup(plan, input, progress);
  });
  // Then the backup's life goes on in workflows of its own (compress, validate, hash: workflows/lifecycle.ts),
  // started beside retention: independent child starts, side by side (fewer sequential round trips).
  await Promise.all([startRetention(input, plan), result.status === 'BackedUp' ? startNextServiceJob(input.backupId) : undefined]);
  return result;
}

async function takeBackup(plan: BackupPlan, input: BackupWorkflowInput, progress: BackupProgress): Promise<BackupResult> {
  const host = onHost(plan.hostTaskQueue, 'hostQuick');
  const undo = new Compensations();
  try {
    progress.phase = 'preparing';
    // Independent host steps side by side (issue 15: the control plane's share of a backup).
    const [{ path: repoPath }, dom] = await Promise.all([host.mountRepository(plan.repository!), host.describeVm({ uuid: plan.vm.id })]);
    const where = { repoPath, vmUuid: plan.vm.id, backupId: input.backupId };
    undo.add(async () => {
      // A libvirt job still writing into the folder must stop before the folder goes.
      await host.abortLiveBackup({ domain: plan.vm.id });
      // A folder that is not recorded as BackedUp must not stay where it could be taken for a good backup.
      await host.discardBackupDir(where);
    });
    const chain = await decideChain(plan, input, host, dom);
    const disks = planDisks(dom.disks, chain);
    // A checkpoint only where some disk can carry its bitmap (a VM of raw disks gets full backups only).
    const checkpoint = plan.provider === 'kboss' && !input.isolated && dom.disks.some((d) => carriesBitmap(d.format)) ? `backflow-${input.backupId}` : null;
    Object.assign(progress, { type: chain.type, fullReason: chain.fullReason });
    await catalogLocal.markBackingUp({
      backupId: input.backupId, hostId: plan.vm.hostId, type: chain.type, parentId: chain.parent?.id ?? null,
      chainId: chain.parent?.chainId ?? input.backupId, chainPosition: chain.parent ? chain.parent.chainPosition + 1 : 0,
      checkpoint, fullReason: chain.fullReason ?? null,
    });
    const running = dom.state === 'running' || dom.state === 'paused';
    const { dir } = await host.prepareBackupDir({
      repoPath, vmUuid: dom.uuid, backupId: input.backupId, domainXml: dom.xml, runningDomain: running ? dom.uuid : undefined,
    });

    progress.phase = 'copying';
    const copyHost = onHost(plan.hostTaskQueue, 'hostLongCopy');
    const copy = { host: copyHost, backupId: input.backupId, dom, disks, dir, chain, checkpoint, quiesce: input.quiesce, freezeGuardSeconds: plan.freezeGuardSeconds };
    const q = running ? await copyRunningVm(copy) : await copyStoppedVm(copy);

    progress.phase = 'committing';
    const files = await host.commitBackupDir({
      repoPath, vmUuid: dom.uuid, backupId: input.backupId,
      disks: disks.map((d) => ({ target: d.target, parentBackupId: d.incremental ? chain.parent?.id : undefined })),
    });
    // Committed but not recorded as BackedUp: its files go too.
    undo.add(() => host.deleteBackupFiles(where));
    await catalogLocal.markBackedUp({
      backupId: input.backupId, quiesced: q.quiesced, freezeMs: q.freezeMs,
      disks: files.map((f) => {
        const d = disks.find((x) => x.target === f.target)!;
        return {
          target: f.target, file: f.file, sizeBytes: f.sizeOnDisk, virtualSize: f.virtualSize,
          sourcePath: d.path, sourceFormat: d.format, fullReason: d.fullReason ?? null,
        };
      }),
    });
    // Only the newest checkpoint is needed for the next incremental; older ones would pile up in libvirt.
    if (checkpoint) await host.pruneCheckpoints({ domain: dom.uuid, keep: [checkpoint] });
    progress.phase = 'done';
    return { backupId: input.backupId, status: 'BackedUp', type: chain.type, fullReason: chain.fullReason };
  } catch (err) {
    progress.phase = 'failed';
    progress.error = errorText(err);
    // Error instead of Failed when the cleanup failed too: an operator should look.
    const cleanedUp = await undo.run().then(() => true, () => false);
    await CancellationScope.nonCancellable(() => catalog.markBackupFailed({ backupId: input.backupId, error: progress.error!, cleanedUp }));
    throw fail.nonRetryable(Failure.BackupFailed, `backup ${input.backupId} of ${plan.vm.name} failed: ${progress.error}`);
  }
}

/** Each disk follows the chain if it can carry a dirty bitmap; any other is copied in full, with the reason. */
function planDisks(disks: { target: string; path: string; format: string }[], chain: ChainDecision): DiskBackupPlan[] {
  return disks.map((d) => {
    if (!carriesBitmap(d.format)) {
      return { ...d, incremental: false, fullReason: `a ${d.format} disk cannot carry a dirty bitmap: copied in full every backup` };
    }
    return chain.parent ? { ...d, incremental: true } : { ...d, incremental: false, fullReason: chain.fullReason };
  });
}

/** The catalog proposes full or incremental; the host confirms the parent's checkpoint still exists. */
async function decideChain(
  plan: BackupPlan,
  input: BackupWorkflowInput,
  host: HostSteps,
  dom: { uuid: string; disks: { target: string; path: string; format: string }[] },
): Promise<ChainDecision> {
  const withBitmaps = dom.disks.filter((d) => carriesBitmap(d.format));
  if (!withBitmaps.length) {
    return { type: 'FULL', fullReason: `no disk of the VM can carry a dirty bitmap (${dom.disks.map((d) => `${d.target}: ${d.format}`).join(', ')})` };
  }
  const chain = await catalogLocal.planChain({
    backupId: input.backupId, vmId: plan.vm.id, isolated: input.isolated, provider: plan.provider, chainSize: plan.chainSize,
  });
  if (!chain.parent) return chain;
  // libvirt or the disks may have lost it: VM redefined, disk replaced, backup deleted.
  const check = await host.checkpointUsable({
    domain: dom.uuid, name: chain.parent.checkpoint, disks: withBitmaps.map((d) => ({ target: d.target, path: d.path })),
  });
  return check.usable ? chain : { type: 'FULL', fullReason: `checkpoint ${chain.parent.checkpoint} unusable: ${check.reason}` };
}
