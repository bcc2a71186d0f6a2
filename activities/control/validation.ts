import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Pool, PoolClient } from 'pg';
import { fail, Failure } from '../../common/failures';
import { resolveSettings } from '../../common/settings';
import type { EffectiveValidationSettings, ValidationPlan } from '../../common/schemas/validation';
import { createAlertActivities } from './alerts';

/** A VM's validation settings with the backup.validation.* defaults of its zone and account applied. */
export async function effectiveValidationSettings(
  db: Pool | PoolClient, vm: { id: string; zoneId: string; accountId: string | null },
): Promise<EffectiveValidationSettings> {
  const own = (await db.query(`SELECT * FROM vm_validation_settings WHERE vm_id = $1`, [vm.id])).rows[0] ?? {};
  const d = await resolveSettings(
    db as Pool,
    ['backup.validation.boot.default.timeout', 'backup.validation.script.default.timeout', 'backup.validation.screenshot.default.wait'],
    { zoneId: vm.zoneId, accountId: vm.accountId ?? undefined },
  );
  return {
    command: own.command ?? null,
    arguments: own.arguments ?? [],
    expectedResult: own.expected_result ?? null,
    commandTimeout: own.command_timeout ?? d['backup.validation.script.default.timeout'].value,
    screenshotWait: own.screenshot_wait ?? d['backup.validation.screenshot.default.wait'].value,
    bootTimeout: own.boot_timeout ?? d['backup.validation.boot.default.timeout'].value,
  };
}

/** The catalog side of validating a backup in a throwaway VM (the job row is serviceJobs.ts's). */
export function createValidationActivities(pool: Pool, temporal?: Client) {
  const alerts = createAlertActivities(pool);

  /** Whether the workflow of a validation still runs (without a Temporal client: assumed so). */
  const running = async (workflowId: string | null) => {
    if (!temporal || !workflowId) return true;
    try {
      return (await temporal.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return false;
      return true;
    }
  };

  /** The backups of a host whose validation is running now: their validation VMs are not leftovers. */
  const runningValidations = async (hostId: string): Promise<string[]> => {
    const rows = (await pool.query(
      `SELECT b.id, j.workflow_id FROM backups b LEFT JOIN backup_service_jobs j ON j.backup_id = b.id AND j.type = 'BackupValidation'
       WHERE b.host_id = $1 AND b.validation_status = 'Validating'`,
      [hostId],
    )).rows;
    const out: string[] = [];
    for (const r of rows) if (await running(r.workflow_id)) out.push(r.id);
    return out;
  };

  return {
    /** Reads the backup, its files, its offering's steps and the VM's settings; a backup to validate shows Pending. */
    async planValidation(input: { backupId: string }): Promise<ValidationPlan> {
      const b = (await pool.query(
        `SELECT b.id, b.vm_id, v.name AS vm_name, b.host_id, b.zone_id, b.account_id, h.task_queue, b.status, b.hidden, b.validation_status,
                COALESCE(o.validate, false) AS validate, COALESCE(o.validation_steps, '{}') AS steps,
                r.id AS repo_id, r.type AS repo_type, r.address, r.mount_options
         FROM backups b JOIN vms v ON v.id = b.vm_id LEFT JOIN hosts h ON h.id = b.host_id
         LEFT JOIN backup_offerings o ON o.id = b.offering_id LEFT JOIN backup_repositories r ON r.id = b.repository_id
         WHERE b.id = $1`,
        [input.backupId],
      )).rows[0];
      if (!b) throw fail.nonRetryable(Failure.NotFound, `backup ${input.backupId} not found`);
      const disks = (await pool.query(`SELECT target, file FROM backup_disks WHERE backup_id = $1 AND file <> '' ORDER BY target`, [b.id])).rows;
      let skip: string | null = null;
      if (b.status !== 'BackedUp' || b.hidden) skip = `backup ${b.id} is ${b.hidden ? 'deleted' : b.status}`;
      else if (!b.repo_id || !disks.length || !b.task_queue) skip = `backup ${b.id} has no files to validate`;
      else if (!b.validate || !b.steps.length) skip = `the offering of backup ${b.id} does not validate`;
      else if (['Valid', 'NotValid', 'UnableToValidate'].includes(b.validation_status)) skip = `backup ${b.id} is ${b.validation_status} already`;
      if (!skip) await pool.query(`UPDATE backups SET validation_status = 'Pending' WHERE id = $1 AND validation_status IS NULL`, [b.id]);
      return {
        backupId: b.id, skip, vm: { id: b.vm_id, name: b.vm_name }, hostId: b.host_id, zoneId: b.zone_id, hostTaskQueue: b.task_queue,
        repository: { id: b.repo_id, type: b.repo_type, address: b.address, mountOptions: b.mount_options ?? '' },
        disks, steps: b.steps,
        settings: await effectiveValidationSettings(pool, { id: b.vm_id, zoneId: b.zone_id, accountId: b.account_id }),
      };
    },

    /** The validation VM's screenshot: its file beside the backup, and the PNG for the API to serve. */
    async saveValidationScreenshot(input: { backupId: string; file: string; pngBase64: string }): Promise<void> {
      await pool.query(`UPDATE backups SET validation_screenshot = $2, validation_screenshot_png = $3 WHERE id = $1`, [
        input.backupId, input.file, Buffer.from(input.pngBase64, 'base64'),
      ]);
    },

    /** Every step passed. */
    async markValid(input: { backupId: string; output: string }): Promise<void> {
      await pool.query(
        `UPDATE backups SET validation_status = 'Valid', validation_step = NULL, validation_output = $2, validation_error = NULL, validated_at = now() WHERE id = $1`,
        [input.backupId, input.output.slice(0, 8000)],
      );
    },

    /** The validation VM could not be made or started (or the run was cancelled): recorded with the reason, and an alert unless cancelled. */
    async markUnableToValidate(input: { backupId: string; reason: string; alert: boolean }): Promise<void> {
      const b = (await pool.query(
        `UPDATE backups SET validation_status = 'UnableToValidate', validation_step = NULL, validation_error = $2, validated_at = now()
         WHERE id = $1 RETURNING id, vm_id, zone_id, account_id`,
        [input.backupId, input.reason.slice(0, 4000)],
      )).rows[0];
      if (!b || !input.alert) return;
      await alerts.raiseAlert({
        type: 'BackupUnableToValidate', zoneId: b.zone_id, accountId: b.account_id, vmId: b.vm_id, backupId: b.id,
        message: `backup ${b.id} could not be validated: ${input.reason}`.slice(0, 4000), details: { reason: input.reason.slice(0, 4000) },
      });
    },

    /** The validations running on a host (their VMs are kept by a sweep of leftovers). */
    async runningValidations(input: { hostId: string }): Promise<{ keepBackupIds: string[] }> {
      return { keepBackupIds: await runningValidations(input.hostId) };
    },

    /** For the sync task's round: each Up host of the zone, with the validations running on it. */
    async validationSweepPlan(input: { zoneId: string }): Promise<{ hostId: string; hostName: string; taskQueue: string; keepBackupIds: string[] }[]> {
      const hosts = (await pool.query(`SELECT id, name, task_queue FROM hosts WHERE zone_id = $1 AND status = 'Up' ORDER BY name`, [input.zoneId])).rows;
      const out = [];
      for (const h of hosts) out.push({ hostId: h.id, hostName: h.name, taskQueue: h.task_queue, keepBackupIds: await runningValidations(h.id) });
      return out;
    },
  };
}
