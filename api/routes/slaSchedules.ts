import { Router } from 'express';
import type { PoolClient } from 'pg';
import type { ApiDeps } from '../deps';
import { requireAdmin } from '../auth';
import { notFound } from '../errors';
import { checkedMaxBackups, inStepWithTemporal } from '../scheduleWrites';
import { IdParams, parse } from '../validate';
import { newId } from '../../common/ids';
import { SlaScheduleSchema, type SlaSchedule } from '../../common/schemas/schedules';
import { createSlaSchedule, deleteTemporalSchedule, describeTemporalSchedule, slaTemporalId, updateSlaSchedule } from '../../activities/control/schedules';

/** An SLA offering's provider-controlled schedule (admin only): read, set, remove; catalog and Temporal in step. */
export function slaScheduleRoutes({ pool, temporal }: ApiDeps) {
  const r = Router();

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
    await inStepWithTemporal(
      pool,
      async (c) => {
        const o = await lockOffering(c, id);
        const maxBackups = await checkedMaxBackups(c, body.intervalType, { zoneId: o.zoneId, accountId: null }, body.maxBackups);
        const prev = o.sla;
        const slaId = prev?.id ?? newId();
        const sla: SlaSchedule = { ...body, maxBackups, id: slaId, temporalId: slaTemporalId(o.name, body.intervalType, slaId) };
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
    await inStepWithTemporal(
      pool,
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

  return r;
}
