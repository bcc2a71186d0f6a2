import { allHandlersFinished, condition, continueAsNew, defineQuery, defineSignal, defineUpdate, setHandler, workflowInfo } from '@temporalio/workflow';
import { fail, Failure } from '../common/failures';
import type { HostFacts } from '../common/schemas/inventory';
import { catalog, onHost } from './activities';

export interface InventoryInput { facts: HostFacts; intervalSeconds: number }
export interface SyncResult { ok: boolean; vms: number; removed: number; error?: string; at: number }

/** The host worker (re)started: its facts may have changed, so register again and sync now. */
export const workerStarted = defineSignal<[HostFacts]>('workerStarted');
/** Sync now and answer when that sync is done (the API's on-demand refresh). */
export const syncNow = defineUpdate<SyncResult>('syncNow');
export const lastSync = defineQuery<SyncResult | undefined>('lastSync');

/** One per host, for the host's life: keeps the catalog's view of that host's VMs current. */
export async function hostInventoryWorkflow(input: InventoryInput): Promise<void> {
  let facts = input.facts;
  let registered = false;
  let requested = 0; // sync requests received
  let done = 0; // requests satisfied by a finished sync
  let last: SyncResult | undefined;

  setHandler(workerStarted, (f) => {
    facts = f;
    registered = false;
    requested++;
  });
  setHandler(syncNow, async () => {
    const ticket = ++requested;
    await condition(() => done >= ticket);
    if (!last) throw fail.nonRetryable(Failure.NoSyncResult, 'no sync result');
    return last;
  });
  setHandler(lastSync, () => last);

  // Bounded history: continue as new when the server suggests it (the event count is a backstop for a
  // server that never does), carrying the latest facts.
  while (!workflowInfo().continueAsNewSuggested && workflowInfo().historyLength < 10_000) {
    const ticket = requested;
    if (!registered) {
      await catalog.registerHost(facts);
      registered = true;
    }
    // One attempt per round: a host that does not answer within the schedule-to-start window is Down.
    const host = onHost(facts.taskQueue, 'hostProbe');
    try {
      const domains = await host.collectInventory();
      const saved = await catalog.saveInventory({ hostId: facts.id, domains });
      last = { ok: true, ...saved, at: Date.now() };
    } catch (err) {
      const reason = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      await catalog.markHostDown({ hostId: facts.id, reason: `inventory sync failed: ${reason}` });
      last = { ok: false, vms: 0, removed: 0, error: reason, at: Date.now() };
    }
    done = ticket;
    await condition(() => requested > done, `${input.intervalSeconds} seconds`);
  }
  await condition(allHandlersFinished);
  await continueAsNew<typeof hostInventoryWorkflow>({ facts, intervalSeconds: input.intervalSeconds });
}
