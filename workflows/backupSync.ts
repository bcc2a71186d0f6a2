import { allHandlersFinished, condition, continueAsNew, defineQuery, defineUpdate, setHandler, workflowInfo } from '@temporalio/workflow';
import { catalog, onHost } from './activities';
import { startNextServiceJob } from './lifecycle';
import { errorText } from './errors';

export interface SyncRound { at: number; marked: string[]; orphans: number; usageRows: number; schedulesDeleted: string[]; errors: string[] }
/** Run a round now and answer with it (the API's "sync now"). */
export const backupSyncNow = defineUpdate<SyncRound>('backupSyncNow');
export const lastBackupSync = defineQuery<SyncRound | undefined>('lastBackupSync');
export { backupSyncWorkflowId } from '../common/temporal';

/**
 * The background sync task of one zone, every backup.framework.sync.interval seconds (read each
 * round): each repository is scanned from a host of the zone, broken backups are marked Missing,
 * unknown folders are reported, and a usage row per VM is recorded.
 */
export async function backupSyncWorkflow(input: { zoneId: string }): Promise<void> {
  let requested = 0;
  let done = 0;
  let last: SyncRound | undefined;
  setHandler(backupSyncNow, async () => {
    const ticket = ++requested;
    await condition(() => done >= ticket);
    return last!;
  });
  setHandler(lastBackupSync, () => last);

  while (!workflowInfo().continueAsNewSuggested && workflowInfo().historyLength < 10_000) {
    const ticket = requested;
    const round: SyncRound = { at: Date.now(), marked: [], orphans: 0, usageRows: 0, schedulesDeleted: [], errors: [] };
    const plan = await catalog.planSync({ zoneId: input.zoneId });
    const bytes: Record<string, number> = {};
    for (const t of plan.targets) {
      try {
        const host = onHost(t.hostTaskQueue, 'hostScan');
        const { path: repoPath } = await host.mountRepository(t.repository);
        const scan = await host.scanRepository({ repoPath, expected: t.expected, knownBackupIds: t.knownBackupIds, knownVmIds: t.knownVmIds });
        const applied = await catalog.applySync({ repositoryId: t.repository.id, scan });
        round.marked.push(...applied.marked);
        round.orphans += applied.orphans;
        Object.assign(bytes, scan.bytes);
      } catch (err) {
        // One repository out of reach does not stop the others, nor the next round.
        round.errors.push(`repository ${t.name}: ${errorText(err)}`);
      }
    }
    round.usageRows = (await catalog.recordUsage({ zoneId: input.zoneId, bytes })).rows;
    // Backups due a service job that no backup started (the task was off when they were taken, a hash job failed).
    for (const { backupId } of await catalog.dueServiceJobs({ zoneId: input.zoneId })) await startNextServiceJob(backupId);
    // Validation VMs and overlays a crashed worker left (never those of a validation running now).
    for (const h of await catalog.validationSweepPlan({ zoneId: input.zoneId })) {
      await onHost(h.taskQueue, 'hostProbe').removeValidationLeftovers({ keepBackupIds: h.keepBackupIds })
        .catch((err) => round.errors.push(`validation leftovers on host ${h.hostName}: ${errorText(err)}`));
    }
    // A VM gone for good takes its schedules with it (one that moved hosts is back long before).
    round.schedulesDeleted = (await catalog.deleteSchedulesOfGoneVms({ zoneId: input.zoneId })).deleted;
    last = round;
    done = ticket;
    const interval = await catalog.syncIntervalSeconds();
    await condition(() => requested > done, `${interval} seconds`);
  }
  await condition(allHandlersFinished);
  await continueAsNew<typeof backupSyncWorkflow>(input);
}
