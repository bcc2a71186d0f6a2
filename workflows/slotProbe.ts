import { condition, defineSignal, setHandler } from '@temporalio/workflow';
import type { SlotRequest } from '../common/schemas/slots';
import { withSlots } from './slots';

/** Ends the probe's hold on its slot. */
export const releaseSlot = defineSignal('releaseSlot');

/**
 * Takes a slot and holds it until told to let go (or holdSeconds pass): shows an operator, or a
 * test, how the slots of a resource are handed out on the real stack, without touching a disk.
 */
export async function slotProbeWorkflow(input: { request: SlotRequest; holdSeconds: number }): Promise<{ held: true }> {
  let released = false;
  setHandler(releaseSlot, () => void (released = true));
  return withSlots(input.request, async () => {
    await condition(() => released, input.holdSeconds * 1000);
    return { held: true as const };
  });
}
