import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { backupVia, qemuImgCompare, snapshotDisk } from '../helpers/backups';
import { CACHE } from '../helpers/paths';
import { Stack, startStack } from '../helpers/stack';
import { createTestVm, destroyTestVm, guestWrite, TestVm, virsh } from '../helpers/vm';

const MiB = 1024 * 1024;

/** The nas and dummy providers follow the same workflow: nas takes full backups only, dummy touches no disk. */
describe('nas and dummy providers', () => {
  let s: Stack;
  let zoneId: string;
  const repoPath = path.join(CACHE, `test-repo-nas-${randomBytes(4).toString('hex')}`);
  const vms: TestVm[] = [];
  const ok = async (method: string, url: string, body?: unknown) => {
    const r = await s.api(method, url, { body });
    if (r.status >= 300) throw new Error(`${method} ${url} -> ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const setProvider = (value: string) => ok('PUT', '/v1/settings/backup.framework.provider.plugin', { scope: 'zone', scopeId: zoneId, value });

  beforeAll(async () => {
    s = await startStack();
    zoneId = (await s.pool.query(`SELECT zone_id FROM hosts WHERE id = $1`, [s.facts.id])).rows[0].zone_id;
    await ok('PUT', '/v1/settings/backup.framework.enabled', { scope: 'zone', scopeId: zoneId, value: true });
    mkdirSync(repoPath, { recursive: true });
  });
  afterAll(async () => {
    for (const vm of vms) await destroyTestVm(vm).catch(() => undefined);
    await s?.stop();
    rmSync(repoPath, { recursive: true, force: true });
  });

  test('nas: every backup is a full copy, with no checkpoint left in libvirt', async () => {
    await setProvider('nas');
    const repo = await ok('POST', '/v1/backup-repositories', { name: 'nas-local', zoneId, type: 'local', address: repoPath });
    const offered = await ok('GET', `/v1/backup-provider-offerings?zoneId=${zoneId}`);
    expect(offered.items.map((o: any) => o.externalId)).toContain(repo.id);
    const offering = await ok('POST', '/v1/backup-offerings/import', { name: 'nas-gold', zoneId, externalId: repo.id });
    const vm = await createTestVm({ os: false, diskSizeMiB: 64 });
    vms.push(vm);
    await ok('POST', `/v1/hosts/${s.facts.id}/sync`);
    await ok('POST', `/v1/vms/${vm.uuid}/backup-offering`, { offeringId: offering.id });

    await guestWrite(vm, 0, 4 * MiB, 0x91);
    const first = await backupVia(s, { vmId: vm.uuid });
    await guestWrite(vm, 8 * MiB, 4 * MiB, 0x92);
    await virsh(['suspend', vm.name]);
    const ref = path.join(vm.dir, 'ref-nas.qcow2');
    await snapshotDisk(vm.diskPath, ref);
    const second = await backupVia(s, { vmId: vm.uuid });
    await virsh(['resume', vm.name]);

    for (const b of [first, second]) {
      expect(b).toMatchObject({ status: 'BackedUp', type: 'FULL', provider: 'nas', checkpoint: null, parentId: null });
      expect(b.fullReason).toMatch(/nas provider takes full backups only/);
    }
    expect((await qemuImgCompare(ref, path.join(repoPath, second.disks[0].file))).identical).toBe(true);
    expect((await virsh(['checkpoint-list', vm.name, '--name'])).trim()).toBe('');
  });

  test('dummy: the backup is recorded from the catalog, and no disk is read or written', async () => {
    await setProvider('dummy');
    const offering = await ok('POST', '/v1/backup-offerings/import', { name: 'dummy-gold', zoneId, externalId: 'gold' });
    const vm = await createTestVm({ os: false, diskSizeMiB: 32 });
    vms.push(vm);
    await ok('POST', `/v1/hosts/${s.facts.id}/sync`);
    await ok('POST', `/v1/vms/${vm.uuid}/backup-offering`, { offeringId: offering.id });
    const before = readdirSync(repoPath).sort();
    const b = await backupVia(s, { vmId: vm.uuid });
    expect(b).toMatchObject({ status: 'BackedUp', type: 'FULL', provider: 'dummy', sizeBytes: 0, virtualSize: 32 * MiB });
    expect(b.disks).toEqual([expect.objectContaining({ target: 'vda', file: '', sizeBytes: 0, virtualSize: 32 * MiB })]);
    expect(readdirSync(repoPath).sort()).toEqual(before);
    expect(existsSync(path.join(repoPath, vm.uuid))).toBe(false);
    // A dummy backup holds no data, so it cannot be restored.
    const r = await s.api('POST', `/v1/backups/${b.id}/restore`, { body: {} });
    expect(r.status).toBe(409);
    expect(r.body.error.message).toMatch(/dummy/);
  });
});
