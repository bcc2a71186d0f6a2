import { Router } from 'express';
import { WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { requireAdmin } from '../auth';
import { HttpError, notFound } from '../errors';
import { IdParams, listResult, Pagination, pageSql, parse } from '../validate';
import { syncNow } from '../../workflows/hostInventory';
import { inventoryWorkflowId } from '../../common/temporal';

export const HostQuery = Pagination.extend({ zoneId: z.string().uuid().optional(), status: z.enum(['Up', 'Down']).optional() });

const HOST_COLUMNS = `h.id, h.name, h.zone_id AS "zoneId", z.name AS zone, h.task_queue AS "taskQueue", h.libvirt_uri AS "libvirtUri",
  h.cpus, h.memory_bytes::float8 AS "memoryBytes", h.storage_paths AS "storagePaths", h.status, h.status_reason AS "statusReason",
  h.last_seen_at AS "lastSeenAt", h.last_sync_at AS "lastSyncAt", h.worker_version AS "workerVersion"`;

export function hostRoutes({ pool, temporal }: ApiDeps) {
  const r = Router();
  r.use('/hosts', requireAdmin);

  r.get('/hosts', async (req, res) => {
    const q = parse(HostQuery, req, 'query');
    const { limit, offset } = pageSql(q);
    const rows = await pool.query(
      `SELECT ${HOST_COLUMNS}, count(*) OVER() AS total FROM hosts h JOIN zones z ON z.id = h.zone_id
       WHERE ($1::uuid IS NULL OR h.zone_id = $1) AND ($2::text IS NULL OR h.status = $2)
       ORDER BY h.name LIMIT $3 OFFSET $4`,
      [q.zoneId ?? null, q.status ?? null, limit, offset],
    );
    res.json(listResult(rows.rows.map(({ total, ...h }) => h), Number(rows.rows[0]?.total ?? 0), q));
  });

  r.get('/hosts/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const row = await pool.query(`SELECT ${HOST_COLUMNS} FROM hosts h JOIN zones z ON z.id = h.zone_id WHERE h.id = $1`, [id]);
    if (!row.rowCount) throw notFound('host', 'id');
    res.json(row.rows[0]);
  });

  /** Syncs the host's inventory now and answers with the result (an Update on its inventory workflow). */
  r.post('/hosts/:id/sync', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const row = await pool.query(`SELECT name FROM hosts WHERE id = $1`, [id]);
    if (!row.rowCount) throw notFound('host', 'id');
    try {
      const result = await temporal.workflow.getHandle(inventoryWorkflowId(row.rows[0].name)).executeUpdate(syncNow);
      res.status(result.ok ? 200 : 502).json(result);
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) throw new HttpError(409, 'the host has no running inventory workflow: is its worker started?', 'id');
      throw e;
    }
  });
  return r;
}
