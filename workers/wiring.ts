import { Client, WorkflowIdConflictPolicy } from '@temporalio/client';
import { NativeConnection, Worker, WorkerOptions } from '@temporalio/worker';
import type { Pool } from 'pg';
import { createControlActivities } from '../activities/control';
import * as hostActivities from '../activities/host';
import { hostConfig } from '../common/config';
import type { HostFacts } from '../common/schemas/inventory';
import { CONTROL_TASK_QUEUE, inventoryWorkflowId, SA } from '../common/temporal';
import { hostInventoryWorkflow, workerStarted } from '../workflows';
import { crashHook } from './crashHook';

type Bundle = WorkerOptions['workflowBundle'];

/** The control worker: every workflow, and the catalog activities. */
export function createControlWorker(opts: { connection: NativeConnection; namespace: string; pool: Pool; temporal: Client; workflowBundle?: Bundle }) {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: CONTROL_TASK_QUEUE,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    activities: createControlActivities(opts.pool, opts.temporal),
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
    interceptors: { activity: crashHook() },
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
    typedSearchAttributes: [
      { key: SA.HostId, value: facts.id },
      { key: SA.Zone, value: facts.zone },
      { key: SA.Operation, value: 'inventory' },
    ],
  });
}
