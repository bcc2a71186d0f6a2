import type { Pool } from 'pg';
import { resolveSettings } from '../../common/settings';
import type { AlertType, ValidationStepName } from '../../common/schemas/validation';
import { createAlertActivities } from './alerts';

export interface NotValidInput {
  backupId: string;
  /** The validation step that failed, or 'rehash'. */
  step: ValidationStepName;
  /** What the step printed, or the mismatch found. */
  output: string;
  reason: string;
  /** A validation VM result ends the chain when backup.validation.end.chain.on.fail says so; a hash mismatch always does. */
  endChain: 'always' | 'by-setting';
  alertType?: AlertType;
}

/**
 * A backup found NotValid, by its validation VM or a re-hash: recorded with the step and its output, an
 * alert raised, and, if it is in the VM's current chain, the chain ended so the next backup is FULL
 * with the reason. One place, so both paths keep the same rules.
 */
export function createValidityActivities(pool: Pool) {
  const alerts = createAlertActivities(pool);
  return {
    async markNotValid(input: NotValidInput): Promise<{ chainEnded: boolean; alertId: string }> {
      const b = (await pool.query(
        `UPDATE backups SET validation_status='NotValid', validation_step=$2, validation_output=$3, validation_error=$4, validated_at=now()
         WHERE id=$1 RETURNING id, vm_id, zone_id, account_id, chain_id`,
        [input.backupId, input.step, input.output, input.reason],
      )).rows[0];
      if (!b) return { chainEnded: false, alertId: '' };
      const { 'backup.validation.end.chain.on.fail': endOnFail } = await resolveSettings(pool, ['backup.validation.end.chain.on.fail'], { zoneId: b.zone_id, accountId: b.account_id });
      let chainEnded = false;
      if (input.endChain === 'always' || endOnFail.value) {
        // The current chain is the one the VM's latest chained backup belongs to.
        const r = await pool.query(
          `UPDATE vms v SET chain_break_reason = $2
           WHERE v.id = $1 AND $3::uuid IS NOT NULL AND $3::uuid = (
             SELECT chain_id FROM backups WHERE vm_id = $1 AND status = 'BackedUp' AND NOT isolated AND checkpoint IS NOT NULL
             ORDER BY finished_at DESC LIMIT 1)`,
          [b.vm_id, `backup ${b.id} is NotValid (${input.step}): ${input.reason}`.slice(0, 1000), b.chain_id],
        );
        chainEnded = (r.rowCount ?? 0) > 0;
      }
      const { id } = await alerts.raiseAlert({
        type: input.alertType ?? (input.step === 'rehash' ? 'BackupHashMismatch' : 'BackupNotValid'),
        zoneId: b.zone_id, accountId: b.account_id, vmId: b.vm_id, backupId: b.id,
        message: `backup ${b.id} is NotValid (${input.step}): ${input.reason}`,
        details: { step: input.step, output: input.output.slice(0, 4000), chainEnded },
      });
      return { chainEnded, alertId: id };
    },
  };
}
