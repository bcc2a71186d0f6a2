import { z } from 'zod';
import { isKnownTimeZone } from '../timezones';

/** Backup schedules (CloudStack's createBackupSchedule & co.) and retention policies. */

export const INTERVAL_TYPES = ['HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY'] as const;
export const IntervalType = z.enum(INTERVAL_TYPES);
export type IntervalTypeName = z.infer<typeof IntervalType>;

/** The schedule string's fields, MM first as CloudStack has them; DD is 1-7 (1 = Sunday) weekly, 1-28 monthly. */
export interface ScheduleTime { minute: number; hour?: number; day?: number }

const FORMATS: Record<IntervalTypeName, { pattern: string; parts: number; dayMax?: number }> = {
  HOURLY: { pattern: 'MM', parts: 1 },
  DAILY: { pattern: 'MM:HH', parts: 2 },
  WEEKLY: { pattern: 'MM:HH:DD with DD 1-7 (1 = Sunday)', parts: 3, dayMax: 7 },
  MONTHLY: { pattern: 'MM:HH:DD with DD 1-28', parts: 3, dayMax: 28 },
};

/** Parses a schedule string for its interval type, or says what is wrong with it. */
export function parseScheduleTime(type: IntervalTypeName, schedule: string): { ok: true; time: ScheduleTime } | { ok: false; message: string } {
  const f = FORMATS[type];
  const parts = schedule.split(':');
  const bad = (why: string) => ({ ok: false as const, message: `${why}; ${type} takes ${f.pattern}` });
  if (parts.length !== f.parts || !parts.every((p) => /^\d{1,2}$/.test(p))) return bad(`"${schedule}" is not of the form ${f.pattern.split(' ')[0]}`);
  const [minute, hour, day] = parts.map(Number);
  if (minute > 59) return bad(`minute ${minute} is out of range 0-59`);
  if (hour !== undefined && hour > 23) return bad(`hour ${hour} is out of range 0-23`);
  if (day !== undefined && (day < 1 || day > f.dayMax!)) return bad(`day ${day} is out of range 1-${f.dayMax}`);
  return { ok: true, time: { minute, hour, day } };
}

/** CloudStack silently falls back to GMT for an unknown name; Backflow refuses it. */
const TimeZone = z.string().refine(isKnownTimeZone, { message: 'not a known IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)' });
const MaxBackups = z.number().int().min(1, 'must be at least 1');

/** When and how much: what a VM's schedule and an SLA offering's schedule have in common. */
const ScheduleFields = z.object({
  intervalType: IntervalType,
  schedule: z.string().max(16),
  timezone: TimeZone,
  /** Scheduled backups kept (per VM); default and upper bound: the backup.max.<interval> setting. */
  maxBackups: MaxBackups.optional(),
  quiesce: z.boolean().default(false),
});
const scheduleMatchesType = (v: { intervalType: IntervalTypeName; schedule: string }, ctx: z.RefinementCtx) => {
  const t = parseScheduleTime(v.intervalType, v.schedule);
  if (!t.ok) ctx.addIssue({ code: 'custom', path: ['schedule'], message: t.message });
};

export const CreateScheduleSchema = ScheduleFields.extend({ vmId: z.guid(), isolated: z.boolean().default(false) })
  .strict()
  .superRefine(scheduleMatchesType);
export type CreateScheduleRequest = z.infer<typeof CreateScheduleSchema>;

/** The interval type stays (it is part of the schedule's id); a new schedule string is checked against it. */
export const UpdateScheduleSchema = z
  .object({
    schedule: z.string().max(16).optional(),
    timezone: TimeZone.optional(),
    maxBackups: MaxBackups.optional(),
    quiesce: z.boolean().optional(),
    isolated: z.boolean().optional(),
  })
  .strict()
  .refine((v) => Object.keys(v).length > 0, { message: 'nothing to change' });
export type UpdateScheduleRequest = z.infer<typeof UpdateScheduleSchema>;

export const ListSchedulesQuery = z.object({
  vmId: z.guid().optional(),
  intervalType: IntervalType.optional(),
  page: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(500).default(50),
});

/** PBS-style grandfather-father-son policy: each keeps the newest backup of that many periods. */
export const GfsPolicySchema = z
  .object({
    keepLast: z.number().int().min(0).max(10_000).optional(),
    keepHourly: z.number().int().min(0).max(10_000).optional(),
    keepDaily: z.number().int().min(0).max(10_000).optional(),
    keepWeekly: z.number().int().min(0).max(10_000).optional(),
    keepMonthly: z.number().int().min(0).max(10_000).optional(),
    keepYearly: z.number().int().min(0).max(10_000).optional(),
  })
  .strict();
export type GfsPolicy = z.infer<typeof GfsPolicySchema>;

/** PUT /backup-offerings/:id/retention-policy: a policy, or null to remove it. */
export const SetRetentionPolicySchema = z.object({ policy: GfsPolicySchema.nullable() }).strict();
/** Dry run: the offering's policy (or the one given) over one VM's backups, or every VM of the offering. */
export const RetentionDryRunSchema = z.object({ vmId: z.guid().optional(), policy: GfsPolicySchema.optional() }).strict();

/** An SLA offering's provider-controlled schedule (admin): every VM assigned to the offering is backed up by it. */
export const SlaScheduleSchema = ScheduleFields.strict().superRefine(scheduleMatchesType);
export type SlaScheduleRequest = z.infer<typeof SlaScheduleSchema>;
/** As stored on the offering: the schedule's own id (each backup's scheduleId) and its Temporal id. */
export interface SlaSchedule extends SlaScheduleRequest { id: string; temporalId: string; maxBackups: number }

export const ProtectBackupSchema = z.object({ protected: z.boolean() }).strict();

/** What a scheduled run carries instead of a backupId: the schedule, so the workflow allocates one per run. */
export const ScheduledBackupArgsSchema = z.object({ scheduleId: z.guid() });
