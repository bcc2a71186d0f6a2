import { Router, type Request } from 'express';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import type { Pool, PoolClient } from 'pg';
import type { ApiDeps } from '../deps';
import { caller } from '../auth';
import { checkBackupAllowed } from '../backupPolicy';
import { badRequest, notFound } from '../errors';
import { checkedMaxBackups, inStepWithTemporal } from '../scheduleWrites';
import { IdParams, listResult, pageSql, parse } from '../validate';
import { newId } from '../../common/ids';
import { CreateScheduleSchema, ListSchedulesQuery, parseScheduleTime, UpdateScheduleSchema } from '../../common/schemas/schedules';
import {
  createTemporalSchedule, deleteTemporalSchedule, describeTemporalSchedule, scheduleTemporalId, updateTemporalSchedule, type ScheduleRecord,
} from '../../activities/control/schedules';

const SCHEDULE_COLUMNS = `s.id, s.vm_id AS "vmId", v.name AS "vmName", z.name AS "zoneName", s.zone_id AS "zoneId", s.account_id AS "accountId",
  s.offering_id AS "offeringId", s.interval_type AS "intervalType", s.schedule, s.timezone, s.max_backups AS "maxBackups", s.quiesce,
  s.isolated, s.temporal_id AS "temporalId", s.paused, s.created_at AS "createdAt", s.updated_at AS "updatedAt",
  (SELECT json_build_object('backupId', b.id, 'status', b.status, 'createdAt', b.created_at, 'finishedAt', b.finished_at, 'error', b.error)
   FROM backups b WHERE b.schedule_id = s.id ORDER BY b.created_at DESC LIMIT 1) AS "lastBackup"`;
const FROM = `FROM backup_schedules s JOIN vms v ON v.id = s.vm_id JOIN zones z ON z.id = s.zone_id`;

type Row = ScheduleRecord & { maxBackups: number; zoneId: string; offeringId: string; lastBackup: unknown };

/** The schedule if the caller may see it (users: their own VMs'), locked with FOR UPDATE inside a transaction. */
async function visibleSchedule(db: Pool | PoolClient, req: Request, id: string, lock = false): Promise<Row> {
  const me = caller(req);
  const r = await db.query(`SELECT ${SCHEDULE_COLUMNS} ${FROM} WHERE s.id = $1 ${lock ? 'FOR UPDATE OF s' : ''}`, [id]);
  const row = r.rows[0];
  if (!row || (me.role !== 'admin' && row.accountId !== me.accountId)) throw notFound('backup schedule', 'id');
  return row;
}

/**
 * createBackupSchedule, updateBackupSchedule, listBackupSchedule, deleteBackupSchedule, pause, resume
 * and run now. Every write changes the catalog row and the Temporal Schedule together: the Temporal
 * call runs inside the row's transaction, and is undone if the commit fails.
 */
export function scheduleRoutes(deps: ApiDeps) {
  const { pool, temporal } = deps;
  const r = Router();

  /** A schedule as answered: the record, Temporal's view (next runs, paused, last run) and its last backup. */
  const view = async (row: Row) => ({ ...row, temporal: await describeTemporalSchedule(temporal, row.temporalId).catch(() => null) });
  const reload = async (req: Request, id: string) => view(await visibleSchedule(pool, req, id));
  /**
   * Changes one schedule the caller may act on, in the catalog and in Temporal as one (inStepWithTemporal):
   * `apply` gets the row as it was, locked; `undo` puts Temporal back to it if the commit fails.
   */
  const changeSchedule = async (req: Request, id: string, apply: (c: PoolClient, old: Row) => Promise<void>, undo: (old: Row) => Promise<unknown>) => {
    let old: Row | undefined;
    await inStepWithTemporal(
      pool,
      async (c) => {
        old = await visibleSchedule(c, req, id, true);
        await apply(c, old);
      },
      async () => {
        await undo(old!);
      },
    );
  };

  r.post('/backup-schedules', async (req, res) => {
    const body = parse(CreateScheduleSchema, req, 'body');
    const allowed = await checkBackupAllowed(pool, { vmId: body.vmId, caller: caller(req), userDriven: true });
    const maxBackups = await checkedMaxBackups(pool, body.intervalType, allowed.vm, body.maxBackups);
    const id = newId();
    const rec: ScheduleRecord = {
      id, vmId: allowed.vm.id, vmName: allowed.vm.name, zoneName: allowed.zoneName, accountId: allowed.vm.accountId,
      intervalType: body.intervalType, schedule: body.schedule, timezone: body.timezone, quiesce: body.quiesce, isolated: body.isolated,
      temporalId: scheduleTemporalId(allowed.vm.name, body.intervalType, id), paused: false,
    };
    await inStepWithTemporal(
      pool,
      async (c) => {
        await c.query(
          `INSERT INTO backup_schedules (id, vm_id, account_id, zone_id, offering_id, interval_type, schedule, timezone, max_backups, quiesce, isolated, temporal_id)
           VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
          [id, rec.vmId, rec.accountId, allowed.vm.zoneId, allowed.offering.id, rec.intervalType, rec.schedule, rec.timezone,
            maxBackups, rec.quiesce, rec.isolated, rec.temporalId],
        );
        await createTemporalSchedule(temporal, rec);
      },
      () => deleteTemporalSchedule(temporal, rec.temporalId),
    );
    res.status(201).json(await reload(req, id));
  });

  r.get('/backup-schedules', async (req, res) => {
    const q = parse(ListSchedulesQuery, req, 'query');
    const me = caller(req);
    const { limit, offset } = pageSql(q);
    const rows = await pool.query(
      `SELECT ${SCHEDULE_COLUMNS}, count(*) OVER() AS total ${FROM}
       WHERE ($1::uuid IS NULL OR s.account_id = $1) AND ($2::uuid IS NULL OR s.vm_id = $2) AND ($3::text IS NULL OR s.interval_type = $3)
       ORDER BY s.created_at LIMIT $4 OFFSET $5`,
      [me.role === 'admin' ? null : me.accountId, q.vmId ?? null, q.intervalType ?? null, limit, offset],
    );
    const items = await Promise.all(rows.rows.map(({ total, ...s }) => view(s as Row)));
    res.json(listResult(items, Number(rows.rows[0]?.total ?? 0), q));
  });

  r.get('/backup-schedules/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    res.json(await reload(req, id));
  });

  /** updateBackupSchedule: the schedule string, time zone, maxBackups, quiesce, isolated; the interval type stays. */
  r.patch('/backup-schedules/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(UpdateScheduleSchema, req, 'body');
    await changeSchedule(
      req, id,
      async (c, cur) => {
        if (body.schedule !== undefined) {
          const t = parseScheduleTime(cur.intervalType, body.schedule);
          if (!t.ok) throw badRequest('body.schedule', t.message);
        }
        await checkedMaxBackups(c, cur.intervalType, { zoneId: cur.zoneId, accountId: cur.accountId }, body.maxBackups);
        const next: Row = { ...cur, ...body };
        await c.query(
          `UPDATE backup_schedules SET schedule=$2, timezone=$3, max_backups=$4, quiesce=$5, isolated=$6, updated_at=now() WHERE id=$1`,
          [id, next.schedule, next.timezone, next.maxBackups, next.quiesce, next.isolated],
        );
        await updateTemporalSchedule(temporal, next);
      },
      (old) => updateTemporalSchedule(temporal, old),
    );
    res.json(await reload(req, id));
  });

  r.delete('/backup-schedules/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    await changeSchedule(
      req, id,
      async (c, old) => {
        await c.query(`DELETE FROM backup_schedules WHERE id = $1`, [id]);
        await deleteTemporalSchedule(temporal, old.temporalId);
      },
      (old) => createTemporalSchedule(temporal, old),
    );
    res.status(204).end();
  });

  for (const [action, paused] of [['pause', true], ['resume', false]] as const) {
    r.post(`/backup-schedules/:id/${action}`, async (req, res) => {
      const { id } = parse(IdParams, req, 'params');
      await changeSchedule(
        req, id,
        async (c, old) => {
          await c.query(`UPDATE backup_schedules SET paused=$2, updated_at=now() WHERE id=$1`, [id, paused]);
          const h = temporal.schedule.getHandle(old.temporalId);
          await (paused ? h.pause('paused through the Backflow API') : h.unpause('resumed through the Backflow API'));
        },
        (old) => {
          const h = temporal.schedule.getHandle(old.temporalId);
          return old.paused ? h.pause() : h.unpause();
        },
      );
      res.json(await reload(req, id));
    });
  }

  /** Run now: Temporal's trigger, with the schedule's overlap policy (a run still going is not doubled). */
  r.post('/backup-schedules/:id/trigger', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const s = await visibleSchedule(pool, req, id);
    await checkBackupAllowed(pool, { vmId: s.vmId, caller: caller(req), userDriven: true });
    await temporal.schedule.getHandle(s.temporalId).trigger(ScheduleOverlapPolicy.SKIP);
    res.status(202).json({ scheduleId: id, temporalId: s.temporalId, triggeredAt: new Date().toISOString() });
  });

  return r;
}
