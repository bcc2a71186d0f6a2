import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { metrics } from '../../common/metrics';
import type { Pool, PoolClient } from 'pg';
import { inTransaction } from '../../common/db';
import { fail, Failure } from '../../common/failures';
import type { SlotHolder, SlotRequest, SlotResource, SlotScope } from '../../common/schemas/slots';
import { resolveSettings, type SettingName } from '../../common/settings';

/** The settings that cap each resource, per zone and per host (both set at global or zone scope). */
const LIMITS: Record<SlotResource, Record<SlotScope, SettingName>> = {
  compression: { zone: 'backup.compression.max.concurrent.operations', host: 'backup.compression.max.concurrent.operations.per.host' },
  validation: { zone: 'backup.validation.max.concurrent.operations', host: 'backup.validation.max.concurrent.operations.per.host' },
};


interface SlotPool { scope: SlotScope; scopeId: string; limit: number }
interface Blocker { holder: string; run_id: string }

/**
 * Counted slots: at most N jobs at once per resource in a zone and on a host. A job's request is
 * rows in the catalog (state 'waiting', then 'holding'), ordered by one ticket per job: a job is
 * granted only when, in each pool it needs, the holders plus the jobs that asked before it leave
 * room, so the first to ask is the first served and the earliest waiter always gets through.
 */
export function createSlotActivities(pool: Pool, temporal?: Client) {
  /** Read at every attempt, so an operator's change applies to the next grant; below 1 is no limit. */
  async function poolsFor(req: SlotRequest): Promise<SlotPool[]> {
    const names = [LIMITS[req.resource].zone, LIMITS[req.resource].host];
    const s = await resolveSettings(pool, names, { zoneId: req.zoneId });
    const limit = (n: SettingName) => {
      const v = Number(s[n].value);
      return v >= 1 ? v : Infinity;
    };
    const pools: SlotPool[] = [{ scope: 'zone', scopeId: req.zoneId, limit: limit(LIMITS[req.resource].zone) }];
    if (req.hostId) pools.push({ scope: 'host', scopeId: req.hostId, limit: limit(LIMITS[req.resource].host) });
    return pools;
  }

  /** A holder whose run is no longer running (terminated, timed out, failed) must not keep a slot. */
  async function runIsGone(b: Blocker): Promise<boolean> {
    if (!temporal) return false;
    try {
      const d = await temporal.workflow.getHandle(b.holder, b.run_id).describe();
      return d.status.name !== 'RUNNING';
    } catch (e) {
      // Only "no such workflow" frees the slot; Temporal being unreachable must not.
      return e instanceof WorkflowNotFoundError;
    }
  }

  /** Queues the job (once) and grants its slots if every pool has room; else who is in the way. */
  async function tryGrant(c: PoolClient, req: SlotRequest, who: SlotHolder, pools: SlotPool[]) {
    // Every grant takes this lock first, so two grants never both see the last free slot.
    await c.query(`SELECT pg_advisory_xact_lock(hashtext('backflow.slots'))`);
    // Waiting for a slot while holding a VM would keep the VM from every other operation meanwhile.
    const locks = await c.query(`SELECT vm_id FROM vm_locks WHERE holder=$1`, [who.holder]);
    if (locks.rowCount) {
      throw fail.nonRetryable(Failure.LockOrder, `${who.holder} holds VM ${locks.rows[0].vm_id} while asking for a slot: take slots first, then the VM`);
    }
    const mine = await c.query<{ ticket: string; state: string }>(
      `SELECT ticket, state FROM slots WHERE resource=$1 AND holder=$2 AND run_id=$3`,
      [req.resource, who.holder, who.runId],
    );
    const ticket = mine.rows[0]?.ticket ?? (await c.query<{ t: string }>(`SELECT nextval('slot_tickets') AS t`)).rows[0].t;
    for (const p of pools) {
      await c.query(
        `INSERT INTO slots (resource, scope, scope_id, holder, run_id, operation, ticket, state)
         VALUES ($1,$2,$3,$4,$5,$6,$7,'waiting') ON CONFLICT DO NOTHING`,
        [req.resource, p.scope, p.scopeId, who.holder, who.runId, req.operation, ticket],
      );
    }
    if (mine.rows.length === pools.length && mine.rows.every((r) => r.state === 'holding')) return { granted: true as const, waitedSeconds: undefined };

    const full: string[] = [];
    const blockers: Blocker[] = [];
    for (const p of pools) {
      const ahead = await c.query<Blocker & { state: string }>(
        `SELECT holder, run_id, state FROM slots
         WHERE resource=$1 AND scope=$2 AND scope_id=$3 AND NOT (holder=$4 AND run_id=$5)
           AND (state='holding' OR ticket < $6)`,
        [req.resource, p.scope, p.scopeId, who.holder, who.runId, ticket],
      );
      if (ahead.rowCount! >= p.limit) {
        const holding = ahead.rows.filter((r) => r.state === 'holding').length;
        full.push(`${p.scope} ${p.scopeId}: ${holding} of ${p.limit} held, ${ahead.rowCount! - holding} waiting ahead`);
        blockers.push(...ahead.rows);
      }
    }
    if (full.length) return { granted: false as const, full, blockers };
    const held = await c.query<{ waited: number }>(
      `UPDATE slots SET state='holding', since=now() WHERE resource=$1 AND holder=$2 AND run_id=$3 AND state='waiting'
       RETURNING EXTRACT(EPOCH FROM (now() - requested_at))::float8 AS waited`,
      [req.resource, who.holder, who.runId],
    );
    // The wait is measured once, when the job's rows turn from waiting to holding.
    return { granted: true as const, waitedSeconds: held.rows[0]?.waited };
  }

  return {
    /**
     * Takes a slot in every pool of the request, or fails (retryably, SlotBusy) while they are full;
     * the job's rows stay 'waiting' between attempts and keep its place in the queue.
     */
    async acquireSlots(input: { request: SlotRequest; holder: SlotHolder }): Promise<void> {
      for (;;) {
        const pools = await poolsFor(input.request);
        const r = await inTransaction(pool, (c) => tryGrant(c, input.request, input.holder, pools));
        if (r.granted) {
          if (r.waitedSeconds !== undefined) metrics.slotWait.observe({ resource: input.request.resource }, r.waitedSeconds);
          return;
        }
        const gone: Blocker[] = [];
        for (const b of uniqueBlockers(r.blockers)) if (await runIsGone(b)) gone.push(b);
        if (!gone.length) {
          throw fail.retryable(Failure.SlotBusy, `waiting for a ${input.request.resource} slot: ${r.full.join('; ')}`);
        }
        for (const b of gone) await pool.query(`DELETE FROM slots WHERE holder=$1 AND run_id=$2`, [b.holder, b.run_id]);
      }
    },

    /** Gives back the job's slots, or its place in the queue if it was still waiting. */
    async releaseSlots(input: { request: SlotRequest; holder: SlotHolder }): Promise<void> {
      await pool.query(`DELETE FROM slots WHERE resource=$1 AND holder=$2 AND run_id=$3`, [
        input.request.resource, input.holder.holder, input.holder.runId,
      ]);
    },
  };
}

function uniqueBlockers(bs: Blocker[]): Blocker[] {
  const seen = new Map(bs.map((b) => [`${b.holder}\u0000${b.run_id}`, b]));
  return [...seen.values()];
}
