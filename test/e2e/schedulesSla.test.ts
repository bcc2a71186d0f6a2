import { KbossZone } from '../helpers/backups';
import { enrolledVm, startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { drainWorkflows } from '../helpers/schedules';
import { apiOk, eventually, Stack } from '../helpers/stack';
import { TestVm } from '../helpers/vm';

/** Issue 11: an SLA offering's provider-controlled schedule backs up every VM assigned to it. */
describe('SLA offerings', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  const ok = (method: string, url: string, body?: unknown, key?: string) => apiOk(s, method, url, body, key);
  const backupsOf = async (vmId: string, scheduleId: string) =>
    (await s.pool.query(`SELECT id, status, workflow_id FROM backups WHERE vm_id = $1 AND schedule_id = $2 ORDER BY created_at`, [vmId, scheduleId])).rows;

  beforeAll(async () => ({ s, kb } = await startKbossStack()));
  afterAll(() => stopKbossStack(s, kb, vms, { drain: true }));

  test('a schedule one minute away backs up both VMs of the offering; users cannot back up on it; a VM taken off is not backed up', async () => {
    const off = await ok('POST', '/v1/backup-offerings', { name: 'sla-gold', zoneId: kb.zoneId, repositoryId: kb.repoId, allowUserDrivenBackups: false });
    for (let i = 0; i < 2; i++) await enrolledVm(s, vms, { os: false, diskSizeMiB: 32 }, off.id);
    const [vm1, vm2] = vms;
    const alice = await ok('POST', '/v1/accounts', { name: 'alice', role: 'user' });
    const aliceKey = (await ok('POST', `/v1/accounts/${alice.id}/keys`, {})).key;
    await ok('PUT', `/v1/vms/${vm1.uuid}/account`, { accountId: alice.id });

    // The owner may neither back up nor schedule on an SLA offering, and is told why.
    const adHoc = await s.api('POST', '/v1/backups', { key: aliceKey, body: { vmId: vm1.uuid } });
    expect(adHoc.status).toBe(403);
    expect(adHoc.body.error.message).toMatch(/SLA offering/);
    const own = await s.api('POST', '/v1/backup-schedules', { key: aliceKey, body: { vmId: vm1.uuid, intervalType: 'DAILY', schedule: '00:01', timezone: 'UTC' } });
    expect(own.status).toBe(403);
    // Only admins set the offering's schedule; bad input changes nothing.
    const fireAt = new Date(Math.ceil((Date.now() + 70_000) / 60_000) * 60_000);
    const body = { intervalType: 'DAILY', schedule: `${fireAt.getUTCMinutes()}:${fireAt.getUTCHours()}`, timezone: 'UTC', maxBackups: 2 };
    expect((await s.api('PUT', `/v1/backup-offerings/${off.id}/sla-schedule`, { key: aliceKey, body })).status).toBe(403);
    const bad = await s.api('PUT', `/v1/backup-offerings/${off.id}/sla-schedule`, { body: { ...body, schedule: '60:01' } });
    expect(bad.body.error).toMatchObject({ status: 400, field: 'body.schedule' });
    expect((await ok('GET', `/v1/backup-offerings/${off.id}/sla-schedule`)).slaSchedule).toBeNull();

    const set = await ok('PUT', `/v1/backup-offerings/${off.id}/sla-schedule`, body);
    const sla = set.slaSchedule;
    expect(sla.temporalId).toMatch(/^schedule-offering-sla-gold-daily-/);
    expect(Date.parse(set.temporal.nextRuns[0])).toBe(fireAt.getTime());
    expect((await s.api('DELETE', `/v1/backup-offerings/${off.id}`)).status).toBe(409);

    // By itself, at its time: one backup of each VM, carrying the SLA schedule's id.
    const fired = await eventually(async () => {
      const rows = [(await backupsOf(vm1.uuid, sla.id))[0], (await backupsOf(vm2.uuid, sla.id))[0]];
      return rows.every((r) => r?.status === 'BackedUp') && rows;
    }, 5 * 60_000, 1000);
    expect(fired).toHaveLength(2);
    expect(await ok('GET', `/v1/backups/${fired[0].id}`, undefined, aliceKey)).toMatchObject({ status: 'BackedUp', scheduleId: sla.id });

    // vm2 off the offering: the next run backs up vm1 only.
    await ok('DELETE', `/v1/vms/${vm2.uuid}/backup-offering?forced=true&accountId=all`);
    await s.client.schedule.getHandle(sla.temporalId).trigger();
    await eventually(async () => (await backupsOf(vm1.uuid, sla.id)).filter((r) => r.status === 'BackedUp').length === 2, 3 * 60_000, 1000);
    await drainWorkflows(s);
    expect((await s.pool.query(`SELECT count(*)::int AS n FROM backups WHERE vm_id = $1 AND status <> 'Expunged'`, [vm2.uuid])).rows[0].n).toBe(0);

    await ok('DELETE', `/v1/backup-offerings/${off.id}/sla-schedule`);
    expect(await s.client.schedule.getHandle(sla.temporalId).describe().then(() => true, () => false)).toBe(false);
  });
});
