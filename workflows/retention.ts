import { executeChild, ParentClosePolicy, patched, startChild, upsertSearchAttributes, uuid4, workflowInfo } from '@temporalio/workflow';
import type { BackupPlan, BackupStart, BackupWorkflowInput } from '../common/schemas/backups';
import { SA } from '../common/temporal';
import { catalog } from './activities';
import { deleteBackupWorkflow } from './deleteBackup';

export interface RetentionInput { vmId: string; scheduleId: string | null; backupId: string; hostId?: string; zoneName?: string }
export interface RetentionResult { removed: { backupId: string; reason: string }[]; skipped: { backupId: string; reason: string }[] }

/** Every message down a failure's causes (child workflow → activity → the error itself). */
function causes(err: unknown): string {
  const out: string[] = [];
  for (let e = err; e instanceof Error && out.length < 6; e = e.cause) out.push(e.message);
  return out.join(': ') || String(err);
}

/**
 * A schedule's run starts without a backupId (its arguments are fixed when the schedule is made):
 * one is allocated here, deterministically on replay, and shown as the run's BackupId.
 */
export function scheduledRun(start: BackupStart): BackupWorkflowInput {
  if (start.backupId) return start as BackupWorkflowInput;
  const backupId = uuid4();
  upsertSearchAttributes([{ key: SA.BackupId, value: backupId }]);
  return { ...start, backupId };
}

/** After a good backup: retention runs on its own (the backup is done either way) when a schedule or a policy asks. */
export async function startRetention(input: BackupWorkflowInput, plan: BackupPlan): Promise<void> {
  // Backup workflows that started before retention existed replay without it.
  if (!patched('retention-after-backup')) return;
  const due = await catalog.retentionDue({ vmId: plan.vm.id, scheduleId: input.scheduleId ?? null });
  if (!due) return;
  await startChild(retentionWorkflow, {
    workflowId: `retention-${plan.vm.name}-${input.backupId}`,
    args: [{ vmId: plan.vm.id, scheduleId: input.scheduleId ?? null, backupId: input.backupId, hostId: plan.vm.hostId, zoneName: plan.vm.zoneName }],
    parentClosePolicy: ParentClosePolicy.ABANDON,
    staticSummary: `retention of ${plan.vm.name}'s backups after backup ${input.backupId}`,
    typedSearchAttributes: [
      { key: SA.VmId, value: plan.vm.id },
      { key: SA.BackupId, value: input.backupId },
      { key: SA.HostId, value: plan.vm.hostId },
      { key: SA.Zone, value: plan.vm.zoneName },
      { key: SA.Operation, value: 'retention' },
    ],
  });
}

/**
 * Retention of one VM: the schedule's backups beyond its maxBackups and what the offering's GFS
 * policy does not keep go, oldest first. Each goes through deleteBackup with forced, which first
 * merges its data into the backup that depends on it, so every backup left restores on its own and
 * the repository keeps no file that no listed backup needs. Protected backups are never touched.
 */
export async function retentionWorkflow(input: RetentionInput): Promise<RetentionResult> {
  const plan = await catalog.planRetention({ vmId: input.vmId, scheduleId: input.scheduleId });
  const out: RetentionResult = { removed: [], skipped: [] };
  for (const r of plan.remove) {
    // Checked again just before: the owner may have protected it, or a restore may read its chain.
    const check = await catalog.claimForRetention({ backupId: r.backupId, reason: r.reason });
    if (!check.ok) {
      out.skipped.push({ backupId: r.backupId, reason: check.reason });
      continue;
    }
    try {
      await executeChild(deleteBackupWorkflow, {
        workflowId: `${workflowInfo().workflowId}-delete-${r.backupId}`,
        args: [{ backupId: r.backupId, forced: true }],
        staticSummary: `delete backup ${r.backupId} by retention: ${r.reason}`,
        typedSearchAttributes: [
          { key: SA.VmId, value: input.vmId },
          { key: SA.BackupId, value: r.backupId },
          ...(input.hostId ? [{ key: SA.HostId, value: input.hostId }] : []),
          ...(input.zoneName ? [{ key: SA.Zone, value: input.zoneName }] : []),
          { key: SA.Operation, value: 'delete-backup' },
        ],
      });
      out.removed.push(r);
    } catch (err) {
      // One that cannot go now is tried again after the next backup; the others still go.
      out.skipped.push({ backupId: r.backupId, reason: causes(err) });
    }
  }
  return out;
}
