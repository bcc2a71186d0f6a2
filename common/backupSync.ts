import type { Client } from '@temporalio/client';
import { startOperation } from './operations';
import { backupSyncWorkflowId, rehashZoneWorkflowId } from './temporal';

/**
 * Starts the zone's background sync workflow (workflows/backupSync.ts) unless it runs already. Called by
 * the control worker at start for every zone, when a host registers (a zone made since then), and by the
 * API's "sync now"; by type name, so none of them loads workflow code.
 */
export async function ensureBackupSync(temporal: Client, zone: { id: string; name: string }) {
  await ensureRehash(temporal, zone);
  return startOperation<{ zoneId: string }, void>(temporal, 'backupSyncWorkflow', {
    workflowId: backupSyncWorkflowId(zone.name),
    input: { zoneId: zone.id },
    subject: { zone: zone.name, operation: 'backup-sync' },
    summary: `background sync of zone ${zone.name}`,
  });
}

/**
 * Starts the zone's periodic re-hash (workflows/rehash.ts) unless it runs already; with the sync task,
 * so wherever a zone gets its sync task it gets its re-hash too.
 */
export function ensureRehash(temporal: Client, zone: { id: string; name: string }) {
  return startOperation<{ zoneId: string }, void>(temporal, 'rehashZoneWorkflow', {
    workflowId: rehashZoneWorkflowId(zone.name),
    input: { zoneId: zone.id },
    subject: { zone: zone.name, operation: 'periodic-rehash' },
  });
}
