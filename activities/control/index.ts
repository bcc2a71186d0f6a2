import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { createBackupActivities } from './backups';
import { createBackupDeletionActivities } from './backupDeletion';
import { createGoneVmActivities } from './goneVms';
import { createHostActivities } from './hosts';
import { createInventoryActivities } from './inventory';
import { createRestoreActivities } from './restores';
import { createRetentionActivities } from './retention';
import { createScheduleActivities } from './schedules';
import { createSyncActivities } from './sync';
import { createServiceJobActivities } from './serviceJobs';
import { createSlotActivities } from './slots';
import { createVmLockActivities } from './vmLocks';

/** Every catalog activity, bound to one pool; the control worker registers these. */
export function createControlActivities(pool: Pool, temporal?: Client) {
  return {
    ...createHostActivities(pool, temporal),
    ...createInventoryActivities(pool),
    ...createBackupActivities(pool),
    ...createBackupDeletionActivities(pool),
    ...createRestoreActivities(pool),
    ...createRetentionActivities(pool),
    ...createScheduleActivities(pool, temporal),
    ...createGoneVmActivities(pool, temporal),
    ...createSyncActivities(pool),
    ...createVmLockActivities(pool, temporal),
    ...createSlotActivities(pool, temporal),
    ...createServiceJobActivities(pool),
  };
}
export type ControlActivities = ReturnType<typeof createControlActivities>;
