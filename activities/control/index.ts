import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { createAlertActivities } from './alerts';
import { createBackupActivities } from './backups';
import { createBackupDeletionActivities } from './backupDeletion';
import { createGoneVmActivities } from './goneVms';
import { createHashActivities } from './hashes';
import { createHostActivities } from './hosts';
import { createInventoryActivities } from './inventory';
import { createLifecycleActivities } from './lifecycle';
import { createRestoreActivities } from './restores';
import { createRetentionActivities } from './retention';
import { createScheduleActivities } from './schedules';
import { createSyncActivities } from './sync';
import { createValidationActivities } from './validation';
import { createValidityActivities } from './validity';
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
    ...createAlertActivities(pool),
    ...createValidityActivities(pool),
    ...createLifecycleActivities(pool),
    ...createHashActivities(pool, temporal),
    ...createValidationActivities(pool, temporal),
  };
}
export type ControlActivities = ReturnType<typeof createControlActivities>;
