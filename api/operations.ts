import { WorkflowIdConflictPolicy, type Client, type WorkflowHandle, type WorkflowStartOptions } from '@temporalio/client';
import type { QueryDefinition, SearchAttributePair } from '@temporalio/common';
import type { Pool } from 'pg';
import { CONTROL_TASK_QUEUE, SA } from '../common/temporal';

/** What an operation is about: the search attributes the Web UI filters by (absent ones are left out). */
export interface OperationSubject { operation: string; vmId?: string; backupId?: string; hostId?: string; zone?: string }

const KEYS = { vmId: SA.VmId, backupId: SA.BackupId, hostId: SA.HostId, zone: SA.Zone, operation: SA.Operation } as const;

export function operationAttributes(subject: OperationSubject): SearchAttributePair[] {
  return (Object.keys(KEYS) as (keyof typeof KEYS)[]).flatMap((k) => (subject[k] == null ? [] : [{ key: KEYS[k], value: subject[k] }]));
}

/** A VM's name (workflow ids name it) and where it is (the search attributes say so). */
export async function vmSite(pool: Pool, vmId: string): Promise<{ name: string; hostId: string; zone: string }> {
  const q = await pool.query(`SELECT v.name, v.host_id AS "hostId", z.name AS zone FROM vms v JOIN zones z ON z.id = v.zone_id WHERE v.id = $1`, [vmId]);
  return q.rows[0];
}

/** One operation's workflow: its readable id, its single input, what it is about. */
export interface OperationStart<I> { workflowId: string; input: I; subject: OperationSubject }

/**
 * Starts an operation's workflow on the control queue. The same workflow id again joins the running one
 * (USE_EXISTING), so a retried request (same requestId) does not start a second operation.
 */
export function startOperation<I, R>(
  temporal: Client, workflow: (input: I) => Promise<R>, o: OperationStart<I>,
): Promise<WorkflowHandle<(input: I) => Promise<R>>> {
  const options = {
    workflowId: o.workflowId,
    taskQueue: CONTROL_TASK_QUEUE,
    args: [o.input],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    typedSearchAttributes: operationAttributes(o.subject),
  } as WorkflowStartOptions<(input: I) => Promise<R>>;
  return temporal.workflow.start(workflow, options);
}

/**
 * `row` with, while its workflow runs, `progress`: the workflow's own answer to `query` (its phase) merged
 * with the details the first pending activity last heartbeated (e.g. bytes copied). When the workflow
 * cannot answer (closed meanwhile, or not yet picked up), the row as it is.
 */
export async function withLiveProgress<R extends object>(temporal: Client, row: R, workflowId: string, query: QueryDefinition<object>) {
  try {
    const handle = temporal.workflow.getHandle(workflowId);
    const [phase, desc] = await Promise.all([handle.query(query), handle.describe()]);
    const beat = (desc.raw.pendingActivities ?? []).map((a) => a.heartbeatDetails?.payloads?.[0]?.data).find(Boolean);
    return { ...row, progress: { ...phase, ...(beat ? JSON.parse(Buffer.from(beat).toString()) : {}) } };
  } catch {
    return row;
  }
}
