import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { Alert } from '../../common/schemas/validation';
import { activityLog } from '../../common/log';
import { metrics } from '../../common/metrics';

/**
 * Alerts: a catalog row (GET /v1/alerts) and one structured log line per alert, so a log pipeline sees
 * it even if nobody polls the API.
 */
export function createAlertActivities(pool: Pool) {
  return {
    async raiseAlert(a: Alert): Promise<{ id: string }> {
      const id = randomUUID();
      await pool.query(
        `INSERT INTO alerts (id, type, zone_id, account_id, vm_id, backup_id, message, details) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
        [id, a.type, a.zoneId, a.accountId, a.vmId, a.backupId, a.message, JSON.stringify(a.details ?? {})],
      );
      metrics.alerts.inc({ type: a.type });
      activityLog().warn('alert', { alertId: id, alertType: a.type, zoneId: a.zoneId, vmId: a.vmId, backupId: a.backupId, message: a.message });
      return { id };
    },
  };
}
