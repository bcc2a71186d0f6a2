import type { Pool, PoolClient } from 'pg';
import { badRequest } from './errors';
import { inTransaction } from '../common/db';
import { logger } from '../common/log';
import { resolveSetting, type SettingName } from '../common/settings';
import type { IntervalTypeName } from '../common/schemas/schedules';

/**
 * maxBackups for a schedule of this interval type, as given or else the setting that bounds it
 * (backup.max.<interval>, as it applies to the zone and account); a 400 on `field` when above it.
 */
export async function checkedMaxBackups(
  db: Pool | PoolClient, type: IntervalTypeName, scope: { zoneId: string; accountId: string | null }, given: number | undefined, field = 'body.maxBackups',
): Promise<number> {
  const name = `backup.max.${type.toLowerCase()}` as SettingName;
  const limit = (await resolveSetting(db, name, scope)).value as number;
  if (given !== undefined && given > limit) throw badRequest(field, `at most ${limit} for ${type} schedules (setting ${name})`);
  return given ?? limit;
}

/**
 * Runs a catalog change and a Temporal change as one: the Temporal call runs inside the row's
 * transaction, and `undo` restores Temporal if the commit fails after it.
 */
export async function inStepWithTemporal(pool: Pool, change: (c: PoolClient) => Promise<void>, undo: () => Promise<void>): Promise<void> {
  let temporalDone = false;
  try {
    await inTransaction(pool, async (c) => {
      await change(c);
      temporalDone = true;
    });
  } catch (e) {
    if (temporalDone) await undo().catch((err) => logger().error({ err }, 'could not undo a schedule change in Temporal'));
    throw e;
  }
}
