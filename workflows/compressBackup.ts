import {
  ApplicationFailure, CancellationScope, defineQuery, isCancellation, proxyActivities, setHandler, sleep, workflowInfo,
} from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control';
import { Failure } from '../common/failures';
import type { CompressionPlan } from '../common/schemas/serviceJobs';
import type * as HostActivities from '../activities/host';
import { catalog, onHost, presets } from './activities';
import { errorText } from './errors';
import { SERVICE_JOB_WORKFLOWS, startNextServiceJob } from './lifecycle';
import { withSlots } from './slots';
import { withVmLocks } from './vmLock';
import { shownProgress } from './details';

export interface CompressionProgress { phase: string; attempt: number; error?: string }
export interface CompressionResult { backupId: string; status: string; attempts: number; skipped?: string }
export const compressionProgress = defineQuery<CompressionProgress>('progress');

/** One compression workflow per backup, readable in the Web UI. */
export const compressWorkflowId = SERVICE_JOB_WORKFLOWS.compress.id;

/** Finalize waits while a restore reads the chain: retried until it ends (a wait, not an attempt). */
const gate = proxyActivities<ControlActivities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '30 days',
  retry: { initialInterval: '2s', backoffCoefficient: 1.5, maximumInterval: '30 seconds', nonRetryableErrorTypes: [Failure.NotFound] },
});

/**
 * Compresses a backup's files after it is taken, as KBOSS does, in two phases so the backup is never
 * unreadable: phase 1 (Compressing) writes checked, compared compressed copies beside the originals,
 * under a compression slot of the zone and host; phase 2 (FinalizingCompression, then Compressed)
 * renames them over the originals, under the VM's lock, once no restore reads the chain. A failed
 * attempt leaves the originals as they were and is tried again after backup.compression.retry.interval
 * minutes, at most backup.compression.max.job.retries times; then CompressionError, with the reason.
 */
export async function compressBackupWorkflow(input: { backupId: string }): Promise<CompressionResult> {
  const { workflowId } = workflowInfo();
  // Also the Web UI's current details of the workflow (workflows/details.ts).
  const progress = shownProgress<CompressionProgress>({ phase: 'planning', attempt: 0 });
  setHandler(compressionProgress, () => progress);
  let error = '';
  for (;;) {
    // Read again before each attempt: the backup may be gone, the settings changed.
    const plan = await catalog.planCompression({ backupId: input.backupId, workflowId });
    if (plan.skip) return { backupId: input.backupId, status: plan.compressionStatus ?? 'NotCompressed', attempts: plan.attempts, skipped: plan.skip };
    const max = plan.settings.maxRetries + 1;
    progress.attempt = plan.attempts;
    if (plan.attempts >= max) break;
    try {
      const repoPath = await compressOnce(plan, workflowId, progress);
      progress.phase = 'finalizing';
      await finalize(plan, repoPath, workflowId);
      progress.phase = 'done';
      await startNextServiceJob(input.backupId);
      return { backupId: input.backupId, status: 'Compressed', attempts: progress.attempt };
    } catch (err) {
      if (isCancellation(err)) {
        // Cancelled by an operator: the originals are untouched; the backup shows why it is not compressed.
        await CancellationScope.nonCancellable(() => catalog.endServiceJob({ backupId: input.backupId, type: 'StartCompression', error: 'cancelled' }));
        throw err;
      }
      error = errorText(err);
      progress.error = error;
      const retry = progress.attempt < max;
      await catalog.endServiceJob({
        backupId: input.backupId, type: 'StartCompression', error, retryInMinutes: retry ? plan.settings.retryIntervalMinutes : undefined,
      });
      if (!retry) break;
      progress.phase = 'waiting to retry';
      await sleep(plan.settings.retryIntervalMinutes * 60_000);
    }
  }
  progress.phase = 'failed';
  // The originals are intact and readable: validation and hashing go on without the compression.
  await startNextServiceJob(input.backupId);
  throw ApplicationFailure.nonRetryable(`compression of backup ${input.backupId} failed after its retries: ${error || 'no attempts left'}`, Failure.CompressionFailed);
}

/** Phase 1, one attempt: a slot, then the host writes, checks and compares the compressed copies. */
async function compressOnce(plan: CompressionPlan, workflowId: string, progress: CompressionProgress): Promise<string> {
  const host = onHost(plan.hostTaskQueue, 'hostQuick');
  // One try per attempt, as long as the job's timeout (a setting, so not a preset): the host kills
  // qemu-img at the job's deadline, this startToClose is the backstop.
  const long = proxyActivities<typeof HostActivities>({
    taskQueue: plan.hostTaskQueue, ...presets.hostLongCopy,
    startToCloseTimeout: `${plan.settings.timeoutSeconds + 120} seconds`, retry: { maximumAttempts: 1 },
  });
  const s = plan.settings;
  let repoPath: string | undefined;
  progress.phase = 'waiting for a compression slot';
  try {
    await withSlots({ resource: 'compression', zoneId: plan.zoneId, hostId: plan.hostId, operation: 'compress backup' }, async () => {
      progress.attempt = (await catalog.startServiceJob({ backupId: plan.backupId, type: 'StartCompression', workflowId })).attempts;
      progress.phase = 'compressing';
      try {
        repoPath = (await host.mountRepository(plan.repository)).path;
        await long.compressBackupDisks({
          repoPath, vmUuid: plan.vm.id, backupId: plan.backupId, targets: plan.targets, library: plan.library, coroutines: s.coroutines,
          rateLimitMB: s.rateLimitMB, timeoutSeconds: s.timeoutSeconds, minimumFreeBytes: Math.ceil(plan.sizeBytes * s.minimumFreeFactor),
        });
        // Ended while the slot is still held, so the jobs shown executing never outnumber the slots.
        await catalog.endServiceJob({ backupId: plan.backupId, type: 'StartCompression' });
      } catch (err) {
        if (!isCancellation(err)) {
          const retry = progress.attempt < s.maxRetries + 1;
          await catalog.endServiceJob({
            backupId: plan.backupId, type: 'StartCompression', error: errorText(err), retryInMinutes: retry ? s.retryIntervalMinutes : undefined,
          });
        }
        throw err;
      }
    });
  } catch (err) {
    // The host removes its copies itself on failure; this covers a crash or a timeout of the host step.
    if (repoPath) {
      const p = repoPath;
      await CancellationScope.nonCancellable(() => host.discardCompression({ repoPath: p, vmUuid: plan.vm.id, backupId: plan.backupId, targets: plan.targets })).catch(() => undefined);
    }
    throw err;
  }
  return repoPath!;
}

/** Phase 2: the copies replace the originals once no restore reads the chain; the catalog records the sizes. */
async function finalize(plan: CompressionPlan, repoPath: string, workflowId: string): Promise<void> {
  const host = onHost(plan.hostTaskQueue, 'hostQuick');
  const files = { repoPath, vmUuid: plan.vm.id, backupId: plan.backupId, targets: plan.targets };
  await gate.awaitNoRestoreReading({ backupId: plan.backupId, workflowId });
  await withVmLocks([plan.vm.id], 'compress finalize', async () => {
    await gate.beginFinalize({ backupId: plan.backupId, workflowId });
    await catalog.startServiceJob({ backupId: plan.backupId, type: 'FinalizeCompression', workflowId });
    try {
      const { disks } = await host.finalizeCompression(files);
      await catalog.markCompressed({ backupId: plan.backupId, disks });
      await catalog.endServiceJob({ backupId: plan.backupId, type: 'FinalizeCompression' });
    } catch (err) {
      await CancellationScope.nonCancellable(async () => {
        await host.discardCompression(files).catch(() => undefined);
        await catalog.endServiceJob({ backupId: plan.backupId, type: 'FinalizeCompression', error: errorText(err) });
      });
      throw err;
    }
  });
}
