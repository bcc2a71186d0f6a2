import { CancellationScope, defineQuery, isCancellation, setHandler, workflowInfo } from '@temporalio/workflow';
import type { StepOutcome, ValidationPlan, ValidationStepName } from '../common/schemas/validation';
import { catalog, onHost } from './activities';
import { Compensations } from './compensations';
import { errorText } from './errors';
import { startNextServiceJob } from './lifecycle';
import { withSlots } from './slots';

export interface ValidationProgress { phase: string; step?: string }
export interface ValidationResult {
  backupId: string;
  status: 'Valid' | 'NotValid' | 'UnableToValidate' | 'Skipped';
  step?: ValidationStepName;
  reason?: string;
  skipped?: string;
}
export const validationProgress = defineQuery<ValidationProgress>('progress');

/** What one run found: every step passed, one failed (NotValid), or there was no VM to ask (UnableToValidate). */
type Verdict = { status: 'Valid'; output: string } | { status: 'NotValid'; step: ValidationStepName; output: string; reason: string } | { status: 'UnableToValidate'; reason: string };

/**
 * Validates a backup in a throwaway VM on its host, as KBOSS does: under a validation slot of the zone
 * and of the host, the VM is made from the backup's domain XML with overlays on its files, the
 * offering's steps run in order (wait_for_boot, execute_command, screenshot), and the VM and its
 * overlays are removed whatever happens (a cancelled run too). The result is recorded (Valid, NotValid
 * with the step and its output, UnableToValidate with the reason), then the backup's next job (hashing) starts.
 * The production VM is never touched, so its VM lock is not taken.
 */
export async function validateBackupWorkflow(input: { backupId: string }): Promise<ValidationResult> {
  const progress: ValidationProgress = { phase: 'planning' };
  setHandler(validationProgress, () => progress);
  const plan = await catalog.planValidation({ backupId: input.backupId });
  if (plan.skip) {
    await startNextServiceJob(input.backupId);
    return { backupId: input.backupId, status: 'Skipped', skipped: plan.skip };
  }
  let verdict: Verdict;
  try {
    progress.phase = 'waiting for a validation slot';
    verdict = await withSlots({ resource: 'validation', zoneId: plan.zoneId, hostId: plan.hostId, operation: 'validate backup' }, async () => {
      await catalog.startServiceJob({ backupId: plan.backupId, type: 'BackupValidation', workflowId: workflowInfo().workflowId });
      const v = await validateOnce(plan, progress);
      // Recorded while the slot is held, so the jobs shown executing never outnumber the slots.
      await record(plan.backupId, v);
      return v;
    });
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled by an operator: the VM is gone already (validateOnce's undo); the backup says why it is not validated.
    await CancellationScope.nonCancellable(async () => {
      await record(plan.backupId, { status: 'UnableToValidate', reason: 'the validation was cancelled' }, false);
      await startNextServiceJob(input.backupId);
    });
    throw err;
  }
  progress.phase = 'done';
  await startNextServiceJob(input.backupId);
  return {
    backupId: input.backupId, status: verdict.status,
    ...(verdict.status === 'NotValid' ? { step: verdict.step, reason: verdict.reason } : {}),
    ...(verdict.status === 'UnableToValidate' ? { reason: verdict.reason } : {}),
  };
}

/** One validation: the VM made, the steps in order, the VM removed (always: the undo runs non-cancellable). */
async function validateOnce(plan: ValidationPlan, progress: ValidationProgress): Promise<Verdict> {
  const host = onHost(plan.hostTaskQueue, 'hostQuick');
  const undo = new Compensations();
  try {
    progress.phase = 'making the validation VM';
    let repoPath: string;
    try {
      repoPath = (await host.mountRepository(plan.repository)).path;
      // What a crashed worker left on this host (never a validation that runs now).
      await host.removeValidationLeftovers(await catalog.runningValidations({ hostId: plan.hostId }));
      // Declared before the step: a VM half made (overlays, no domain) is removed too.
      undo.add(() => host.destroyValidationVm({ backupId: plan.backupId }));
      await host.createValidationVm({
        repoPath, vmUuid: plan.vm.id, backupId: plan.backupId, disks: plan.disks, needsDisplay: plan.steps.includes('screenshot'),
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      return { status: 'UnableToValidate', reason: errorText(err) };
    }
    const outputs: string[] = [];
    for (const step of plan.steps) {
      progress.phase = 'validating';
      progress.step = step;
      let outcome: StepOutcome | 'skipped';
      try {
        outcome = await runStep(plan, step, repoPath);
      } catch (err) {
        // The guest answered nothing wrong: the host could not run the step (a dead worker, twice).
        if (isCancellation(err)) throw err;
        return { status: 'UnableToValidate', reason: `${step} could not be run: ${errorText(err)}` };
      }
      if (outcome === 'skipped') {
        outputs.push(`${step}: skipped, the VM has no validation command`);
        continue;
      }
      if (!outcome.passed) return { status: 'NotValid', step, output: outcome.output, reason: outcome.reason ?? `${step} failed` };
      outputs.push(`${step}: ${outcome.output}`);
    }
    return { status: 'Valid', output: outputs.join('\n') };
  } finally {
    progress.phase = 'removing the validation VM';
    // A host that cannot be reached now: its leftover goes with the next validation there or the sync task's round.
    await undo.run().catch(() => undefined);
  }
}

/** One step of the offering's, on the validation VM's host. */
async function runStep(plan: ValidationPlan, step: ValidationStepName, repoPath: string): Promise<StepOutcome | 'skipped'> {
  const guest = onHost(plan.hostTaskQueue, 'hostGuestWait');
  const s = plan.settings;
  if (step === 'wait_for_boot') return guest.waitForValidationBoot({ backupId: plan.backupId, timeoutSeconds: s.bootTimeout });
  if (step === 'execute_command') {
    if (!s.command) return 'skipped';
    return guest.runValidationCommand({
      backupId: plan.backupId, command: s.command, arguments: s.arguments, expectedResult: s.expectedResult, timeoutSeconds: s.commandTimeout,
    });
  }
  const shot = await guest.takeValidationScreenshot({ repoPath, vmUuid: plan.vm.id, backupId: plan.backupId, waitSeconds: s.screenshotWait });
  if (shot.file && shot.pngBase64) await catalog.saveValidationScreenshot({ backupId: plan.backupId, file: shot.file, pngBase64: shot.pngBase64 });
  return shot;
}

/** The result in the catalog: NotValid through markNotValid (alert, chain ended by setting), UnableToValidate with an alert. */
async function record(backupId: string, v: Verdict, alert = true): Promise<void> {
  if (v.status === 'Valid') await catalog.markValid({ backupId, output: v.output });
  else if (v.status === 'NotValid') await catalog.markNotValid({ backupId, step: v.step, output: v.output, reason: v.reason, endChain: 'by-setting' });
  else await catalog.markUnableToValidate({ backupId, reason: v.reason, alert });
  await catalog.endServiceJob({ backupId, type: 'BackupValidation', error: v.status === 'Valid' ? undefined : `${v.status}: ${v.status === 'NotValid' ? `${v.step}: ` : ''}${v.reason}` });
}
