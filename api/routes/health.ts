import { Router } from 'express';
import { temporal as proto } from '@temporalio/proto';
import type { ApiDeps } from '../deps';
import { CONTROL_TASK_QUEUE } from '../../common/temporal';

/** /health answers within this, whatever is down: every check has its share of it as a deadline. */
const HEALTH_BUDGET_MS = 1_500;

/**
 * A worker counts as alive when it has polled its queue this recently. Temporal records a poll when it
 * starts; our servers end long-polls every 10 s (TEMPORAL_SERVER_ARGS), so a live worker's last poll is
 * at most ~10 s old, and a dead one shows within this (and the 30 s the issue asks for).
 */
export const POLLER_FRESH_MS = 25_000;

const { TaskQueueType } = proto.api.enums.v1;

type Check<T> = { ok: true; value: T } | { ok: false; error: string };

/** Runs fn, and reports it as failed if it throws or has not answered by `deadline`. */
async function check<T>(deadline: number, fn: () => Promise<T>): Promise<Check<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_BUDGET_MS} ms`)), Math.max(0, deadline - Date.now()));
  });
  try {
    return { ok: true, value: await Promise.race([fn(), late]) };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes({ pool, temporal }: ApiDeps) {
  const r = Router();

  /** When a worker last polled `taskQueue` for tasks of `type`, per Temporal (epoch ms, 0 if never). */
  const lastPoll = async (deadline: number, taskQueue: string, type: proto.api.enums.v1.TaskQueueType) => {
    const q = await check(deadline, () =>
      temporal.connection.withDeadline(deadline, () =>
        temporal.workflowService.describeTaskQueue({ namespace: temporal.options.namespace, taskQueue: { name: taskQueue }, taskQueueType: type }),
      ),
    );
    if (!q.ok) return { polling: false, lastPoll: 0, error: q.error };
    const last = Math.max(0, ...(q.value.pollers ?? []).map((p) => Number(p.lastAccessTime?.seconds ?? 0) * 1000 + Math.floor((p.lastAccessTime?.nanos ?? 0) / 1e6)));
    return { polling: last > 0 && Date.now() - last < POLLER_FRESH_MS, lastPoll: last, error: undefined };
  };
  const workerState = (w: Awaited<ReturnType<typeof lastPoll>>, who: string) => ({
    workerPolling: w.polling,
    lastPollAt: w.lastPoll ? new Date(w.lastPoll).toISOString() : null,
    reason: w.polling ? undefined : (w.error ? `cannot ask Temporal about ${who}: ${w.error}` : `${who} is not polling its task queue`),
  });

  r.get('/health', async (_req, res) => {
    const deadline = Date.now() + HEALTH_BUDGET_MS;
    const [postgres, temporalCheck, controlWf, controlAct] = await Promise.all([
      check(deadline, () => pool.query('SELECT 1')),
      check(deadline, () => temporal.connection.withDeadline(deadline, () => temporal.workflowService.getSystemInfo({}))),
      lastPoll(deadline, CONTROL_TASK_QUEUE, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
      lastPoll(deadline, CONTROL_TASK_QUEUE, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    ]);
    const hostRows = postgres.ok
      ? await check(deadline, () => pool.query(`SELECT id, name, task_queue, status, status_reason, last_sync_at FROM hosts ORDER BY name`))
      : postgres;
    const hosts = await Promise.all(
      (hostRows.ok ? hostRows.value.rows : []).map(async (h) => {
        const w = workerState(await lastPoll(deadline, h.task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY), 'the host worker');
        return {
          id: h.id,
          name: h.name,
          ok: w.workerPolling && h.status === 'Up',
          workerPolling: w.workerPolling,
          lastPollAt: w.lastPollAt,
          status: h.status,
          reason: h.status_reason ?? w.reason,
          lastSyncAt: h.last_sync_at,
        };
      }),
    );
    // The control worker runs every workflow and the catalog activities: both of its pollers must be alive.
    const controlOk = controlWf.polling && controlAct.polling;
    const control = { ok: controlOk, taskQueue: CONTROL_TASK_QUEUE, ...workerState(controlOk ? controlWf : !controlWf.polling ? controlWf : controlAct, 'the control worker') };
    const ok = postgres.ok && hostRows.ok && temporalCheck.ok && controlOk && hosts.every((h) => h.ok);
    res.status(ok ? 200 : 503).json({
      status: ok ? 'ok' : 'degraded',
      postgres: postgres.ok && hostRows.ok ? { ok: true } : { ok: false, error: postgres.ok ? (hostRows as { error: string }).error : postgres.error },
      temporal: temporalCheck.ok ? { ok: true, namespace: temporal.options.namespace } : temporalCheck,
      controlWorker: control,
      hosts,
    });
  });
  return r;
}
