import { Router } from 'express';
import type { ApiDeps } from '../deps';
import { requireAdmin } from '../auth';
import { notFound } from '../errors';
import { IdParams, listResult, pageSql, parse } from '../validate';
import { createLifecycleActivities } from '../../activities/control/lifecycle';
import { createServiceJobActivities } from '../../activities/control/serviceJobs';
import { CompressDueSchema, ListServiceJobsQuery } from '../../common/schemas/serviceJobs';
import { startOperation } from '../../common/operations';
import { compressBackupWorkflow, compressWorkflowId } from '../../workflows/compressBackup';

const JOB_COLUMNS = `j.id, j.backup_id AS "backupId", j.host_id AS "hostId", j.zone_id AS "zoneId", j.type, j.attempts, j.executing,
  j.scheduled_at AS "scheduledAt", j.started_at AS "startedAt", j.ended_at AS "endedAt", j.result, j.workflow_id AS "workflowId"`;

/** listBackupServiceJobs (admin), read from the catalog the workflows keep current; and starting due compressions. */
export function serviceJobRoutes({ pool, temporal }: ApiDeps) {
  const r = Router();
  r.use('/backup-service-jobs', requireAdmin);
  const jobs = createServiceJobActivities(pool);
  const lifecycle = createLifecycleActivities(pool);

  r.get('/backup-service-jobs', async (req, res) => {
    const q = parse(ListServiceJobsQuery, req, 'query');
    const { limit, offset } = pageSql(q);
    const rows = await pool.query(
      `SELECT ${JOB_COLUMNS}, count(*) OVER() AS total FROM backup_service_jobs j
       WHERE ($1::uuid IS NULL OR j.id = $1) AND ($2::uuid IS NULL OR j.backup_id = $2) AND ($3::uuid IS NULL OR j.host_id = $3)
         AND ($4::uuid IS NULL OR j.zone_id = $4) AND ($5::text IS NULL OR j.type = $5) AND ($6::boolean IS NULL OR j.executing = $6)
         AND ($7::boolean IS NULL OR (j.scheduled_at IS NOT NULL) = $7)
       ORDER BY j.created_at, j.type LIMIT $8 OFFSET $9`,
      [q.id ?? null, q.backupId ?? null, q.hostId ?? null, q.zoneId ?? null, q.type ?? null, q.executing ?? null, q.scheduled ?? null, limit, offset],
    );
    res.json(listResult(rows.rows.map(({ total, ...j }) => j), Number(rows.rows[0]?.total ?? 0), q));
  });

  r.get('/backup-service-jobs/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const row = (await pool.query(`SELECT ${JOB_COLUMNS} FROM backup_service_jobs j WHERE j.id = $1`, [id])).rows[0];
    if (!row) throw notFound('backup service job', 'id');
    res.json(row);
  });

  /**
   * Starts compression of every backup that is due (its offering compresses, it was never compressed,
   * backup.compression.task.enabled is on for its zone and account): e.g. after the task is turned on.
   */
  r.post('/backup-service-jobs/compress-due', async (req, res) => {
    const body = parse(CompressDueSchema, req, 'body');
    const started: { backupId: string; workflowId: string }[] = [];
    for (const { backupId } of await jobs.dueCompressions({ zoneId: body.zoneId })) {
      // The lifecycle's one rule decides (offering, status, task setting), as at the end of a backup.
      const due = await lifecycle.nextServiceJob({ backupId });
      if (due?.kind !== 'compress') continue;
      // USE_EXISTING: a compression already running for it is joined, not doubled.
      const h = await startOperation(temporal, compressBackupWorkflow, {
        workflowId: compressWorkflowId(due.vmName, backupId),
        input: { backupId },
        subject: { operation: 'compress', vmId: due.vmId, backupId, hostId: due.hostId, zone: due.zone },
        summary: `compress a backup of ${due.vmName}`,
      });
      started.push({ backupId, workflowId: h.workflowId });
    }
    res.status(202).json({ started });
  });
  return r;
}
