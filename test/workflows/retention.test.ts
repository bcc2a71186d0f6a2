import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { CONTROL_TASK_QUEUE, SEARCH_ATTRIBUTES } from '../../common/temporal';
import { createBackupWorkflow, retentionWorkflow } from '../../workflows';
import { TEMPORAL_BIN } from '../helpers/paths';

/**
 * Workflow unit tests (catalog activities stubbed, real Temporal server): retention deletes oldest
 * first through deleteBackup, skips what became protected, goes on past a deletion that fails; a
 * scheduled run allocates its own backup id and starts retention after it.
 */
describe('retention and scheduled runs (workflows)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;
  beforeAll(async () => {
    env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: TEMPORAL_BIN }, searchAttributes: SEARCH_ATTRIBUTES, ip: '127.0.0.1' },
    });
    bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows') });
  });
  afterAll(() => env?.teardown());

  test('oldest first; a protected one is skipped; one failing deletion does not stop the others', async () => {
    const [a, b, c, d] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const applied: string[] = [];
    const vmId = randomUUID();
    const control = {
      planRetention: async () => ({ remove: [a, b, c, d].map((backupId) => ({ backupId, reason: 'schedule s keeps 1 backup(s)' })) }),
      claimForRetention: async (i: { backupId: string }) => (i.backupId === b ? { ok: false, reason: 'protected' } : { ok: true }),
      planBackupDeletion: async (i: { backupId: string }) => ({
        backupId: i.backupId, vmId, vmName: 'vm1', hostTaskQueue: 'nowhere', provider: 'dummy', repository: null,
        parentId: null, childId: null, targets: [], isChainHead: false, status: 'BackedUp',
      }),
      applyBackupDeletion: async (i: { backupId: string }) => {
        if (i.backupId === c) throw ApplicationFailure.nonRetryable('disk on fire');
        applied.push(i.backupId);
      },
      acquireVmLock: async () => undefined,
      releaseVmLock: async () => undefined,
    };
    const w = await Worker.create({ connection: env.nativeConnection, taskQueue: CONTROL_TASK_QUEUE, workflowBundle: bundle, activities: control });
    const out = await w.runUntil(
      env.client.workflow.execute(retentionWorkflow, {
        workflowId: `retention-test-${randomUUID()}`, taskQueue: CONTROL_TASK_QUEUE, args: [{ vmId, scheduleId: randomUUID(), backupId: randomUUID() }],
      }),
    );
    expect(applied).toEqual([a, d]);
    expect(out.removed.map((r) => r.backupId)).toEqual([a, d]);
    expect(out.skipped).toEqual([
      { backupId: b, reason: 'protected' },
      { backupId: c, reason: expect.stringContaining('disk on fire') },
    ]);
  });

  test('a scheduled run without a backupId allocates one, records the schedule, and starts retention', async () => {
    const seen: { allocated?: { backupId: string; scheduleId?: string }; retention?: unknown } = {};
    const vm = { id: randomUUID(), name: 'vm1', zoneId: randomUUID(), zoneName: 'z', hostId: randomUUID() };
    const scheduleId = randomUUID();
    const control = {
      allocateBackup: async (i: { backupId: string; scheduleId?: string }) => {
        seen.allocated = i;
        return { backupId: i.backupId, vm, hostTaskQueue: 'nowhere', provider: 'dummy', chainSize: 8, freezeGuardSeconds: 60, status: 'Allocated', repository: null };
      },
      acquireVmLock: async () => undefined,
      releaseVmLock: async () => undefined,
      recordDummyBackup: async () => undefined,
      retentionDue: async () => true,
      planRetention: async (i: unknown) => {
        seen.retention = i;
        return { remove: [] };
      },
    };
    const w = await Worker.create({ connection: env.nativeConnection, taskQueue: CONTROL_TASK_QUEUE, workflowBundle: bundle, activities: control });
    const out = await w.runUntil(async () => {
      const r = await env.client.workflow.execute(createBackupWorkflow, {
        workflowId: `backup-test-${randomUUID()}`, taskQueue: CONTROL_TASK_QUEUE,
        args: [{ vmId: vm.id, accountId: null, quiesce: false, isolated: false, scheduleId }],
      });
      await env.client.workflow.getHandle(`retention-vm1-${r.backupId}`).result();
      return r;
    });
    expect(out.status).toBe('BackedUp');
    expect(out.backupId).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen.allocated).toMatchObject({ backupId: out.backupId, scheduleId });
    expect(seen.retention).toEqual({ vmId: vm.id, scheduleId });
  });
});
