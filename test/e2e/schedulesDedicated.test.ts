import { WorkflowFailedError } from '@temporalio/client';
import { enrol, KbossZone } from '../helpers/backups';
import { startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { apiOk, eventually, Stack } from '../helpers/stack';
import { createTestVm, TestVm } from '../helpers/vm';

/**
 * Issue 9 item 4 for schedules: a schedule is checked against its offering's domains when it is created
 * and again at each run, so an offering dedicated elsewhere since stops taking the VM's scheduled backups.
 */
describe('a schedule on an offering dedicated elsewhere since', () => {
  let s: Stack;
  let kb: KbossZone;
  let vm: TestVm | undefined;
  const ok = (method: string, url: string, body?: unknown, key?: string) => apiOk(s, method, url, body, key);

  beforeAll(async () => ({ s, kb } = await startKbossStack()));
  afterAll(() => stopKbossStack(s, kb, [vm]));

  test('its run fails without a backup, and a new schedule is refused', async () => {
    const mine = await ok('POST', '/v1/domains', { name: 'dom-mine' });
    const other = await ok('POST', '/v1/domains', { name: 'dom-other' });
    const acct = await ok('POST', '/v1/accounts', { name: 'carol', role: 'user', domainId: mine.id });
    const key = (await ok('POST', `/v1/accounts/${acct.id}/keys`, {})).key;
    vm = await createTestVm({ os: false, diskSizeMiB: 16, start: false });
    await enrol(s, vm.uuid, kb.offeringId);
    await ok('PUT', `/v1/vms/${vm.uuid}/account`, { accountId: acct.id });
    const sched = await ok('POST', '/v1/backup-schedules', { vmId: vm.uuid, intervalType: 'DAILY', schedule: '00:03', timezone: 'UTC', maxBackups: 2 }, key);

    // The admin dedicates the offering to another domain.
    await ok('PATCH', `/v1/backup-offerings/${kb.offeringId}`, { isPublic: false, domainIds: [other.id] });

    const before = (await s.pool.query(`SELECT count(*)::int AS n FROM backups`)).rows[0].n;
    // Run now through the API is refused at once; a run at the schedule's own time (Temporal fires it,
    // as the calendar would) fails in the backup workflow, before any backup is recorded.
    expect((await s.api('POST', `/v1/backup-schedules/${sched.id}/trigger`, { key })).status).toBe(409);
    await s.client.schedule.getHandle(sched.temporalId).trigger();
    const run = await eventually(async () => (await s.client.schedule.getHandle(sched.temporalId).describe()).info.recentActions[0], 60_000, 300);
    const failure = await s.client.workflow.getHandle(run.action.workflow.workflowId).result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(JSON.stringify((failure as WorkflowFailedError).cause?.cause ?? (failure as WorkflowFailedError).cause)).toMatch(/dedicated to other domains/);
    expect((await s.pool.query(`SELECT count(*)::int AS n FROM backups`)).rows[0].n).toBe(before);

    // And a new schedule of the VM is refused, as a backup would be.
    const refused = await s.api('POST', '/v1/backup-schedules', { key, body: { vmId: vm.uuid, intervalType: 'HOURLY', schedule: '10', timezone: 'UTC' } });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/dedicated to other domains/);
  });
});
