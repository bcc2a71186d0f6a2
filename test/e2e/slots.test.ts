import { randomBytes } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { SlotRequest } from '../../common/schemas/slots';
import { CONTROL_TASK_QUEUE, SA } from '../../common/temporal';
import { releaseSlot, slotProbeWorkflow } from '../../workflows/slotProbe';
import { eventually, Stack, startStack } from '../helpers/stack';

interface Row { holder: string; state: 'waiting' | 'holding'; ticket: string }

/** Issue 10: counted slots, "at most N at once", watched in the catalog while real workflows ask. */
describe('counted slots on the real stack', () => {
  let s: Stack;
  let zoneId: string;
  const run = randomBytes(3).toString('hex');
  const started: WorkflowHandle<typeof slotProbeWorkflow>[] = [];

  const setLimit = async (name: string, value: number) => {
    const r = await s.api('PUT', `/v1/settings/${name}`, { body: { scope: 'zone', scopeId: zoneId, value } });
    expect(r.status).toBe(200);
  };
  const rows = async (resource: string, scope: string): Promise<Row[]> =>
    (await s.pool.query<Row>(`SELECT holder, state, ticket FROM slots WHERE resource=$1 AND scope=$2 ORDER BY ticket`, [resource, scope])).rows;
  const inState = async (resource: string, scope: string, state: Row['state']) => (await rows(resource, scope)).filter((r) => r.state === state);
  const probe = async (name: string, request: SlotRequest) => {
    const h = await s.client.workflow.start(slotProbeWorkflow, {
      workflowId: `slot-probe-${request.resource}-${name}-${run}`,
      taskQueue: CONTROL_TASK_QUEUE,
      args: [{ request, holdSeconds: 3600 }],
      typedSearchAttributes: [
        { key: SA.HostId, value: s.facts.id },
        { key: SA.Zone, value: s.facts.zone },
        { key: SA.Operation, value: 'slot-probe' },
      ],
    });
    started.push(h);
    return h;
  };
  /** The probe's acquire step has been refused (SlotBusy) and tried again at least `n` times. */
  const triedTimes = async (h: WorkflowHandle, n: number) => {
    const pending = (await h.describe()).raw.pendingActivities ?? [];
    return pending.some((a) => a.activityType?.name === 'acquireSlots' && (a.attempt ?? 0) >= n);
  };

  beforeAll(async () => {
    s = await startStack();
    zoneId = (await s.pool.query(`SELECT zone_id FROM hosts WHERE id = $1`, [s.facts.id])).rows[0].zone_id;
  });
  afterAll(async () => {
    for (const h of started) await h.terminate('test over').catch(() => undefined);
    await s?.stop();
  });

  test('at most N of 5 jobs hold a host slot at once, first come first served, and a raised limit applies to the next grant', async () => {
    await setLimit('backup.compression.max.concurrent.operations.per.host', 2);
    const request: SlotRequest = { resource: 'compression', zoneId, hostId: s.facts.id, operation: 'slot probe' };

    // Watches the catalog the whole time: never more holders than the limit in force, never a
    // waiting job ahead of a holder (tickets are handed out in request order).
    let cap = 2;
    const seen = { 2: 0, 3: 0 } as Record<number, number>;
    const breaches: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const r = await rows('compression', 'host');
        const holding = r.filter((x) => x.state === 'holding');
        const waiting = r.filter((x) => x.state === 'waiting');
        if (holding.length > cap) breaches.push(`${holding.length} holding with a limit of ${cap}`);
        const lastHeld = Math.max(...holding.map((x) => Number(x.ticket)));
        const firstWaiting = Math.min(...waiting.map((x) => Number(x.ticket)));
        if (lastHeld > firstWaiting) breaches.push(`ticket ${lastHeld} holds while ticket ${firstWaiting} waits`);
        seen[cap] = Math.max(seen[cap], holding.length);
        await new Promise((res) => setTimeout(res, 100));
      }
    })();

    const probes: WorkflowHandle<typeof slotProbeWorkflow>[] = [];
    for (let i = 0; i < 5; i++) {
      probes.push(await probe(String(i), request));
      // One at a time, so the order they asked in is the order of their tickets.
      await eventually(async () => (await rows('compression', 'host')).length === i + 1, 60_000, 100);
    }
    const byTicket = (await rows('compression', 'host')).map((r) => r.holder);
    expect(byTicket).toEqual(probes.map((p) => p.workflowId));

    // Two hold, three wait, and stay waiting however often they ask again.
    await eventually(async () => (await inState('compression', 'host', 'holding')).length === 2, 120_000);
    const waiting = await inState('compression', 'host', 'waiting');
    expect(waiting.map((r) => r.holder)).toEqual(byTicket.slice(2));
    for (const id of byTicket.slice(2)) {
      await eventually(() => triedTimes(s.client.workflow.getHandle(id), 3), 180_000, 1000);
    }
    expect((await inState('compression', 'host', 'holding')).map((r) => r.holder)).toEqual(byTicket.slice(0, 2));

    // The operator raises the limit while they wait: the next grant uses it, without any release.
    cap = 3;
    await setLimit('backup.compression.max.concurrent.operations.per.host', 3);
    await eventually(async () => (await inState('compression', 'host', 'holding')).length === 3, 120_000);
    expect((await inState('compression', 'host', 'holding')).map((r) => r.holder)).toEqual(byTicket.slice(0, 3));

    // Each release lets the next in line in; all five finish.
    const results: unknown[] = [];
    for (const id of byTicket) {
      await eventually(async () => (await rows('compression', 'host')).some((r) => r.holder === id && r.state === 'holding'), 120_000);
      const h = s.client.workflow.getHandle(id);
      await h.signal(releaseSlot);
      results.push(await h.result());
    }
    watching = false;
    await watcher;

    expect(results).toEqual(Array(5).fill({ held: true }));
    expect(breaches).toEqual([]);
    expect(seen).toEqual({ 2: 2, 3: 3 });
    expect(await rows('compression', 'host')).toEqual([]);
    expect(await rows('compression', 'zone')).toEqual([]);
  });

  test('a holder terminated through Temporal frees its slot for the next in line', async () => {
    await setLimit('backup.validation.max.concurrent.operations', 1);
    const request: SlotRequest = { resource: 'validation', zoneId, operation: 'slot probe' };

    const first = await probe('first', request);
    await eventually(async () => (await inState('validation', 'zone', 'holding')).some((r) => r.holder === first.workflowId), 120_000);
    const second = await probe('second', request);
    await eventually(async () => (await inState('validation', 'zone', 'waiting')).some((r) => r.holder === second.workflowId), 60_000);
    await eventually(() => triedTimes(second, 2), 120_000, 1000);
    expect((await inState('validation', 'zone', 'holding')).map((r) => r.holder)).toEqual([first.workflowId]);

    // Terminated, the first never runs its release: the slot is freed because its run is gone.
    await first.terminate('holder killed by the test');
    await eventually(async () => {
      const r = await rows('validation', 'zone');
      return r.length === 1 && r[0].holder === second.workflowId && r[0].state === 'holding';
    }, 120_000);

    await second.signal(releaseSlot);
    expect(await second.result()).toEqual({ held: true });
    expect(await rows('validation', 'zone')).toEqual([]);
  });
});
