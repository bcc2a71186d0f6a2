import { enrol, KbossZone } from '../helpers/backups';
import { startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { apiOk, Stack } from '../helpers/stack';
import { createTestVm, destroyTestVm, TestVm } from '../helpers/vm';

/** Issue 11: a VM that disappears for good takes its schedules with it, from the catalog and from Temporal. */
describe('schedules of a VM gone for good', () => {
  let s: Stack;
  let kb: KbossZone;
  let vm: TestVm | undefined;
  const ok = (method: string, url: string, body?: unknown, key?: string) => apiOk(s, method, url, body, key);
  const inTemporal = (temporalId: string) => s.client.schedule.getHandle(temporalId).describe().then(() => true, () => false);

  beforeAll(async () => ({ s, kb } = await startKbossStack()));
  afterAll(() => stopKbossStack(s, kb, [vm]));

  test('kept while the VM may come back, deleted by the sync task once it is gone for good', async () => {
    vm = await createTestVm({ os: false, diskSizeMiB: 16, start: false });
    await enrol(s, vm.uuid, kb.offeringId);
    const daily = await ok('POST', '/v1/backup-schedules', { vmId: vm.uuid, intervalType: 'DAILY', schedule: '10:03', timezone: 'UTC', maxBackups: 2 });
    const hourly = await ok('POST', '/v1/backup-schedules', { vmId: vm.uuid, intervalType: 'HOURLY', schedule: '17', timezone: 'UTC', maxBackups: 2 });
    const ids = [daily.temporalId, hourly.temporalId] as string[];
    expect(ids.every(Boolean)).toBe(true);
    for (const id of ids) expect(await inTemporal(id)).toBe(true);

    // The VM disappears from its host: the inventory marks it removed.
    await destroyTestVm(vm);
    vm = undefined;
    await ok('POST', `/v1/hosts/${s.facts.id}/sync`);
    const gone = (await s.pool.query(`SELECT removed_at FROM vms WHERE id = $1`, [daily.vmId])).rows[0];
    expect(gone.removed_at).not.toBeNull();

    // Just removed: it may be moving hosts, so a sync round keeps its schedules.
    let { round } = await ok('POST', `/v1/zones/${kb.zoneId}/backup-sync`);
    expect(round.schedulesDeleted).toEqual([]);
    expect((await s.pool.query(`SELECT count(*)::int AS n FROM backup_schedules WHERE vm_id = $1`, [daily.vmId])).rows[0].n).toBe(2);

    // Missed for longer than a day: gone for good, and the next round deletes both, in Temporal and the catalog.
    await s.pool.query(`UPDATE vms SET removed_at = now() - interval '2 days' WHERE id = $1`, [daily.vmId]);
    ({ round } = await ok('POST', `/v1/zones/${kb.zoneId}/backup-sync`));
    expect([...round.schedulesDeleted].sort()).toEqual([...ids].sort());
    expect((await s.pool.query(`SELECT count(*)::int AS n FROM backup_schedules WHERE vm_id = $1`, [daily.vmId])).rows[0].n).toBe(0);
    for (const id of ids) expect(await inTemporal(id)).toBe(false);
    expect((await s.api('GET', `/v1/backup-schedules/${daily.id}`)).status).toBe(404);
  });
});
