import { isCancellation, ParentClosePolicy, startChild } from '@temporalio/workflow';
import type { NextServiceJob } from '../common/schemas/serviceJobs';
import { operationAttributes } from '../common/temporal';
import { catalog } from './activities';

/** Each service job's workflow type and readable id (`validate-web-01-<backup id>`), by kind. */
export const SERVICE_JOB_WORKFLOWS: Record<NextServiceJob['kind'], { type: string; id: (vmName: string, backupId: string) => string }> = {
  compress: { type: 'compressBackupWorkflow', id: (vm, b) => `compress-${vm}-${b}` },
  validate: { type: 'validateBackupWorkflow', id: (vm, b) => `validate-${vm}-${b}` },
  hash: { type: 'hashBackupWorkflow', id: (vm, b) => `hash-${vm}-${b}` },
};

/**
 * Starts the backup's next service job (compress, validate, hash: the catalog decides which) as a
 * workflow of its own that outlives the caller (ABANDON). Called at the end of a backup and of each
 * job. Never fails its caller: a job not started here is started by the sync task's round.
 */
export async function startNextServiceJob(backupId: string): Promise<void> {
  try {
    const next = await catalog.nextServiceJob({ backupId });
    if (!next) return;
    const w = SERVICE_JOB_WORKFLOWS[next.kind];
    // By type name: the job workflows start this one at their end, so importing them would be circular.
    await startChild(w.type, {
      workflowId: w.id(next.vmName, backupId),
      args: [{ backupId }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      staticSummary: `${next.kind} a backup of ${next.vmName}`,
      typedSearchAttributes: operationAttributes({ operation: next.kind, vmId: next.vmId, backupId, hostId: next.hostId, zone: next.zone }),
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    // Already started (the due-jobs route or the sync round got there first), or the catalog unreachable.
  }
}
