import { enrol, KbossZone } from '../helpers/backups';
import { startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { scheduleBackups, settleScheduledBackup } from '../helpers/schedules';
import { apiOk, eventually, Stack } from '../helpers/stack';
import { createTestVm, TestVm } from '../helpers/vm';

/** Issue 11: the host worker (a real process, SIGKILLed) dies between two fires; the next fire still backs up. */
describe('schedules across a host worker crash', () => {
  let s: Stack;
  let kb: KbossZone;
  let vm: TestVm | undefined;
  const ok = (method: string, url: string, body?: unknown) => apiOk(s, method, url, body);

  beforeAll(async () => ({ s, kb } = await startKbossStack({ hostWorker: 'process' })));
  afterAll(() => stopKbossStack(s, kb, [vm], { drain: true }));

  test('killed and restarted between two fires: the second fire takes its backup', async () => {
    vm = await createTestVm({ os: false, diskSizeMiB: 32 });
    await enrol(s, vm.uuid, kb.offeringId);
    const first = new Date(Math.ceil((Date.now() + 70_000) / 60_000) * 60_000);
    const second = new Date(first.getTime() + 2 * 60_000);
    const mk = (t: Date) =>
      ok('POST', '/v1/backup-schedules', { vmId: vm!.uuid, intervalType: 'DAILY', schedule: `${t.getUTCMinutes()}:${t.getUTCHours()}`, timezone: 'UTC' });
    const a = await mk(first);
    const b = await mk(second);

    const fa = await eventually(async () => (await scheduleBackups(s, a.id))[0], 4 * 60_000, 1000);
    await settleScheduledBackup(s, fa, vm.name);
    expect(await ok('GET', `/v1/backups/${fa.id}`)).toMatchObject({ status: 'BackedUp', scheduleId: a.id });

    await s.killHostWorker();
    expect(s.hostWorkerExited()).toBe(true);
    await s.restartHostWorker();
    expect(Date.now()).toBeLessThan(second.getTime()); // restarted before the second fire: otherwise this test proves nothing

    const fb = await eventually(async () => (await scheduleBackups(s, b.id))[0], 4 * 60_000, 1000);
    await settleScheduledBackup(s, fb, vm.name);
    const rec = await ok('GET', `/v1/backups/${fb.id}`);
    expect(rec).toMatchObject({ status: 'BackedUp', scheduleId: b.id, type: 'INCREMENTAL', parentId: fa.id });
    expect(Date.parse(rec.createdAt)).toBeGreaterThanOrEqual(second.getTime());
  });
});
