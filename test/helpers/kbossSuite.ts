import { enrol, setupKbossZone, type KbossZone } from './backups';
import { drainWorkflows } from './schedules';
import { startStack, type Stack, type StackOptions } from './stack';
import { createTestVm, destroyTestVm, type TestVm, type TestVmOptions } from './vm';

/** A test file's stack with the kboss zone set up; if the zone cannot be set up, the stack is stopped before the error is thrown. */
export async function startKbossStack(opts: StackOptions = {}, offering: Record<string, unknown> = {}): Promise<{ s: Stack; kb: KbossZone }> {
  const s = await startStack(opts);
  try {
    return { s, kb: await setupKbossZone(s, offering) };
  } catch (e) {
    await s.stop();
    throw e;
  }
}

/**
 * Leaves nothing behind, even after a failed start: with `drain`, first waits for the workflows still
 * running (retention started by a schedule, say) so the stack stops idle; then the VMs, the stack, the repository.
 */
export async function stopKbossStack(s: Stack | undefined, kb: KbossZone | undefined, vms: (TestVm | undefined)[], opts: { drain?: boolean } = {}): Promise<void> {
  if (s && opts.drain) await drainWorkflows(s).catch(() => undefined);
  for (const vm of vms) if (vm) await destroyTestVm(vm).catch(() => undefined);
  await s?.stop();
  kb?.cleanup();
}

/** A throwaway VM, added to `vms` (so stopKbossStack destroys it), known to the catalog and assigned to the offering. */
export async function enrolledVm(s: Stack, vms: TestVm[], opts: TestVmOptions, offeringId: string): Promise<TestVm> {
  const vm = await createTestVm(opts);
  vms.push(vm);
  await enrol(s, vm.uuid, offeringId);
  return vm;
}
