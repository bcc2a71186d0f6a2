import { WorkflowIdConflictPolicy, type Client, type WorkflowHandle, type WorkflowStartOptions } from '@temporalio/client';
import { operationMetadata } from './summaries';
import { CONTROL_TASK_QUEUE, operationAttributes, type OperationSubject } from './temporal';

export { operationAttributes, type OperationSubject };

/**
 * One operation's workflow: its readable id, its single input, what it is about, and the line the Web UI
 * shows for it ("backup of web-01 to nas-1"; made from the subject when absent).
 */
export interface OperationStart<I> { workflowId: string; input: I; subject: OperationSubject; summary?: string }

type OneArgWorkflow<I, R> = (input: I) => Promise<R>;

/**
 * Starts an operation's workflow on the control queue, by function or by workflow type name (for callers
 * outside the API that should not import workflow code). The same workflow id again joins the running
 * one (USE_EXISTING), so a retried request (same requestId) does not start a second operation.
 */
export function startOperation<I, R>(
  temporal: Client, workflow: OneArgWorkflow<I, R> | string, o: OperationStart<I>,
): Promise<WorkflowHandle<OneArgWorkflow<I, R>>> {
  const options = {
    workflowId: o.workflowId,
    taskQueue: CONTROL_TASK_QUEUE,
    args: [o.input],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    typedSearchAttributes: operationAttributes(o.subject),
    ...operationMetadata(o.subject, o.summary),
  } as WorkflowStartOptions<OneArgWorkflow<I, R>>;
  return temporal.workflow.start<OneArgWorkflow<I, R>>(workflow, options);
}
