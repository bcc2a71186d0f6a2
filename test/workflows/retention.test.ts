import { ApplicationFailure } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import { CONTROL_TASK_QUEUE } from '../../common/temporal';
import { createBackupWorkflow, retentionWorkflow } from '../../workflows';
import { stubbedWorkers } from './stubbedWorker';

/**
 * Workflow unit tests (catalog activities stubbed, real Temporal server): retention deletes oldest
 * first through deleteBackup, skips what became protected, goes on past a deletion that fails; a
 * scheduled run allocates its own backup id and starts retention after it.
 */
describe('retention and scheduled runs (workflows)', () => {
  const workers = stubbedWorkers();

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
    const out = await workers.runControl(control, () =>
      workers.env.client.workflow.execute(retentionWorkflow, {
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
    const out = await workers.runControl(control, async () => {
      const r = await workers.env.client.workflow.execute(createBackupWorkflow, {
        workflowId: `backup-test-${randomUUID()}`, taskQueue: CONTROL_TASK_QUEUE,
        args: [{ vmId: vm.id, accountId: null, quiesce: false, isolated: false, scheduleId }],
      });
      await workers.env.client.workflow.getHandle(`retention-vm1-${r.backupId}`).result();
      return r;
    });
    expect(out.status).toBe('BackedUp');
    expect(out.backupId).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen.allocated).toMatchObject({ backupId: out.backupId, scheduleId });
    expect(seen.retention).toEqual({ vmId: vm.id, scheduleId });
  });
});
