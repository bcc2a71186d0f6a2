import { routesOf } from '../registry';
import { IdParams } from '../../validate';
import {
  CreateScheduleSchema, ListSchedulesQuery, RetentionDryRunSchema, SetRetentionPolicySchema, SlaScheduleSchema, UpdateScheduleSchema,
} from '../../../common/schemas/schedules';
import { AnyObject, listOf } from '../responses';

/** Backup schedules (Temporal Schedules), an offering's SLA schedule and its GFS retention policy. */
export const scheduleRoutes = routesOf('schedules', [
  { method: 'post', path: '/v1/backup-schedules', operationId: 'createBackupSchedule', command: 'createBackupSchedule', access: 'any', summary: 'Schedule backups of a VM', body: CreateScheduleSchema, status: 201, response: AnyObject },
  { method: 'get', path: '/v1/backup-schedules', operationId: 'listBackupSchedules', command: 'listBackupSchedule', access: 'any', summary: 'Schedules with next runs and last backup', query: ListSchedulesQuery, response: listOf(AnyObject) },
  { method: 'get', path: '/v1/backup-schedules/:id', operationId: 'getBackupSchedule', command: 'listBackupSchedule', access: 'any', summary: 'One schedule', params: IdParams, response: AnyObject },
  { method: 'patch', path: '/v1/backup-schedules/:id', operationId: 'updateBackupSchedule', command: 'updateBackupSchedule', access: 'any', summary: 'Update a schedule', params: IdParams, body: UpdateScheduleSchema, response: AnyObject },
  { method: 'delete', path: '/v1/backup-schedules/:id', operationId: 'deleteBackupSchedule', command: 'deleteBackupSchedule', access: 'any', summary: 'Delete a schedule', params: IdParams, status: 204 },
  { method: 'post', path: '/v1/backup-schedules/:id/pause', operationId: 'pauseBackupSchedule', access: 'any', summary: 'Pause a schedule', params: IdParams, response: AnyObject },
  { method: 'post', path: '/v1/backup-schedules/:id/resume', operationId: 'resumeBackupSchedule', access: 'any', summary: 'Resume a schedule', params: IdParams, response: AnyObject },
  { method: 'post', path: '/v1/backup-schedules/:id/trigger', operationId: 'triggerBackupSchedule', access: 'any', summary: 'Run a schedule now', params: IdParams, status: 202, response: AnyObject },

  { method: 'get', path: '/v1/backup-offerings/:id/sla-schedule', operationId: 'getSlaSchedule', access: 'admin', summary: "An offering's provider-controlled schedule", params: IdParams, response: AnyObject },
  { method: 'put', path: '/v1/backup-offerings/:id/sla-schedule', operationId: 'setSlaSchedule', access: 'admin', summary: "Set an offering's provider-controlled schedule", params: IdParams, body: SlaScheduleSchema, response: AnyObject },
  { method: 'delete', path: '/v1/backup-offerings/:id/sla-schedule', operationId: 'deleteSlaSchedule', access: 'admin', summary: "Remove an offering's provider-controlled schedule", params: IdParams, status: 204 },

  { method: 'get', path: '/v1/backup-offerings/:id/retention-policy', operationId: 'getRetentionPolicy', access: 'admin', summary: "An offering's GFS retention policy", params: IdParams, response: AnyObject },
  { method: 'put', path: '/v1/backup-offerings/:id/retention-policy', operationId: 'setRetentionPolicy', access: 'admin', summary: "Set (or clear with null) an offering's GFS retention policy", params: IdParams, body: SetRetentionPolicySchema, response: AnyObject },
  { method: 'post', path: '/v1/backup-offerings/:id/retention-policy/dry-run', operationId: 'dryRunRetentionPolicy', access: 'admin', summary: 'What a GFS policy would keep and remove', params: IdParams, body: RetentionDryRunSchema, response: AnyObject },
]);
