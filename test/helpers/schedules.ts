import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { TEMPORAL_BIN } from './paths';
import { apiOk as ok, eventually, type Stack } from './stack';

const exec = promisify(execFile);

/** A schedule's backups in the catalog, oldest first, whatever their status. */
export async function scheduleBackups(s: Stack, scheduleId: string): Promise<{ id: string; status: string; workflow_id: string }[]> {
  return (await s.pool.query(`SELECT id, status, workflow_id FROM backups WHERE schedule_id = $1 ORDER BY created_at`, [scheduleId])).rows;
}

/** Waits for a backup's workflow and then for the retention that follows it (if one was started). */
export async function settleScheduledBackup(s: Stack, b: { id: string; workflow_id: string }, vmName: string): Promise<void> {
  await s.client.workflow.getHandle(b.workflow_id).result().catch(() => undefined);
  const retention = s.client.workflow.getHandle(`retention-${vmName}-${b.id}`);
  const started = await retention.describe().then(() => true, () => false);
  if (started) await retention.result();
}

/** Run now through the API; waits for the new backup, its workflow and its retention; returns the backup. */
export async function triggerAndSettle(s: Stack, scheduleId: string, vmName: string): Promise<any> {
  const before = (await scheduleBackups(s, scheduleId)).length;
  await ok(s, 'POST', `/v1/backup-schedules/${scheduleId}/trigger`);
  const b = await eventually(async () => (await scheduleBackups(s, scheduleId))[before], 120_000, 300);
  await settleScheduledBackup(s, b, vmName);
  return (await s.pool.query(`SELECT * FROM backups WHERE id = $1`, [b.id])).rows[0];
}

/** Waits for every workflow still running but the host inventory, the zone's sync and its periodic re-hash (they never end), so the stack stops idle. */
export async function drainWorkflows(s: Stack): Promise<void> {
  await eventually(async () => {
    for await (const w of s.client.workflow.list({ query: `ExecutionStatus = "Running" AND WorkflowType != "hostInventoryWorkflow" AND WorkflowType != "backupSyncWorkflow" AND WorkflowType != "rehashZoneWorkflow"` })) {
      await s.client.workflow.getHandle(w.workflowId, w.runId).result().catch(() => undefined);
      return false;
    }
    return true;
  }, 5 * 60_000, 1000);
}

/** `temporal schedule describe -o json`, as an operator would run it. */
export async function cliDescribeSchedule(s: Stack, temporalId: string): Promise<any> {
  const { stdout } = await exec(TEMPORAL_BIN, [
    'schedule', 'describe', '--schedule-id', temporalId, '--address', s.env.address, '--namespace', s.env.namespace ?? 'default', '-o', 'json',
  ]);
  return JSON.parse(stdout);
}

/** Hour and minute of a time in a time zone. */
export function localTime(t: Date, timeZone: string): { hour: number; minute: number; date: string } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .formatToParts(t)
      .map((p) => [p.type, p.value]),
  );
  return { hour: Number(parts.hour), minute: Number(parts.minute), date: `${parts.year}-${parts.month}-${parts.day}` };
}
