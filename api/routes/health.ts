import { Router } from 'express';
import { temporal as proto } from '@temporalio/proto';
import type { ApiDeps } from '../deps';

/** A host worker counts as alive when it has long-polled its queue recently (polls renew at least every ~70 s). */
const POLLER_FRESH_MS = 100_000;

async function check<T>(fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

export function healthRoutes({ pool, temporal }: ApiDeps) {
  const r = Router();
  r.get('/health', async (_req, res) => {
    const postgres = await check(() => pool.query('SELECT 1'));
    const temporalCheck = await check(() => temporal.workflowService.getSystemInfo({}));
    const hosts = postgres.ok
      ? (await pool.query(`SELECT id, name, task_queue, status, status_reason, last_sync_at FROM hosts ORDER BY name`)).rows
      : [];
    const hostChecks = await Promise.all(
      hosts.map(async (h) => {
        const q = await check(() =>
          temporal.workflowService.describeTaskQueue({
            namespace: temporal.options.namespace,
            taskQueue: { name: h.task_queue },
            taskQueueType: proto.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
          }),
        );
        const lastPoll = q.ok
          ? Math.max(0, ...(q.value.pollers ?? []).map((p) => Number(p.lastAccessTime?.seconds ?? 0) * 1000))
          : 0;
        const polling = lastPoll > 0 && Date.now() - lastPoll < POLLER_FRESH_MS;
        return {
          id: h.id,
          name: h.name,
          ok: polling && h.status === 'Up',
          workerPolling: polling,
          lastPollAt: lastPoll ? new Date(lastPoll).toISOString() : null,
          status: h.status,
          reason: h.status_reason ?? (polling ? undefined : 'host worker is not polling its task queue'),
          lastSyncAt: h.last_sync_at,
        };
      }),
    );
    const ok = postgres.ok && temporalCheck.ok && hostChecks.every((h) => h.ok);
    res.status(ok ? 200 : 503).json({
      status: ok ? 'ok' : 'degraded',
      postgres: postgres.ok ? { ok: true } : postgres,
      temporal: temporalCheck.ok ? { ok: true, namespace: temporal.options.namespace } : temporalCheck,
      hosts: hostChecks,
    });
  });
  return r;
}
