import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { CONTROL_TASK_QUEUE } from '../../common/temporal';
import { createBackupWorkflow } from '../../workflows';
import { stubbedWorkers } from './stubbedWorker';

/**
 * Workflow unit tests (activities stubbed, real Temporal server): whatever happens to the job start, a
 * frozen guest is thawed, the half-written folder is discarded, the backup is marked failed and the
 * VM lock is released.
 */
describe('createBackupWorkflow: quiesce and failure paths', () => {
  const workers = stubbedWorkers();

  /** Runs one backup workflow against stubs; `startLiveBackup` decides the scenario. */
  async function scenario(startLiveBackup: () => Promise<void>, cancelAfterFreeze = false) {
    const calls: string[] = [];
    const hostQueue = `host-${randomUUID()}`;
    const vm = { id: randomUUID(), name: 'vm1', zoneId: randomUUID(), zoneName: 'z', hostId: randomUUID() };
    const record = (name: string, result: unknown = undefined) => async () => {
      calls.push(name);
      return result;
    };
    const control = {
      allocateBackup: record('allocateBackup', {
        backupId: 'b', vm, hostTaskQueue: hostQueue, provider: 'kboss', chainSize: 8, freezeGuardSeconds: 60, status: 'Allocated',
        repository: { id: randomUUID(), type: 'local', address: '/repo', mountOptions: '' },
      }),
      acquireVmLock: record('acquireVmLock'),
      releaseVmLock: record('releaseVmLock'),
      planChain: record('planChain', { type: 'FULL', fullReason: 'no earlier backup to chain onto' }),
      markBackingUp: record('markBackingUp'),
      markBackedUp: record('markBackedUp'),
      markBackupFailed: async (i: { cleanedUp: boolean; error: string }) => void calls.push(`markBackupFailed:${i.cleanedUp}`),
      retentionDue: record('retentionDue', false),
    };
    const host = {
      mountRepository: record('mountRepository', { path: '/repo' }),
      describeVm: record('describeVm', { uuid: vm.id, name: 'vm1', state: 'running', disks: [{ target: 'vda', path: '/d.qcow2', format: 'qcow2', virtualSize: 1 }], hasAgentChannel: true, xml: '<domain/>' }),
      prepareBackupDir: record('prepareBackupDir', { dir: '/repo/x.partial' }),
      freezeGuest: record('freezeGuest', { frozenFilesystems: 1, frozenAt: 0 }),
      thawGuest: record('thawGuest', { thawedAt: 0, frozenMs: 5, byGuard: false }),
      abortLiveBackup: record('abortLiveBackup'),
      startLiveBackup: async () => {
        calls.push('startLiveBackup');
        await startLiveBackup();
      },
      waitLiveBackup: record('waitLiveBackup', { bytes: 1 }),
      commitBackupDir: record('commitBackupDir', [{ target: 'vda', file: 'x/vda.qcow2', sizeOnDisk: 1, virtualSize: 1 }]),
      pruneCheckpoints: record('pruneCheckpoints'),
      discardBackupDir: record('discardBackupDir'),
      deleteBackupFiles: record('deleteBackupFiles'),
    };
    let workflowId = '';
    const outcome = await workers.run({ control, hostQueue, host }, async () => {
      workflowId = `backup-test-${randomUUID()}`;
      const handle = await workers.env.client.workflow.start(createBackupWorkflow, {
        workflowId,
        taskQueue: CONTROL_TASK_QUEUE,
        args: [{ vmId: vm.id, backupId: randomUUID(), accountId: null, quiesce: true, isolated: false }],
      });
      if (cancelAfterFreeze) {
        while (!calls.includes('startLiveBackup')) await new Promise((r) => setTimeout(r, 50));
        await handle.cancel();
      }
      return handle.result().then(() => 'ok', (e) => e);
    });
    return { calls, outcome, workflowId };
  }

  test('the happy path freezes, starts the job, thaws, then waits for it; its history replays deterministically', async () => {
    const { calls, outcome, workflowId } = await scenario(async () => undefined);
    expect(outcome).toBe('ok');
    const order = calls.filter((c) => ['freezeGuest', 'startLiveBackup', 'thawGuest', 'waitLiveBackup', 'markBackedUp', 'releaseVmLock'].includes(c));
    expect(order).toEqual(['freezeGuest', 'startLiveBackup', 'thawGuest', 'waitLiveBackup', 'markBackedUp', 'releaseVmLock']);
    // Replaying the recorded history against today's workflow code must not diverge.
    const history = await workers.env.client.workflow.getHandle(workflowId).fetchHistory();
    await expect(Worker.runReplayHistory({ workflowBundle: workers.bundle }, history, workflowId)).resolves.toBeUndefined();
  });

  test('a failed job start still thaws, discards the folder, marks the backup Failed and frees the VM', async () => {
    const { calls, outcome } = await scenario(async () => {
      throw ApplicationFailure.nonRetryable('backup-begin refused', 'JobStartFailed');
    });
    expect(outcome).toBeInstanceOf(WorkflowFailedError);
    expect(calls).toEqual(expect.arrayContaining(['thawGuest', 'discardBackupDir', 'markBackupFailed:true', 'releaseVmLock']));
    expect(calls).not.toContain('markBackedUp');
    expect(calls.indexOf('thawGuest')).toBeGreaterThan(calls.indexOf('startLiveBackup'));
  });

  test('a cancelled workflow thaws the guest too', async () => {
    const { calls, outcome } = await scenario(async () => {
      // Blocks until the activity is cancelled (its heartbeats deliver the cancellation).
      for (;;) {
        Context.current().heartbeat();
        await Context.current().sleep(100);
      }
    }, true);
    expect(outcome).toBeInstanceOf(WorkflowFailedError);
    expect(calls).toEqual(expect.arrayContaining(['thawGuest', 'discardBackupDir', 'releaseVmLock']));
    expect(calls).not.toContain('markBackedUp');
  });
});
