import {
  ScheduleNotFoundError, ScheduleOverlapPolicy, type CalendarSpec, type Client, type ScheduleDescription, type ScheduleOptions,
} from '@temporalio/client';
import type { Pool } from 'pg';
import { parseScheduleTime, type IntervalTypeName, type SlaSchedule } from '../../common/schemas/schedules';
import type { BackupStart } from '../../common/schemas/backups';
import { operationAttributes } from '../../common/operations';
import { CONTROL_TASK_QUEUE } from '../../common/temporal';

/**
 * The Temporal side of backup schedules: each catalog row is one Temporal Schedule whose action starts
 * createBackupWorkflow. The API keeps the two in step; the workflows use deleteVmSchedules.
 */
export interface ScheduleRecord {
  id: string;
  vmId: string;
  vmName: string;
  zoneName: string;
  accountId: string | null;
  intervalType: IntervalTypeName;
  schedule: string;
  timezone: string;
  quiesce: boolean;
  isolated: boolean;
  temporalId: string;
  paused: boolean;
}

/** Readable, and unique even for two schedules of one type on one VM. */
export const scheduleTemporalId = (vmName: string, type: IntervalTypeName, id: string) => `schedule-${vmName}-${type.toLowerCase()}-${id.slice(0, 8)}`;

/**
 * A backup that could not start at its time (control plane or Temporal down) is still taken if it
 * can start within this window; after a longer outage the schedule goes on at its next time instead
 * of catching up on a pile of missed runs.
 */
export const SCHEDULE_CATCHUP_WINDOW = '1 hour';

const WEEKDAYS = ['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'] as const;

/** CloudStack's schedule string as a Temporal calendar (read in the schedule's time zone). */
export function calendarFor(type: IntervalTypeName, schedule: string): CalendarSpec {
  const t = parseScheduleTime(type, schedule);
  if (!t.ok) throw new Error(`schedule ${schedule}: ${t.message}`);
  const { minute, hour, day } = t.time;
  const comment = `${type} ${schedule}`;
  switch (type) {
    case 'HOURLY':
      return { minute, hour: '*', comment };
    case 'DAILY':
      return { minute, hour, comment };
    case 'WEEKLY':
      return { minute, hour, dayOfWeek: WEEKDAYS[day! - 1], comment };
    case 'MONTHLY':
      return { minute, hour, dayOfMonth: day, comment };
  }
}

const POLICIES: ScheduleOptions['policies'] = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: SCHEDULE_CATCHUP_WINDOW, pauseOnFailure: false };

/** An SLA offering's schedule: each time, slaBackupsWorkflow backs up the VMs assigned to the offering then. */
function slaDefinition(o: { id: string; name: string; zoneName: string }, sla: SlaSchedule): Omit<ScheduleOptions, 'scheduleId'> {
  return {
    spec: { calendars: [calendarFor(sla.intervalType, sla.schedule)], timezone: sla.timezone },
    action: {
      type: 'startWorkflow',
      workflowType: 'slaBackupsWorkflow',
      workflowId: `sla-backups-${o.name}-${sla.id.slice(0, 8)}`,
      taskQueue: CONTROL_TASK_QUEUE,
      args: [{ offeringId: o.id, scheduleId: sla.id, quiesce: sla.quiesce }],
      typedSearchAttributes: operationAttributes({ zone: o.zoneName, operation: 'sla-backups' }),
      staticSummary: `${sla.intervalType.toLowerCase()} backups of the VMs of offering ${o.name}`,
    },
    policies: POLICIES,
    typedSearchAttributes: operationAttributes({ zone: o.zoneName, operation: 'backup-schedule' }),
  };
}

export const slaTemporalId = (offeringName: string, type: IntervalTypeName, id: string) =>
  `schedule-offering-${offeringName}-${type.toLowerCase()}-${id.slice(0, 8)}`;

export async function createSlaSchedule(client: Client, o: { id: string; name: string; zoneName: string }, sla: SlaSchedule): Promise<void> {
  await client.schedule.create({ scheduleId: sla.temporalId, ...slaDefinition(o, sla) });
}

export async function updateSlaSchedule(client: Client, o: { id: string; name: string; zoneName: string }, sla: SlaSchedule): Promise<void> {
  const { spec, action, policies } = slaDefinition(o, sla);
  await client.schedule.getHandle(sla.temporalId).update((prev) => ({ ...prev, spec, action, policies }) as never);
}

function definition(s: ScheduleRecord): Omit<ScheduleOptions, 'scheduleId'> {
  const args: [BackupStart] = [{ vmId: s.vmId, accountId: s.accountId, quiesce: s.quiesce, isolated: s.isolated, scheduleId: s.id }];
  return {
    spec: { calendars: [calendarFor(s.intervalType, s.schedule)], timezone: s.timezone },
    action: {
      type: 'startWorkflow',
      workflowType: 'createBackupWorkflow',
      // Temporal appends each run's time to this id.
      workflowId: `backup-${s.vmName}-${s.intervalType.toLowerCase()}-${s.id.slice(0, 8)}`,
      taskQueue: CONTROL_TASK_QUEUE,
      args,
      typedSearchAttributes: operationAttributes({ vmId: s.vmId, zone: s.zoneName, operation: 'backup' }),
      staticSummary: `${s.intervalType.toLowerCase()} backup of ${s.vmName}${s.quiesce ? ', quiesced' : ''}`,
    },
    // A backup still running when the next time comes is not doubled: that run is skipped, and counted.
    policies: POLICIES,
    typedSearchAttributes: operationAttributes({ vmId: s.vmId, zone: s.zoneName, operation: 'backup-schedule' }),
    state: { paused: s.paused, note: s.paused ? 'paused through the Backflow API' : undefined },
  };
}

export async function createTemporalSchedule(client: Client, s: ScheduleRecord): Promise<void> {
  await client.schedule.create({ scheduleId: s.temporalId, ...definition(s) });
}

/** Replaces the schedule's spec, action and state with the record's. */
export async function updateTemporalSchedule(client: Client, s: ScheduleRecord): Promise<void> {
  const { spec, action, policies, state } = definition(s);
  await client.schedule.getHandle(s.temporalId).update((prev) => ({ ...prev, spec, action, policies, state }) as never);
}

/** Deletes it; one already gone counts as deleted. */
export async function deleteTemporalSchedule(client: Client, temporalId: string): Promise<void> {
  try {
    await client.schedule.getHandle(temporalId).delete();
  } catch (e) {
    if (!(e instanceof ScheduleNotFoundError)) throw e;
  }
}

export interface ScheduleLiveInfo {
  nextRuns: string[];
  paused: boolean;
  note: string | null;
  /** Times a run was due while the previous one still ran, and was skipped (overlap SKIP). */
  skippedOverlap: number;
  lastRun: { scheduledAt: string; startedAt: string; workflowId: string } | null;
  timezone: string | null;
  calendars: unknown;
}

/** What Temporal says of the schedule now: next times, paused, the last run it started. */
export async function describeTemporalSchedule(client: Client, temporalId: string): Promise<ScheduleLiveInfo | null> {
  let d: ScheduleDescription;
  try {
    d = await client.schedule.getHandle(temporalId).describe();
  } catch (e) {
    if (e instanceof ScheduleNotFoundError) return null;
    throw e;
  }
  const last = d.info.recentActions.at(-1);
  return {
    nextRuns: d.info.nextActionTimes.map((t) => t.toISOString()),
    paused: d.state.paused,
    note: d.state.note ?? null,
    skippedOverlap: d.info.numActionsSkippedOverlap,
    lastRun: last
      ? {
          scheduledAt: last.scheduledAt.toISOString(),
          startedAt: last.takenAt.toISOString(),
          workflowId: last.action.workflow.workflowId,
        }
      : null,
    timezone: d.spec.timezone ?? null,
    calendars: d.spec.calendars,
  };
}

/** Removes every schedule of a VM, from Temporal first and then the catalog, one at a time: never one without the other. */
export async function deleteVmSchedules(pool: Pool, client: Client, vmId: string): Promise<string[]> {
  const rows = (await pool.query(`SELECT id, temporal_id FROM backup_schedules WHERE vm_id = $1`, [vmId])).rows;
  for (const r of rows) {
    await deleteTemporalSchedule(client, r.temporal_id);
    await pool.query(`DELETE FROM backup_schedules WHERE id = $1`, [r.id]);
  }
  return rows.map((r) => r.temporal_id);
}

export function createScheduleActivities(pool: Pool, client?: Client) {
  return {
    /** A VM gone for good, or off its offering: its schedules go too. */
    async deleteVmSchedules(input: { vmId: string }): Promise<{ deleted: string[] }> {
      if (!client) throw new Error('deleteVmSchedules needs a Temporal client');
      return { deleted: await deleteVmSchedules(pool, client, input.vmId) };
    },

    /** The VMs an SLA offering backs up now: those assigned to it and not removed, with what a backup's workflow needs. */
    async listSlaVms(input: { offeringId: string }): Promise<{ vmId: string; vmName: string; hostId: string; zoneName: string; accountId: string | null }[]> {
      const r = await pool.query(
        `SELECT v.id AS "vmId", v.name AS "vmName", v.host_id AS "hostId", z.name AS "zoneName", v.account_id AS "accountId"
         FROM vms v JOIN zones z ON z.id = v.zone_id WHERE v.backup_offering_id = $1 AND v.removed_at IS NULL ORDER BY v.name`,
        [input.offeringId],
      );
      return r.rows;
    },
  };
}
