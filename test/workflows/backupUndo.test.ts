import { WorkflowFailedError } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { CONTROL_TASK_QUEUE } from '../../common/temporal';
import { createBackupWorkflow } from '../../workflows';
import { recordingStubs, stubbedWorkers } from './stubbedWorker';

/**
 * Workflow unit tests (activities stubbed, real Temporal server): a failed backup leaves no folder that
 * could pass for a good backup, stops a libvirt job before removing the folder it writes into, and is
 * marked Error instead of Failed when that cleanup fails too.
 */
describe('createBackupWorkflow: what a failure undoes', () => {
  const workers = stubbedWorkers();

  /** Runs one backup of a stopped VM against stubs; the steps named in `failing` fail. */
  async function scenario(failing: string[]) {
    const calls: string[] = [];
    const inputs: Record<string, unknown> = {};
    const hostQueue = `host-${randomUUID()}`;
    const vm = { id: randomUUID(), name: 'vm1', zoneId: randomUUID(), zoneName: 'z', hostId: randomUUID() };
    const control = {
      allocateBackup: {
        backupId: 'b', vm, hostTaskQueue: hostQueue, provider: 'kboss', chainSize: 8, freezeGuardSeconds: 60, status: 'Allocated',
        repository: { id: randomUUID(), type: 'local', address: '/repo', mountOptions: '' },
      },
      acquireVmLock: undefined, releaseVmLock: undefined, markBackingUp: undefined, markBackedUp: undefined, markBackupFailed: undefined,
      planChain: { type: 'FULL', fullReason: 'no earlier backup to chain onto' },
    };
    const host = {
      mountRepository: { path: '/repo' },
      describeVm: { uuid: vm.id, name: 'vm1', state: 'shut off', disks: [{ target: 'vda', path: '/d.qcow2', format: 'qcow2', virtualSize: 1 }], hasAgentChannel: false, xml: '<domain/>' },
      prepareBackupDir: { dir: '/repo/x.partial' }, offlineBackup: undefined, abortLiveBackup: undefined,
      commitBackupDir: [{ target: 'vda', file: 'x/vda.qcow2', sizeOnDisk: 1, virtualSize: 1 }],
      pruneCheckpoints: undefined, discardBackupDir: undefined, deleteBackupFiles: undefined,
    };
    const stubs = { control: recordingStubs(calls, control, failing, inputs), hostQueue, host: recordingStubs(calls, host, failing, inputs) };
    const outcome = await workers.run(stubs, () =>
      workers.env.client.workflow
        .execute(createBackupWorkflow, {
          workflowId: `backup-test-${randomUUID()}`, taskQueue: CONTROL_TASK_QUEUE,
          args: [{ vmId: vm.id, backupId: randomUUID(), accountId: null, quiesce: false, isolated: false }],
        })
        .then(() => 'ok', (e) => e),
    );
    expect(outcome).toBeInstanceOf(WorkflowFailedError);
    expect((outcome as WorkflowFailedError).cause).toMatchObject({ type: 'BackupFailed' });
    expect(calls).toContain('releaseVmLock');
    return { calls, cleanedUp: (inputs.markBackupFailed as { cleanedUp: boolean }).cleanedUp };
  }

  test('a failure before the repository is mounted has nothing to remove', async () => {
    const { calls, cleanedUp } = await scenario(['mountRepository']);
    expect(calls.filter((c) => /abort|discard|delete/.test(c))).toEqual([]);
    expect(cleanedUp).toBe(true);
  });

  test('a failed copy: the job is stopped, then the unfinished folder removed', async () => {
    const { calls, cleanedUp } = await scenario(['offlineBackup']);
    expect(calls.filter((c) => /abort|discard|delete/.test(c))).toEqual(['abortLiveBackup', 'discardBackupDir']);
    expect(cleanedUp).toBe(true);
  });

  test('a backup committed but not recorded as BackedUp: its files go too', async () => {
    const { calls, cleanedUp } = await scenario(['markBackedUp']);
    expect(calls).toEqual(expect.arrayContaining(['abortLiveBackup', 'discardBackupDir', 'deleteBackupFiles']));
    expect(cleanedUp).toBe(true);
  });

  test('a job that cannot be stopped keeps its folder (nothing removed under it), and the backup is marked Error', async () => {
    const { calls, cleanedUp } = await scenario(['offlineBackup', 'abortLiveBackup']);
    expect(calls).not.toContain('discardBackupDir');
    expect(cleanedUp).toBe(false);
  });
});
