import { workflowInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { SA } from '../common/temporal';
import { activitySummary } from './activitySummaries';

/**
 * Loaded into the control worker's bundle as an interceptor module (workers/logAttributes.ts
 * WORKFLOW_INTERCEPTOR_MODULES), so no workflow has to do this itself:
 * - every log line of a workflow (`log` from @temporalio/workflow, and the SDK's own) carries the VM and
 *   backup it is about, from its search attributes (set at start, or upserted once a scheduled run has
 *   its backup id); the SDK adds the workflowId;
 * - every activity gets a one-line `summary` for the Web UI (workflows/activitySummaries.ts), with disk
 *   sizes remembered from the VM's description. The factory runs once per workflow run, so `sizes` is
 *   this run's, and rebuilt identically on replay from the same results.
 */
export const interceptors: WorkflowInterceptorsFactory = () => {
  const sizes = new Map<string, number>();
  return {
    outbound: [
      {
        getLogAttributes(input, next) {
          const sa = workflowInfo().typedSearchAttributes;
          const vmId = sa.get(SA.VmId);
          const backupId = sa.get(SA.BackupId);
          return next({ ...input, ...(vmId ? { vmId } : {}), ...(backupId ? { backupId } : {}) });
        },
        async scheduleActivity(input, next) {
          const summary = input.options.summary ?? activitySummary(input.activityType, input.args[0], sizes);
          const result = await next(summary ? { ...input, options: { ...input.options, summary } } : input);
          if (input.activityType === 'describeVm') for (const d of (result as { disks?: { target: string; virtualSize: number }[] }).disks ?? []) sizes.set(d.target, d.virtualSize);
          return result;
        },
      },
    ],
  };
};
