import { randomUUID } from 'node:crypto';
import { CONTROL_TASK_QUEUE } from '../../common/temporal';
import { validateBackupWorkflow } from '../../workflows';
import { recordingStubs, stubbedWorkers } from './stubbedWorker';

/**
 * Workflow unit tests (activities stubbed, real Temporal server): the steps run in the offering's order
 * inside a validation slot, the validation VM is removed on every path, and each result is recorded
 * the way its kind asks (markValid, markNotValid, markUnableToValidate), before the slot is released.
 */
describe('validateBackupWorkflow: order, result and cleanup', () => {
  const workers = stubbedWorkers();
  const passed = { passed: true, output: 'fine' };

  async function scenario(o: { failing?: string[]; host?: Record<string, unknown>; steps?: string[]; command?: string | null; cancelAfter?: string }) {
    const calls: string[] = [];
    const inputs: Record<string, unknown> = {};
    const hostQueue = `host-${randomUUID()}`;
    const backupId = randomUUID();
    const control = {
      planValidation: {
        backupId, skip: null, vm: { id: randomUUID(), name: 'vm1' }, hostId: randomUUID(), zoneId: randomUUID(), hostTaskQueue: hostQueue,
        repository: { id: randomUUID(), type: 'local', address: '/repo', mountOptions: '' }, disks: [{ target: 'vda', file: 'v/b/vda.qcow2' }],
        steps: o.steps ?? ['wait_for_boot', 'execute_command', 'screenshot'],
        settings: { command: o.command === undefined ? '/bin/true' : o.command, arguments: [], expectedResult: null, commandTimeout: 60, screenshotWait: 0, bootTimeout: 60 },
      },
      acquireSlots: undefined, releaseSlots: undefined, startServiceJob: { attempts: 1 }, endServiceJob: undefined, runningValidations: { keepBackupIds: [] },
      saveValidationScreenshot: undefined, markValid: undefined, markNotValid: { chainEnded: true, alertId: 'a' }, markUnableToValidate: undefined,
      nextServiceJob: null,
    };
    const host = {
      mountRepository: { path: '/repo' }, removeValidationLeftovers: { removed: [] }, createValidationVm: { name: 'bfval-x', workDir: '/v' },
      waitForValidationBoot: passed, runValidationCommand: passed, takeValidationScreenshot: { ...passed, file: 'v/b/s.png', pngBase64: 'iVBORw==' },
      destroyValidationVm: { removedVm: true }, ...o.host,
    };
    const hostStubs = recordingStubs(calls, host, o.failing ?? [], inputs);
    let handle: Awaited<ReturnType<typeof workers.env.client.workflow.start>> | undefined;
    if (o.cancelAfter) {
      // The step never ends by itself: the workflow is cancelled while it runs.
      const step = o.cancelAfter;
      hostStubs[step] = async () => {
        calls.push(step);
        await handle!.cancel();
        await new Promise((r) => setTimeout(r, 5_000));
        return passed;
      };
    }
    const outcome = await workers.run({ control: recordingStubs(calls, control, [], inputs), hostQueue, host: hostStubs }, async () => {
      handle = await workers.env.client.workflow.start(validateBackupWorkflow, {
        workflowId: `validate-test-${randomUUID()}`, taskQueue: CONTROL_TASK_QUEUE, args: [{ backupId }],
      });
      return handle.result().then((r) => r, (e) => e);
    });
    return { calls, inputs, outcome };
  }

  test('every step passes: in order, inside the slot, Valid recorded, then the VM removed and the slot released', async () => {
    const { calls, outcome } = await scenario({});
    expect(outcome).toMatchObject({ status: 'Valid' });
    expect(calls).toEqual([
      'planValidation', 'acquireSlots', 'startServiceJob', 'mountRepository', 'runningValidations', 'removeValidationLeftovers', 'createValidationVm',
      'waitForValidationBoot', 'runValidationCommand', 'takeValidationScreenshot', 'saveValidationScreenshot',
      'destroyValidationVm', 'markValid', 'endServiceJob', 'releaseSlots', 'nextServiceJob',
    ]);
  });

  test('a step that fails: NotValid at that step, later steps not run, the VM removed', async () => {
    const { calls, inputs, outcome } = await scenario({ host: { waitForValidationBoot: { passed: false, output: 'console tail', reason: 'no agent' } } });
    expect(outcome).toMatchObject({ status: 'NotValid', step: 'wait_for_boot', reason: 'no agent' });
    expect(calls).not.toContain('runValidationCommand');
    expect(calls.slice(calls.indexOf('waitForValidationBoot'))).toEqual(['waitForValidationBoot', 'destroyValidationVm', 'markNotValid', 'endServiceJob', 'releaseSlots', 'nextServiceJob']);
    expect(inputs.markNotValid).toMatchObject({ step: 'wait_for_boot', output: 'console tail', reason: 'no agent', endChain: 'by-setting' });
  });

  test('no command: execute_command is skipped and said so', async () => {
    const { calls, inputs, outcome } = await scenario({ command: null });
    expect(outcome).toMatchObject({ status: 'Valid' });
    expect(calls).not.toContain('runValidationCommand');
    expect((inputs.markValid as { output: string }).output).toContain('execute_command: skipped');
  });

  test('the VM cannot be made: UnableToValidate with an alert, and what it left is removed', async () => {
    const { calls, inputs, outcome } = await scenario({ failing: ['createValidationVm'] });
    expect(outcome).toMatchObject({ status: 'UnableToValidate' });
    expect(calls).toEqual(expect.arrayContaining(['createValidationVm', 'destroyValidationVm', 'markUnableToValidate']));
    expect(calls.indexOf('destroyValidationVm')).toBeGreaterThan(calls.indexOf('createValidationVm'));
    expect(inputs.markUnableToValidate).toMatchObject({ alert: true });
    expect((inputs.markUnableToValidate as { reason: string }).reason).toContain('createValidationVm failed');
  });

  test('cancelled while the guest boots: the VM is removed, the backup UnableToValidate (no alert), the slot released', async () => {
    const { calls, inputs, outcome } = await scenario({ cancelAfter: 'waitForValidationBoot' });
    expect(outcome).toBeInstanceOf(Error);
    expect(calls.slice(calls.indexOf('waitForValidationBoot'))).toEqual(
      expect.arrayContaining(['destroyValidationVm', 'markUnableToValidate', 'endServiceJob', 'releaseSlots']),
    );
    expect(inputs.markUnableToValidate).toMatchObject({ reason: 'the validation was cancelled', alert: false });
    expect(calls).not.toContain('runValidationCommand');
  });
});
