import { Client, WorkflowIdConflictPolicy } from '@temporalio/client';
import { NativeConnection, Worker, WorkerOptions } from '@temporalio/worker';
import type { Pool } from 'pg';
import { createControlActivities } from '../activities/control';
import * as hostActivities from '../activities/host';
import { hostConfig } from '../common/config';
import type { HostFacts } from '../common/schemas/inventory';
import { operationAttributes } from '../common/operations';
import { CONTROL_TASK_QUEUE, inventoryWorkflowId } from '../common/temporal';
import { hostInventoryWorkflow, workerStarted } from '../workflows';
import { crashHook } from './crashHook';
import { activityLogAttributes, WORKFLOW_INTERCEPTOR_MODULES } from './logAttributes';

type Bundle = WorkerOptions['workflowBundle'];

/** The control worker: every workflow, and the catalog activities. */
export function createControlWorker(opts: { connection: NativeConnection; namespace: string; pool: Pool; temporal: Client; workflowBundle?: Bundle }) {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: CONTROL_TASK_QUEUE,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    activities: createControlActivities(opts.pool, opts.temporal),
    // A given bundle must be built with WORKFLOW_INTERCEPTOR_MODULES (test/helpers/stack.ts does).
    interceptors: { activity: [activityLogAttributes], ...(opts.workflowBundle ? {} : { workflowModules: WORKFLOW_INTERCEPTOR_MODULES }) },
  });
}

/** A host worker: only activities, on this host's own queue, at most BACKFLOW_HOST_MAX_ACTIVITIES at once. */
export function createHostWorker(opts: { connection: NativeConnection; namespace: string; facts: HostFacts }) {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.facts.taskQueue,
    activities: hostActivities,
    maxConcurrentActivityTaskExecutions: hostConfig().maxActivities,
    interceptors: { activity: [activityLogAttributes, ...crashHook()] },
  });
}

/** Starts this host's inventory workflow, or tells the running one that the worker (re)started. */
export async function announceHost(client: Client, facts: HostFacts, intervalSeconds: number) {
  return client.workflow.signalWithStart(hostInventoryWorkflow, {
    workflowId: inventoryWorkflowId(facts.name),
    taskQueue: CONTROL_TASK_QUEUE,
    args: [{ facts, intervalSeconds }],
    signal: workerStarted,
    signalArgs: [facts],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    typedSearchAttributes: operationAttributes({ hostId: facts.id, zone: facts.zone, operation: 'inventory' }),
    staticSummary: `inventory of host ${facts.name} (zone ${facts.zone})`,
  });
}
