import type { Pool } from 'pg';
import { createHostActivities } from './hosts';
import { createInventoryActivities } from './inventory';

/** Every catalog activity, bound to one pool; the control worker registers these. */
export function createControlActivities(pool: Pool) {
  return { ...createHostActivities(pool), ...createInventoryActivities(pool) };
}
export type ControlActivities = ReturnType<typeof createControlActivities>;
