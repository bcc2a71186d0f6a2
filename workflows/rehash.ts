import { continueAsNew, sleep, workflowInfo } from '@temporalio/workflow';
import { catalog } from './activities';

export { rehashZoneWorkflowId } from '../common/temporal';

/**
 * The periodic re-hash of one zone: every backup.validation.interval hours (read again before each
 * wait, so a changed interval holds from the next round), a re-hash workflow (rehashBackupWorkflow,
 * under the validation slots) is started for each hashed backup of the zone. Runs for ever, started
 * beside the zone's sync task (common/backupSync.ts), and continues as new before its history grows long.
 */
export async function rehashZoneWorkflow(input: { zoneId: string }): Promise<void> {
  while (!workflowInfo().continueAsNewSuggested && workflowInfo().historyLength < 10_000) {
    const hours = await catalog.rehashIntervalHours({ zoneId: input.zoneId });
    await sleep(Math.max(1_000, Math.round(hours * 3_600_000)));
    await catalog.startZoneRehashes({ zoneId: input.zoneId });
  }
  await continueAsNew<typeof rehashZoneWorkflow>(input);
}
