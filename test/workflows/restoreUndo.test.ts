import { WorkflowFailedError } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { restoredVolumePath } from '../../common/layout';
import type { RestorePlan, RestoreWorkflowInput } from '../../common/schemas/restores';
import { CONTROL_TASK_QUEUE } from '../../common/temporal';
import { createVmFromBackupWorkflow, restoreBackupWorkflow, restoreVolumeWorkflow } from '../../workflows';
import { recordingStubs, stubbedWorkers } from './stubbedWorker';

/**
 * Workflow unit tests (activities stubbed, real Temporal server): a restore that fails removes what it
 * made only up to its point of no return (the VM started from the backup, the volume attached, the new
 * VM defined); after that, what it made stays. Each failure is one stubbed step failing.
 */
describe('restore workflows: what a failure undoes', () => {
  const workers = stubbedWorkers();
  type Workflow = typeof restoreVolumeWorkflow | typeof restoreBackupWorkflow | typeof createVmFromBackupWorkflow;

  /** Runs one restore workflow against stubs; the step named `failing` fails. */
  async function scenario(workflow: Workflow, opts: { quick?: boolean; failing?: string; host?: Record<string, unknown> }) {
    const calls: string[] = [];
    const inputs: Record<string, unknown> = {};
    const hostQueue = `host-${randomUUID()}`;
    const restoreId = randomUUID();
    const vm = (name: string) => ({ id: randomUUID(), name, hostId: 'h1', hostTaskQueue: hostQueue });
    const plan: RestorePlan = {
      restoreId, status: 'Running', pullRateLimitMiB: 0,
      backup: { id: randomUUID(), vmId: randomUUID(), accountId: null, createdAt: new Date(0).toISOString() },
      disks: ['vda', 'vdb'].map((t) => ({ target: t, file: `x/b/${t}.qcow2`, sourcePath: `/vms/src-${t}.qcow2`, virtualSize: 1, sourceFormat: 'qcow2' })),
      repository: { id: randomUUID(), type: 'local', address: '/repo', mountOptions: '' },
      sourceVm: vm('src'),
      targetVm: vm('web-1'),
    };
    const disks = ['vda', 'vdb'].map((t) => ({ target: t, path: `/vms/web-1-${t}.qcow2`, format: 'qcow2', virtualSize: 1 }));
    const control = {
      planRestore: plan, acquireVmLock: undefined, releaseVmLock: undefined, setVmState: undefined, setRestorePhase: undefined,
      breakChain: undefined, finishRestore: undefined, failRestore: undefined, recordDomain: undefined,
      newVmFiles: { hostTaskQueue: hostQueue, files: disks.map((d) => ({ target: d.target, path: `/vms/copy-${d.target}.qcow2` })), restoreStatus: null },
    };
    const host = {
      mountRepository: { path: '/repo' }, unmountRepository: undefined, readBackupDomainXml: '<domain/>', ensureDomainDefined: undefined,
      describeVm: { uuid: plan.targetVm.id, name: 'web-1', state: 'shut off', disks, hasAgentChannel: false, xml: '<domain/>' },
      claimNewVolumes: { claimed: true }, releaseNewVolumes: undefined, flattenBackupDisk: { tmpPath: '/vms/.tmp' }, placeNewVolume: undefined,
      attachVolume: { target: 'vdc' }, defineVmFromBackup: undefined, abortRestore: undefined, prepareQuickRestoreDisk: undefined,
      abortQuickRestoreDisk: undefined, startDomain: undefined, swapInRestoredDisk: undefined, finishRestore: undefined, pruneCheckpoints: undefined,
      domainIsRunning: false, consolidateOffline: undefined, backingChain: [],
      startQuickRestore: { repoPath: '/repo', disks: disks.map((d) => ({ ...d, file: `x/b/${d.target}.qcow2` })), started: true },
      abortQuickRestore: { restored: [] },
      ...opts.host,
    };
    const input: RestoreWorkflowInput = {
      restoreId, backupId: plan.backup.id, mode: 'volume', quick: opts.quick ?? false, targetVmId: plan.targetVm.id,
      volumeTarget: 'vdb', newVmName: 'copy', accountId: null,
    };
    const outcome = await workers.run(
      { control: recordingStubs(calls, control, opts.failing, inputs), hostQueue, host: recordingStubs(calls, host, opts.failing, inputs) },
      () =>
        workers.env.client.workflow
          .execute(workflow, { workflowId: `restore-test-${restoreId}`, taskQueue: CONTROL_TASK_QUEUE, args: [input] })
          .then((r) => r, (e) => e),
    );
    return { calls, inputs, outcome, plan };
  }

  const failedWith = (outcome: unknown, text: RegExp) => {
    expect(outcome).toBeInstanceOf(WorkflowFailedError);
    expect((outcome as WorkflowFailedError).cause).toMatchObject({ type: 'RestoreFailed', message: expect.stringMatching(text) });
  };

  describe('restoreVolume', () => {
    test('a copy that fails releases the claimed volume; its path is the layout module\'s', async () => {
      const { calls, inputs, outcome, plan } = await scenario(restoreVolumeWorkflow, { failing: 'flattenBackupDisk' });
      failedWith(outcome, /flattenBackupDisk failed/);
      const path = restoredVolumePath({ diskPath: '/vms/web-1-vda.qcow2', vmName: 'web-1', restoreId: plan.restoreId, target: 'vdb' });
      expect(inputs.claimNewVolumes).toEqual({ paths: [path], restoreId: plan.restoreId });
      expect(inputs.releaseNewVolumes).toEqual({ paths: [path], restoreId: plan.restoreId });
      expect(calls).not.toContain('attachVolume');
      expect(calls.slice(calls.indexOf('flattenBackupDisk'))).toEqual(expect.arrayContaining(['releaseNewVolumes', 'failRestore', 'releaseVmLock']));
      expect(calls.indexOf('failRestore')).toBeGreaterThan(calls.indexOf('releaseNewVolumes'));
    });

    test('a path taken on the host is refused, and nothing is released (the file there is not ours)', async () => {
      const { calls, outcome } = await scenario(restoreVolumeWorkflow, { host: { claimNewVolumes: { claimed: false, taken: '/vms/x' } } });
      failedWith(outcome, /\/vms\/x is taken/);
      expect(calls).not.toContain('releaseNewVolumes');
      expect(calls).toContain('failRestore');
    });

    test('once attached, the volume stays the VM\'s even if a later step fails', async () => {
      const { calls, outcome } = await scenario(restoreVolumeWorkflow, { failing: 'finishRestore' });
      failedWith(outcome, /finishRestore failed/);
      expect(calls).toContain('attachVolume');
      expect(calls).not.toContain('releaseNewVolumes');
      expect(calls).toContain('failRestore');
    });

    test('quick: an attach that fails removes the overlay; after the attach nothing is removed', async () => {
      const before = await scenario(restoreVolumeWorkflow, { quick: true, failing: 'attachVolume' });
      failedWith(before.outcome, /attachVolume failed/);
      expect(before.inputs.abortRestore).toMatchObject({ removeNew: true, restoreId: before.plan.restoreId });
      const after = await scenario(restoreVolumeWorkflow, { quick: true, failing: 'setRestorePhase' });
      failedWith(after.outcome, /setRestorePhase failed/);
      expect(after.calls).not.toContain('abortRestore');
    });
  });

  describe('restoreBackup in place', () => {
    test('quick: before the VM starts, every disk\'s overlay is undone; once it runs, none is', async () => {
      const before = await scenario(restoreBackupWorkflow, { quick: true, failing: 'startQuickRestore' });
      failedWith(before.outcome, /startQuickRestore failed/);
      expect(before.inputs.abortQuickRestore).toEqual({ vmUuid: before.plan.targetVm.id, targets: ['vda', 'vdb'], restoreId: before.plan.restoreId });
      expect(before.calls.indexOf('failRestore')).toBeGreaterThan(before.calls.lastIndexOf('abortQuickRestore'));
      const after = await scenario(restoreBackupWorkflow, { quick: true, failing: 'setRestorePhase' });
      failedWith(after.outcome, /setRestorePhase failed/);
      expect(after.calls).toContain('startQuickRestore');
      expect(after.calls).not.toContain('abortQuickRestore');
    });

    test('plain: a swap that fails puts the old disks back', async () => {
      const { calls, inputs, outcome } = await scenario(restoreBackupWorkflow, { failing: 'swapInRestoredDisk' });
      failedWith(outcome, /swapInRestoredDisk failed/);
      expect(inputs.abortRestore).toMatchObject({ targetPaths: ['/vms/web-1-vda.qcow2', '/vms/web-1-vdb.qcow2'] });
      expect(calls).toContain('failRestore');
    });

    test('a VM that is running is refused before any disk is touched', async () => {
      const { calls, outcome } = await scenario(restoreBackupWorkflow, { host: { describeVm: { uuid: 'u', name: 'web-1', state: 'running', disks: [] } } });
      failedWith(outcome, /stop it before restoring/);
      expect(calls.filter((c) => /abort|prepare|flatten/.test(c))).toEqual([]);
    });
  });

  describe('createVmFromBackup', () => {
    test('a define that fails releases the new disks; once defined, they stay the new VM\'s', async () => {
      const before = await scenario(createVmFromBackupWorkflow, { failing: 'defineVmFromBackup' });
      failedWith(before.outcome, /defineVmFromBackup failed/);
      expect(before.inputs.releaseNewVolumes).toMatchObject({ paths: ['/vms/copy-vda.qcow2', '/vms/copy-vdb.qcow2'] });
      const after = await scenario(createVmFromBackupWorkflow, { failing: 'finishRestore' });
      failedWith(after.outcome, /finishRestore failed/);
      expect(after.calls).toContain('defineVmFromBackup');
      expect(after.calls).not.toContain('releaseNewVolumes');
    });
  });
});
