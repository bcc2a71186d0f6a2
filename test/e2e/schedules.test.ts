import { SA } from '../../common/temporal';
import { KbossZone } from '../helpers/backups';
import { enrolledVm, startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { cliDescribeSchedule, localTime, scheduleBackups, settleScheduledBackup } from '../helpers/schedules';
import { apiOk, eventually, Stack } from '../helpers/stack';
import { TestVm } from '../helpers/vm';

/** Issue 11: backup schedules as Temporal Schedules, on the real stack. */
describe('backup schedules', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];

  const ok = (method: string, url: string, body?: unknown) => apiOk(s, method, url, body);
  const newVm = () => enrolledVm(s, vms, { os: false, diskSizeMiB: 32 }, kb.offeringId);
  /** Every schedule Temporal has, by id (describe is strongly consistent, list is not). */
  const temporalHas = (id: string) => s.client.schedule.getHandle(id).describe().then(() => true, () => false);
  const catalogSchedules = async () => (await s.pool.query(`SELECT temporal_id FROM backup_schedules ORDER BY temporal_id`)).rows.map((r) => r.temporal_id);

  beforeAll(async () => ({ s, kb } = await startKbossStack()));
  afterAll(() => stopKbossStack(s, kb, vms, { drain: true }));

  test('every bad input is a 400 naming the field, and neither the catalog nor Temporal changes', async () => {
    const vm = await newVm();
    const base = { vmId: vm.uuid, intervalType: 'DAILY', schedule: '30:02', timezone: 'Europe/Berlin' };
    const bad: [Record<string, unknown>, string][] = [
      [{ schedule: '60:02' }, 'body.schedule'], // minute 60
      [{ schedule: '00:24' }, 'body.schedule'], // hour 24
      [{ intervalType: 'WEEKLY', schedule: '00:01:0' }, 'body.schedule'],
      [{ intervalType: 'WEEKLY', schedule: '00:01:8' }, 'body.schedule'],
      [{ intervalType: 'MONTHLY', schedule: '00:01:29' }, 'body.schedule'],
      [{ intervalType: 'HOURLY', schedule: '30:02' }, 'body.schedule'], // a DAILY string for HOURLY
      [{ intervalType: 'DAILY', schedule: '30' }, 'body.schedule'], // an HOURLY string for DAILY
      [{ schedule: 'ab:cd' }, 'body.schedule'],
      [{ timezone: 'Mars/Olympus_Mons' }, 'body.timezone'], // CloudStack would silently use GMT
      [{ timezone: 'europe/berlin' }, 'body.timezone'],
      [{ maxBackups: 0 }, 'body.maxBackups'],
      [{ maxBackups: -2 }, 'body.maxBackups'],
      [{ maxBackups: 9 }, 'body.maxBackups'], // above backup.max.daily's default 8
      [{ maxBackups: 2.5 }, 'body.maxBackups'],
      [{ intervalType: 'YEARLY' }, 'body.intervalType'],
      [{ vmId: 'not-a-uuid' }, 'body.vmId'],
      [{ cron: '* * * * *' }, 'body'],
    ];
    for (const [change, field] of bad) {
      const r = await s.api('POST', '/v1/backup-schedules', { body: { ...base, ...change } });
      expect({ change, status: r.status, field: r.body?.error?.field }).toEqual({ change, status: 400, field });
      expect(r.body.error.message).toMatch(new RegExp(`^${field.replace('.', '\\.')}`));
    }
    // The bound is the setting as it applies to the VM's zone: lowered there, 4 is too many for DAILY, fine for HOURLY.
    await ok('PUT', '/v1/settings/backup.max.daily', { scope: 'zone', scopeId: kb.zoneId, value: 3 });
    const over = await s.api('POST', '/v1/backup-schedules', { body: { ...base, maxBackups: 4 } });
    expect(over.status).toBe(400);
    expect(over.body.error).toMatchObject({ field: 'body.maxBackups', message: expect.stringContaining('backup.max.daily') });
    expect(await catalogSchedules()).toEqual([]);
    expect(await s.pool.query(`SELECT 1 FROM backups WHERE vm_id = $1`, [vm.uuid])).toMatchObject({ rowCount: 0 });

    // A good one, then bad updates: each refused, and the row and Temporal's spec stay as they were.
    const good = await ok('POST', '/v1/backup-schedules', { ...base, intervalType: 'HOURLY', schedule: '15', maxBackups: 4 });
    const before = await s.client.schedule.getHandle(good.temporalId).describe();
    const rowBefore = (await s.pool.query(`SELECT * FROM backup_schedules WHERE id = $1`, [good.id])).rows[0];
    const badUpdates: [Record<string, unknown>, string][] = [
      [{ schedule: '15:02' }, 'body.schedule'], // DAILY form on an HOURLY schedule
      [{ schedule: '61' }, 'body.schedule'],
      [{ timezone: 'Nowhere/Else' }, 'body.timezone'],
      [{ maxBackups: 0 }, 'body.maxBackups'],
      [{ maxBackups: 9 }, 'body.maxBackups'],
      [{ intervalType: 'DAILY' }, 'body'],
      [{}, 'body'],
    ];
    for (const [change, field] of badUpdates) {
      const r = await s.api('PATCH', `/v1/backup-schedules/${good.id}`, { body: change });
      expect({ change, status: r.status, field: r.body?.error?.field }).toEqual({ change, status: 400, field });
    }
    expect((await s.pool.query(`SELECT * FROM backup_schedules WHERE id = $1`, [good.id])).rows[0]).toEqual(rowBefore);
    const after = await s.client.schedule.getHandle(good.temporalId).describe();
    expect(after.spec).toEqual(before.spec);
    expect(after.action).toEqual(before.action);
    expect(await catalogSchedules()).toEqual([good.temporalId]);
    await ok('DELETE', `/v1/backup-schedules/${good.id}`);
    expect(await temporalHas(good.temporalId)).toBe(false);
    expect(await catalogSchedules()).toEqual([]);
    await ok('DELETE', `/v1/settings/backup.max.daily?scope=zone&scopeId=${kb.zoneId}`);
  });

  test('New York and Kolkata: the same MM:HH runs 10h30m apart in winter and 9h30m in summer, by Temporal', async () => {
    const vm = await newVm();
    const mk = (timezone: string) => ok('POST', '/v1/backup-schedules', { vmId: vm.uuid, intervalType: 'MONTHLY', schedule: '30:10:15', timezone });
    const ny = await mk('America/New_York');
    const kol = await mk('Asia/Kolkata');
    const nyRuns: string[] = ny.temporal.nextRuns;
    const kolRuns: string[] = kol.temporal.nextRuns;
    expect(nyRuns.length).toBeGreaterThanOrEqual(8); // eight months span New York's change to summer time
    const gaps = new Map<string, number>();
    for (const t of nyRuns) {
      const local = localTime(new Date(t), 'America/New_York');
      expect(local).toMatchObject({ hour: 10, minute: 30 });
      const twin = kolRuns.find((k) => localTime(new Date(k), 'Asia/Kolkata').date === local.date);
      if (!twin) continue;
      gaps.set(local.date, (Date.parse(t) - Date.parse(twin)) / 60_000);
    }
    const isSummer = (date: string) => {
      // Summer time in New York: the 15th of April to October (it starts in March, on the 8th to 14th).
      const m = Number(date.slice(5, 7));
      return m >= 3 && m <= 10;
    };
    const winter = [...gaps].filter(([d]) => !isSummer(d)).map(([, g]) => g);
    const summer = [...gaps].filter(([d]) => isSummer(d)).map(([, g]) => g);
    expect(winter.length).toBeGreaterThan(0);
    expect(summer.length).toBeGreaterThan(0);
    expect(new Set(winter)).toEqual(new Set([10 * 60 + 30]));
    expect(new Set(summer)).toEqual(new Set([9 * 60 + 30]));
    for (const x of [ny, kol]) await ok('DELETE', `/v1/backup-schedules/${x.id}`);
  });

  test('two schedules one to two minutes away both fire by themselves; delete one, remove the VM from its offering', async () => {
    const vm = await newVm();
    // The next whole minute at least 70 s away, written in each schedule's own time zone.
    const fireAt = new Date(Math.ceil((Date.now() + 70_000) / 60_000) * 60_000);
    const kolkata = localTime(fireAt, 'Asia/Kolkata');
    const daily = await ok('POST', '/v1/backup-schedules', {
      vmId: vm.uuid, intervalType: 'DAILY', schedule: `${kolkata.minute}:${kolkata.hour}`, timezone: 'Asia/Kolkata', maxBackups: 3,
    });
    const hourly = await ok('POST', '/v1/backup-schedules', {
      vmId: vm.uuid, intervalType: 'HOURLY', schedule: `${fireAt.getUTCMinutes()}`, timezone: 'UTC', maxBackups: 2,
    });
    expect(daily.temporalId).toMatch(new RegExp(`^schedule-${vm.name}-daily-`));
    expect(hourly.temporalId).toMatch(new RegExp(`^schedule-${vm.name}-hourly-`));
    for (const x of [daily, hourly]) {
      expect(x).toMatchObject({ vmId: vm.uuid, paused: false, lastBackup: null, temporal: { paused: false, lastRun: null } });
      expect(Date.parse(x.temporal.nextRuns[0])).toBe(fireAt.getTime());
    }
    // What an operator sees: the calendar and the time zone.
    const cli = await cliDescribeSchedule(s, daily.temporalId);
    expect(JSON.stringify(cli)).toContain('Asia/Kolkata');
    // The CLI's JSON leaves zero values out: a range that starts at 0 (09:00 in Kolkata) shows no `start`.
    const starts = (ranges: { start?: number }[]) => ranges.map((r) => r.start ?? 0);
    const calendar = cli.schedule.spec.structuredCalendar[0];
    expect({ hour: starts(calendar.hour), minute: starts(calendar.minute) }).toEqual({ hour: [kolkata.hour], minute: [kolkata.minute] });
    expect(cli.schedule.policies).toMatchObject({ overlapPolicy: 'SCHEDULE_OVERLAP_POLICY_SKIP', catchupWindow: '3600s' });

    // Nothing but time: each schedule's run yields a BackedUp backup that records it.
    const fired = await eventually(async () => {
      const [a, b] = [(await scheduleBackups(s, daily.id))[0], (await scheduleBackups(s, hourly.id))[0]];
      return a && b && [a, b];
    }, 5 * 60_000, 1000);
    for (const b of fired) await settleScheduledBackup(s, b, vm.name);
    for (const [x, b] of [[daily, fired[0]], [hourly, fired[1]]] as const) {
      const rec = await ok('GET', `/v1/backups/${b.id}`);
      expect(rec).toMatchObject({ status: 'BackedUp', scheduleId: x.id, vmId: vm.uuid });
      expect(b.workflow_id.startsWith(`backup-${vm.name}-${x.intervalType.toLowerCase()}-`)).toBe(true);
      const wf = await s.client.workflow.getHandle(b.workflow_id).describe();
      expect(wf.typedSearchAttributes.get(SA.VmId)).toBe(vm.uuid);
      expect(wf.typedSearchAttributes.get(SA.Operation)).toBe('backup');
      expect(wf.typedSearchAttributes.get(SA.Zone)).toBeTruthy();
      expect(wf.typedSearchAttributes.get(SA.BackupId)).toBe(b.id);
      const shown = await ok('GET', `/v1/backup-schedules/${x.id}`);
      expect(shown.lastBackup).toMatchObject({ backupId: b.id, status: 'BackedUp' });
      expect(shown.temporal.lastRun).toMatchObject({ workflowId: b.workflow_id });
      expect(Date.parse(shown.temporal.lastRun.scheduledAt)).toBe(fireAt.getTime());
      expect(Date.parse(shown.temporal.nextRuns[0])).toBeGreaterThan(fireAt.getTime());
    }
    expect((await ok('GET', `/v1/backup-schedules?vmId=${vm.uuid}`)).count).toBe(2);

    // Pause and resume show in the answer and in Temporal.
    expect(await ok('POST', `/v1/backup-schedules/${hourly.id}/pause`)).toMatchObject({ paused: true, temporal: { paused: true } });
    expect(await ok('POST', `/v1/backup-schedules/${hourly.id}/resume`)).toMatchObject({ paused: false, temporal: { paused: false } });

    // Deleting one leaves the other.
    await ok('DELETE', `/v1/backup-schedules/${daily.id}`);
    expect(await temporalHas(daily.temporalId)).toBe(false);
    expect(await temporalHas(hourly.temporalId)).toBe(true);
    expect((await ok('GET', `/v1/backup-schedules?vmId=${vm.uuid}`)).items.map((x: any) => x.id)).toEqual([hourly.id]);
    // Its backup stays, with its schedule recorded.
    expect(await ok('GET', `/v1/backups/${fired[0].id}`)).toMatchObject({ scheduleId: daily.id });

    // The offering cannot go while schedules are behind it.
    const another = await ok('POST', '/v1/backup-schedules', { vmId: vm.uuid, intervalType: 'WEEKLY', schedule: '00:03:1', timezone: 'UTC' });
    const del = await s.api('DELETE', `/v1/backup-offerings/${kb.offeringId}`);
    expect(del.status).toBe(409);
    // Removing the VM from its offering removes both schedules, from the catalog and from Temporal.
    await ok('DELETE', `/v1/vms/${vm.uuid}/backup-offering?forced=true&accountId=all`);
    expect(await s.pool.query(`SELECT 1 FROM backup_schedules WHERE vm_id = $1`, [vm.uuid])).toMatchObject({ rowCount: 0 });
    expect(await temporalHas(hourly.temporalId)).toBe(false);
    expect(await temporalHas(another.temporalId)).toBe(false);
  });
});
