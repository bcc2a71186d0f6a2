import { Router, type Request } from 'express';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import type { Pool, PoolClient } from 'pg';
import type { ApiDeps } from '../deps';
import { caller, requireAdmin } from '../auth';
import { checkBackupAllowed } from '../backupPolicy';
import { badRequest, notFound } from '../errors';
import { IdParams, listResult, pageSql, parse } from '../validate';
import { inTransaction } from '../../common/db';
import { newId } from '../../common/ids';
import { applyGfs } from '../../common/gfs';
import { resolveSetting, type SettingName } from '../../common/settings';
import {
  CreateScheduleSchema, ListSchedulesQuery, parseScheduleTime, ProtectBackupSchema, RetentionDryRunSchema, SetRetentionPolicySchema,
  SlaScheduleSchema, UpdateScheduleSchema, type GfsPolicy, type IntervalTypeName, type SlaSchedule,
} from '../../common/schemas/schedules';
import {
  createSlaSchedule, createTemporalSchedule, deleteTemporalSchedule, describeTemporalSchedule, scheduleTemporalId, slaTemporalId,
  updateSlaSchedule, updateTemporalSchedule, type ScheduleRecord,
} from '../../activities/control/schedules';
import { visibleBackup } from './backupAccess';

const SCHEDULE_COLUMNS = `s.id, s.vm_id AS "vmId", v.name AS "vmName", z.name AS "zoneName", s.zone_id AS "zoneId", s.account_id AS "accountId",
  s.offering_id AS "offeringId", s.interval_type AS "intervalType", s.schedule, s.timezone, s.max_backups AS "maxBackups", s.quiesce,
  s.isolated, s.temporal_id AS "temporalId", s.paused, s.created_at AS "createdAt", s.updated_at AS "updatedAt",
  (SELECT json_build_object('backupId', b.id, 'status', b.status, 'createdAt', b.created_at, 'finishedAt', b.finished_at, 'error', b.error)
   FROM backups b WHERE b.schedule_id = s.id ORDER BY b.created_at DESC LIMIT 1) AS "lastBackup"`;
const FROM = `FROM backup_schedules s JOIN vms v ON v.id = s.vm_id JOIN zones z ON z.id = s.zone_id`;

type Row = ScheduleRecord & { maxBackups: number; zoneId: string; offeringId: string; lastBackup: unknown };

/** The setting that bounds maxBackups for this interval type, as it applies to the VM's zone and account. */
async function maxBackupsLimit(db: Pool | PoolClient, type: IntervalTypeName, vm: { zoneId: string; accountId: string | null }) {
  const name = `backup.max.${type.toLowerCase()}` as SettingName;
  const s = await resolveSetting(db, name, { zoneId: vm.zoneId, accountId: vm.accountId });
  return { name, value: s.value as number };
}

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

  /** Runs a catalog change and a Temporal change as one; `undo` restores Temporal if the commit fails after it. */
  async function together(change: (c: PoolClient) => Promise<void>, undo: () => Promise<void>): Promise<void> {
    let temporalDone = false;
    try {
      await inTransaction(pool, async (c) => {
        await change(c);
        temporalDone = true;
      });
    } catch (e) {
      if (temporalDone) await undo().catch((u) => console.error('could not undo a schedule change in Temporal', u));
      throw e;
    }
  }

  r.post('/backup-schedules', async (req, res) => {
    const body = parse(CreateScheduleSchema, req, 'body');
    const allowed = await checkBackupAllowed(pool, { vmId: body.vmId, caller: caller(req), userDriven: true });
    const limit = await maxBackupsLimit(pool, body.intervalType, allowed.vm);
    if (body.maxBackups !== undefined && body.maxBackups > limit.value) {
      throw badRequest('body.maxBackups', `at most ${limit.value} for ${body.intervalType} schedules (setting ${limit.name})`);
    }
    const id = newId();
    const rec: ScheduleRecord = {
      id, vmId: allowed.vm.id, vmName: allowed.vm.name, zoneName: allowed.zoneName, accountId: allowed.vm.accountId,
      intervalType: body.intervalType, schedule: body.schedule, timezone: body.timezone, quiesce: body.quiesce, isolated: body.isolated,
      temporalId: scheduleTemporalId(allowed.vm.name, body.intervalType, id), paused: false,
    };
    await together(
      async (c) => {
        await c.query(
          `INSERT INTO backup_schedules (id, vm_id, account_id, zone_id, offering_id, interval_type, schedule, timezone, max_backups, quiesce, isolated, temporal_id)
           VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
          [id, rec.vmId, rec.accountId, allowed.vm.zoneId, allowed.offering.id, rec.intervalType, rec.schedule, rec.timezone,
            body.maxBackups ?? limit.value, rec.quiesce, rec.isolated, rec.temporalId],
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
    let old: Row | undefined;
    await together(
      async (c) => {
        const cur = await visibleSchedule(c, req, id, true);
        old = cur;
        if (body.schedule !== undefined) {
          const t = parseScheduleTime(cur.intervalType, body.schedule);
          if (!t.ok) throw badRequest('body.schedule', t.message);
        }
        if (body.maxBackups !== undefined) {
          const limit = await maxBackupsLimit(c, cur.intervalType, { zoneId: cur.zoneId, accountId: cur.accountId });
          if (body.maxBackups > limit.value) throw badRequest('body.maxBackups', `at most ${limit.value} for ${cur.intervalType} schedules (setting ${limit.name})`);
        }
        const next: Row = { ...cur, ...body };
        await c.query(
          `UPDATE backup_schedules SET schedule=$2, timezone=$3, max_backups=$4, quiesce=$5, isolated=$6, updated_at=now() WHERE id=$1`,
          [id, next.schedule, next.timezone, next.maxBackups, next.quiesce, next.isolated],
        );
        await updateTemporalSchedule(temporal, next);
      },
      () => updateTemporalSchedule(temporal, old!),
    );
    res.json(await reload(req, id));
  });

  r.delete('/backup-schedules/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    let old: Row | undefined;
    await together(
      async (c) => {
        old = await visibleSchedule(c, req, id, true);
        await c.query(`DELETE FROM backup_schedules WHERE id = $1`, [id]);
        await deleteTemporalSchedule(temporal, old.temporalId);
      },
      () => createTemporalSchedule(temporal, old!),
    );
    res.status(204).end();
  });

  for (const [action, paused] of [['pause', true], ['resume', false]] as const) {
    r.post(`/backup-schedules/:id/${action}`, async (req, res) => {
      const { id } = parse(IdParams, req, 'params');
      let old: Row | undefined;
      await together(
        async (c) => {
          old = await visibleSchedule(c, req, id, true);
          await c.query(`UPDATE backup_schedules SET paused=$2, updated_at=now() WHERE id=$1`, [id, paused]);
          const h = temporal.schedule.getHandle(old.temporalId);
          await (paused ? h.pause('paused through the Backflow API') : h.unpause('resumed through the Backflow API'));
        },
        async () => {
          const h = temporal.schedule.getHandle(old!.temporalId);
          await (old!.paused ? h.pause() : h.unpause());
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

  /** The owner sets or clears `protected`: a protected backup is never removed by retention or delete. */
  r.patch('/backups/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(ProtectBackupSchema, req, 'body');
    const b = await visibleBackup(pool, req, id);
    const up = await pool.query(`UPDATE backups SET protected=$2 WHERE id=$1 AND status <> 'Expunged' RETURNING id, protected`, [b.id, body.protected]);
    if (!up.rowCount) throw notFound('backup', 'id');
    res.json({ backupId: id, protected: up.rows[0].protected });
  });

  r.use('/backup-offerings/:id/sla-schedule', requireAdmin);

  const lockOffering = async (c: PoolClient, id: string) => {
    const o = await c.query(
      `SELECT o.id, o.name, o.zone_id AS "zoneId", z.name AS "zoneName", o.sla_schedule AS sla FROM backup_offerings o JOIN zones z ON z.id = o.zone_id
       WHERE o.id = $1 FOR UPDATE OF o`,
      [id],
    );
    if (!o.rowCount) throw notFound('backup offering', 'id');
    return o.rows[0] as { id: string; name: string; zoneId: string; zoneName: string; sla: SlaSchedule | null };
  };
  const slaView = async (offeringId: string) => {
    const sla: SlaSchedule | null = (await pool.query(`SELECT sla_schedule FROM backup_offerings WHERE id = $1`, [offeringId])).rows[0]?.sla_schedule ?? null;
    return { offeringId, slaSchedule: sla, temporal: sla ? await describeTemporalSchedule(temporal, sla.temporalId).catch(() => null) : null };
  };

  r.get('/backup-offerings/:id/sla-schedule', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    if (!(await pool.query(`SELECT 1 FROM backup_offerings WHERE id = $1`, [id])).rowCount) throw notFound('backup offering', 'id');
    res.json(await slaView(id));
  });

  /**
   * Sets an offering's provider-controlled schedule: every VM assigned to the offering is backed up at
   * its times, without a schedule of its own; a VM removed from the offering is not any more.
   */
  r.put('/backup-offerings/:id/sla-schedule', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(SlaScheduleSchema, req, 'body');
    let undo = async () => {};
    await together(
      async (c) => {
        const o = await lockOffering(c, id);
        const limit = await maxBackupsLimit(c, body.intervalType, { zoneId: o.zoneId, accountId: null });
        if (body.maxBackups !== undefined && body.maxBackups > limit.value) {
          throw badRequest('body.maxBackups', `at most ${limit.value} for ${body.intervalType} schedules (setting ${limit.name})`);
        }
        const prev = o.sla;
        const slaId = prev?.id ?? newId();
        const sla: SlaSchedule = { ...body, maxBackups: body.maxBackups ?? limit.value, id: slaId, temporalId: slaTemporalId(o.name, body.intervalType, slaId) };
        await c.query(`UPDATE backup_offerings SET sla_schedule = $2, updated_at = now() WHERE id = $1`, [id, JSON.stringify(sla)]);
        if (prev && prev.temporalId === sla.temporalId) {
          await updateSlaSchedule(temporal, o, sla);
          undo = () => updateSlaSchedule(temporal, o, prev);
        } else {
          // New, or a new interval type (part of the readable id): the new Schedule first, then the old one goes.
          await createSlaSchedule(temporal, o, sla);
          undo = () => deleteTemporalSchedule(temporal, sla.temporalId);
          if (prev) {
            await deleteTemporalSchedule(temporal, prev.temporalId);
            undo = async () => {
              await deleteTemporalSchedule(temporal, sla.temporalId);
              await createSlaSchedule(temporal, o, prev);
            };
          }
        }
      },
      () => undo(),
    );
    res.json(await slaView(id));
  });

  r.delete('/backup-offerings/:id/sla-schedule', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    let undo = async () => {};
    await together(
      async (c) => {
        const o = await lockOffering(c, id);
        if (!o.sla) return;
        await c.query(`UPDATE backup_offerings SET sla_schedule = NULL, updated_at = now() WHERE id = $1`, [id]);
        await deleteTemporalSchedule(temporal, o.sla.temporalId);
        undo = () => createSlaSchedule(temporal, o, o.sla!);
      },
      () => undo(),
    );
    res.status(204).end();
  });

  r.use('/backup-offerings/:id/retention-policy', requireAdmin);

  r.get('/backup-offerings/:id/retention-policy', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const o = await pool.query(`SELECT retention_policy FROM backup_offerings WHERE id=$1`, [id]);
    if (!o.rowCount) throw notFound('backup offering', 'id');
    res.json({ offeringId: id, policy: o.rows[0].retention_policy });
  });

  /** Sets (or, with null, removes) the offering's GFS policy; it applies from the next backup of each of its VMs. */
  r.put('/backup-offerings/:id/retention-policy', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const { policy } = parse(SetRetentionPolicySchema, req, 'body');
    const o = await pool.query(`UPDATE backup_offerings SET retention_policy=$2, updated_at=now() WHERE id=$1 RETURNING retention_policy`, [
      id, policy === null ? null : JSON.stringify(policy),
    ]);
    if (!o.rowCount) throw notFound('backup offering', 'id');
    res.json({ offeringId: id, policy: o.rows[0].retention_policy });
  });

  /** Which backups the policy (the offering's, or one given) would keep and remove, per VM; removes nothing. */
  r.post('/backup-offerings/:id/retention-policy/dry-run', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(RetentionDryRunSchema, req, 'body');
    const o = await pool.query(`SELECT retention_policy FROM backup_offerings WHERE id=$1`, [id]);
    if (!o.rowCount) throw notFound('backup offering', 'id');
    const policy: GfsPolicy | null = body.policy ?? o.rows[0].retention_policy;
    if (!policy) throw badRequest('body.policy', 'the offering has no retention policy: give one to try');
    const backups = await pool.query(
      `SELECT b.id, b.vm_id, v.name AS vm_name, b.created_at, b.protected FROM backups b JOIN vms v ON v.id = b.vm_id
       WHERE b.offering_id = $1 AND b.status = 'BackedUp' AND NOT b.hidden AND ($2::uuid IS NULL OR b.vm_id = $2) ORDER BY b.created_at DESC`,
      [id, body.vmId ?? null],
    );
    const byVm = new Map<string, { vmId: string; vmName: string; rows: typeof backups.rows }>();
    for (const b of backups.rows) {
      if (!byVm.has(b.vm_id)) byVm.set(b.vm_id, { vmId: b.vm_id, vmName: b.vm_name, rows: [] });
      byVm.get(b.vm_id)!.rows.push(b);
    }
    const vms = [...byVm.values()].map((v) => {
      const g = applyGfs(v.rows.map((b) => ({ id: b.id, time: b.created_at, protected: b.protected })), policy);
      const at = new Map(v.rows.map((b) => [b.id, b.created_at]));
      const show = (ids: string[]) => ids.map((bid) => ({ backupId: bid, createdAt: at.get(bid), mark: g.marks[bid] }));
      return { vmId: v.vmId, vmName: v.vmName, keep: show(g.keep), remove: show(g.remove) };
    });
    res.json({ offeringId: id, policy, dryRun: true, vms });
  });

  return r;
}
