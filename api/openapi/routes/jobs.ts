import { routesOf } from '../registry';
import { IdParams } from '../../validate';
import { OrphanQuery, UsageQuery } from '../../routes/sync';
import { CompressDueSchema, ListServiceJobsQuery } from '../../../common/schemas/serviceJobs';
import { ListAlertsQuery } from '../../../common/schemas/validation';
import { AnyObject, listOf } from '../responses';

/** Work after a backup (service jobs), the background sync and usage. */
export const jobRoutes = routesOf('jobs', [
  { method: 'get', path: '/v1/backup-service-jobs', operationId: 'listBackupServiceJobs', command: 'listBackupServiceJobs', access: 'admin', summary: 'Service jobs (compression, validation)', query: ListServiceJobsQuery, response: listOf(AnyObject) },
  { method: 'get', path: '/v1/backup-service-jobs/:id', operationId: 'getBackupServiceJob', command: 'listBackupServiceJobs', access: 'admin', summary: 'One service job', params: IdParams, response: AnyObject },
  { method: 'post', path: '/v1/backup-service-jobs/compress-due', operationId: 'compressDue', access: 'admin', summary: 'Start the compressions that are due', body: CompressDueSchema, status: 202, response: AnyObject },
  { method: 'post', path: '/v1/zones/:id/backup-sync', operationId: 'backupSyncNow', access: 'admin', summary: "Run a round of the zone's background sync now, with its result", params: IdParams, response: AnyObject },
  { method: 'get', path: '/v1/backup-orphans', operationId: 'listBackupOrphans', access: 'admin', summary: 'Folders in repositories that the catalog does not know', query: OrphanQuery, response: listOf(AnyObject) },
  { method: 'get', path: '/v1/alerts', operationId: 'listAlerts', access: 'any', summary: 'Alerts raised by validation and re-hashing (users: their own account)', query: ListAlertsQuery, response: listOf(AnyObject) },
  { method: 'get', path: '/v1/usage', operationId: 'listUsage', command: 'listUsageRecords', access: 'any', summary: 'Backup usage for billing (users: their own account)', query: UsageQuery, response: listOf(AnyObject) },
]);
