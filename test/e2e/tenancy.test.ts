import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { enrol, KbossZone, qemuImgCompare, settle, setupKbossZone, sha256 } from '../helpers/backups';
import { Stack, startStack } from '../helpers/stack';
import { createTestVm, destroyTestVm, guestWrite, TestVm, virsh } from '../helpers/vm';

const exec = promisify(execFile);
const MiB = 1024 * 1024;

/** Issue 9, items 1 to 6: cross-account writes and tenancy, on the real stack (two users in two domains). */
describe('tenancy on the real stack', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  /** Names a create-vm may define: undefined at the end whatever happened (a refused one defines none). */
  const extraDomains: string[] = [];
  const user: Record<'a' | 'b', { id: string; key: string; domainId: string }> = {} as never;

  const ok = async (method: string, url: string, o: { key?: string; body?: unknown } = {}, status?: number) => {
    const r = await s.api(method, url, o);
    if (status ? r.status !== status : r.status >= 300) throw new Error(`${method} ${url} -> ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const count = async (sql: string, args: unknown[] = []) => (await s.pool.query(sql, args)).rows[0].n as number;
  const sync = () => ok('POST', `/v1/hosts/${s.facts.id}/sync`);
  /** A throwaway VM given to an account and assigned to the zone's public offering. */
  const vmOf = async (owner: 'a' | 'b' | null, offeringId = kb.offeringId) => {
    const vm = await createTestVm({ os: false, diskSizeMiB: 32 });
    vms.push(vm);
    await sync();
    if (owner) await ok('PUT', `/v1/vms/${vm.uuid}/account`, { body: { accountId: user[owner].id } });
    await enrol(s, vm.uuid, offeringId);
    return vm;
  };
  const stop = async (vm: TestVm) => {
    await virsh(['destroy', vm.name]).catch(() => undefined);
    await sync();
  };
  /** createBackup by a user (or the admin), waited for. */
  const backupAs = async (who: 'a' | 'b' | 'admin', vm: TestVm) => {
    const r = await ok('POST', '/v1/backups', { key: who === 'admin' ? s.adminKey : user[who].key, body: { vmId: vm.uuid } }, 202);
    await settle(s, r.workflowId).catch(() => undefined);
    return ok('GET', `/v1/backups/${r.backupId}`);
  };
  const restoreLeftovers = async (dir: string) => (await fs.readdir(dir)).filter((f) => /pre-restore|\.restore-|claim/.test(f));

  let vmA: TestVm;
  let vmB: TestVm;
  let backupA: any;
  let backupB: any;

  beforeAll(async () => {
    s = await startStack();
    kb = await setupKbossZone(s);
    for (const who of ['a', 'b'] as const) {
      const d = await ok('POST', '/v1/domains', { body: { name: `d-${who}` } }, 201);
      const acct = await ok('POST', '/v1/accounts', { body: { name: `user-${who}`, role: 'user', domainId: d.id } }, 201);
      const key = (await ok('POST', `/v1/accounts/${acct.id}/keys`, { body: {} }, 201)).key;
      user[who] = { id: acct.id, key, domainId: d.id };
    }
    vmA = await vmOf('a');
    vmB = await vmOf('b');
    await guestWrite(vmA, 0, 4 * MiB, 0x3a);
    await guestWrite(vmB, 0, 4 * MiB, 0x3b);
    backupA = await backupAs('a', vmA);
    backupB = await backupAs('b', vmB);
    expect([backupA.status, backupB.status]).toEqual(['BackedUp', 'BackedUp']);
  });
  afterAll(async () => {
    for (const name of extraDomains) await virsh(['undefine', name]).catch(() => undefined);
    for (const vm of vms) await destroyTestVm(vm).catch(() => undefined);
    await s?.stop();
    kb?.cleanup();
  });

  test('(1) createVMFromBackup refuses a disk path taken on the host (409 body.name) and leaves that file, and the folder, as they were', async () => {
    // Another VM's disk, at the path create-vm would write: <source disk folder>/<name>-vda.qcow2.
    const name = `${vmA.name}-victim`;
    extraDomains.push(name);
    const victim = path.join(path.dirname(vmA.diskPath), `${name}-vda.qcow2`);
    await exec('qemu-img', ['create', '-q', '-f', 'qcow2', victim, '16M']);
    await exec('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x77 0 1M', victim]);
    const before = await sha256(victim);
    const restores = await count(`SELECT count(*)::int AS n FROM restores`);

    const r = await s.api('POST', `/v1/backups/${backupA.id}/create-vm`, { key: user.a.key, body: { name } });
    expect(r.status).toBe(409);
    expect(r.body.error.field).toBe('body.name');
    expect(await sha256(victim)).toBe(before);
    expect(await restoreLeftovers(vmA.dir)).toEqual([]);
    expect(await count(`SELECT count(*)::int AS n FROM restores`)).toBe(restores);
    await expect(virsh(['domuuid', name])).rejects.toThrow();

    // A free name: new files only, equal to the backup, and nothing left beside them.
    extraDomains.push(`${vmA.name}-new`);
    const ok202 = await ok('POST', `/v1/backups/${backupA.id}/create-vm`, { key: user.a.key, body: { name: `${vmA.name}-new` } }, 202);
    await settle(s, ok202.workflowId);
    const rec = await ok('GET', `/v1/restores/${ok202.restoreId}`, { key: user.a.key });
    expect(rec.status).toBe('Succeeded');
    const created = await ok('GET', `/v1/vms/${rec.targetVmId}`, { key: user.a.key });
    expect(created.accountId).toBe(user.a.id);
    expect(created.disks[0].path).toBe(path.join(vmA.dir, `${vmA.name}-new-vda.qcow2`));
    expect((await qemuImgCompare(path.join(kb.repoPath, backupA.disks[0].file), created.disks[0].path)).identical).toBe(true);
    expect(await restoreLeftovers(vmA.dir)).toEqual([]);
    expect(await sha256(victim)).toBe(before);
  });

  test('(5) create-vm with a name held by another account\'s VM answers exactly as for any taken name, saying nothing of whose', async () => {
    // vmA is user a's; user b asks for its name. A file nobody in the catalog owns is taken as well.
    const byVm = await s.api('POST', `/v1/backups/${backupB.id}/create-vm`, { key: user.b.key, body: { name: vmA.name } });
    const fileName = `${vmB.name}-stray`;
    extraDomains.push(fileName);
    await fs.writeFile(path.join(vmB.dir, `${fileName}-vda.qcow2`), 'not a disk');
    const byFile = await s.api('POST', `/v1/backups/${backupB.id}/create-vm`, { key: user.b.key, body: { name: fileName } });
    expect([byVm.status, byFile.status]).toEqual([409, 409]);
    expect(byVm.body.error.field).toBe('body.name');
    expect(byVm.body.error.message.replace(vmA.name, 'N')).toBe(byFile.body.error.message.replace(fileName, 'N'));
    expect(byVm.body.error.message).not.toMatch(/VM named|exists|account/i);
    expect(await fs.readFile(path.join(vmB.dir, `${fileName}-vda.qcow2`), 'utf8')).toBe('not a disk');
  });

  test('(2) after a VM is given to another account, its former owner can no longer restore over it; the new owner cannot see the old backups', async () => {
    await ok('PUT', `/v1/vms/${vmB.uuid}/account`, { body: { accountId: user.a.id } });
    await stop(vmB);
    const before = await sha256(vmB.diskPath);
    const restores = await count(`SELECT count(*)::int AS n FROM restores`);

    const r = await s.api('POST', `/v1/backups/${backupB.id}/restore`, { key: user.b.key, body: {} });
    expect(r.status).toBe(403);
    expect(r.body.error.field).toBe('id');
    // The decision documented in the README: the backup stays with the account that took it.
    expect((await s.api('GET', `/v1/backups/${backupB.id}`, { key: user.b.key })).status).toBe(200);
    expect((await s.api('GET', `/v1/backups/${backupB.id}`, { key: user.a.key })).status).toBe(404);
    expect((await s.api('POST', `/v1/backups/${backupB.id}/restore`, { key: user.a.key, body: {} })).status).toBe(404);
    expect(await count(`SELECT count(*)::int AS n FROM restores`)).toBe(restores);
    expect(await sha256(vmB.diskPath)).toBe(before);
    // The new owner's first backup starts its own chain, and says why.
    await virsh(['start', vmB.name]);
    const next = await backupAs('a', vmB);
    expect(next).toMatchObject({ status: 'BackedUp', type: 'FULL', accountId: user.a.id, fullReason: expect.stringMatching(/another account/) });
  });

  test('(3) forced removal from the offering deletes only the caller\'s account\'s backups; an admin must say whose', async () => {
    const vm = await vmOf('b');
    const old = await backupAs('b', vm);
    await ok('PUT', `/v1/vms/${vm.uuid}/account`, { body: { accountId: user.a.id } });
    const mine = await backupAs('a', vm);
    expect([old.status, mine.status]).toEqual(['BackedUp', 'BackedUp']);

    const admin = await s.api('DELETE', `/v1/vms/${vm.uuid}/backup-offering?forced=true`);
    expect(admin.status).toBe(400);
    expect(admin.body.error.field).toBe('query.accountId');
    const r = await s.api('DELETE', `/v1/vms/${vm.uuid}/backup-offering?forced=true`, { key: user.a.key });
    expect(r.status).toBe(200);
    const status = async (id: string) => (await s.pool.query(`SELECT status FROM backups WHERE id = $1`, [id])).rows[0].status;
    expect(await status(mine.id)).toBe('Expunged');
    expect(await status(old.id)).toBe('BackedUp');
    // user b's backup is still whole on disk, and still b's to see.
    const file = path.join(kb.repoPath, old.disks[0].file);
    expect((await exec('qemu-img', ['check', '-U', file])).stdout).toMatch(/No errors/);
    expect((await s.api('GET', `/v1/backups/${old.id}`, { key: user.b.key })).status).toBe(200);
  });

  test('(4) a backup on an offering dedicated to another domain is refused, for users and admins alike', async () => {
    const off = await ok('POST', '/v1/backup-offerings', { body: { name: 'open-then-dedicated', zoneId: kb.zoneId, repositoryId: kb.repoId } }, 201);
    const vm = await vmOf('b', off.id);
    await ok('PATCH', `/v1/backup-offerings/${off.id}`, { body: { isPublic: false, domainIds: [user.a.domainId] } });
    const backups = await count(`SELECT count(*)::int AS n FROM backups WHERE vm_id = $1`, [vm.uuid]);
    for (const key of [user.b.key, s.adminKey]) {
      const r = await s.api('POST', '/v1/backups', { key, body: { vmId: vm.uuid } });
      expect(r.status).toBe(409);
      expect(r.body.error).toMatchObject({ field: 'vmId', message: expect.stringMatching(/dedicated to other domains/) });
    }
    expect(await count(`SELECT count(*)::int AS n FROM backups WHERE vm_id = $1`, [vm.uuid])).toBe(backups);
    // Nor can it be assigned again, nor the VM given to an account outside the offering's domains.
    await ok('DELETE', `/v1/vms/${vm.uuid}/backup-offering`);
    const assign = await s.api('POST', `/v1/vms/${vm.uuid}/backup-offering`, { body: { offeringId: off.id } });
    expect([assign.status, assign.body.error.field]).toEqual([409, 'body.offeringId']);
  });

  test('(6) a revoked key and a disabled account\'s key get 401 at once; only admins revoke and disable', async () => {
    const acct = await ok('POST', '/v1/accounts', { body: { name: 'carol', role: 'user', domainId: user.b.domainId } }, 201);
    const k1 = await ok('POST', `/v1/accounts/${acct.id}/keys`, { body: { label: 'one' } }, 201);
    const k2 = await ok('POST', `/v1/accounts/${acct.id}/keys`, { body: { label: 'two' } }, 201);
    const me = (key: string) => s.api('GET', '/v1/me', { key });
    expect([(await me(k1.key)).status, (await me(k2.key)).status]).toEqual([200, 200]);

    expect((await s.api('DELETE', `/v1/accounts/${acct.id}/keys/${k1.id}`, { key: user.a.key })).status).toBe(403);
    const revoked = await ok('DELETE', `/v1/accounts/${acct.id}/keys/${k1.id}`);
    expect(revoked.revokedAt).toBeTruthy();
    expect((await me(k1.key)).status).toBe(401);
    expect((await me(k2.key)).status).toBe(200);
    expect((await s.api('DELETE', `/v1/accounts/${user.a.id}/keys/${k2.id}`)).status).toBe(404); // not that account's key

    expect((await s.api('PATCH', `/v1/accounts/${acct.id}`, { key: user.b.key, body: { disabled: true } })).status).toBe(403);
    expect(await ok('PATCH', `/v1/accounts/${acct.id}`, { body: { disabled: true } })).toMatchObject({ disabled: true });
    const off = await me(k2.key);
    expect(off.status).toBe(401);
    expect(off.body.error.field).toBe('authorization');
    expect(await ok('PATCH', `/v1/accounts/${acct.id}`, { body: { disabled: false } })).toMatchObject({ disabled: false });
    expect((await me(k2.key)).status).toBe(200);
    expect((await me(k1.key)).status).toBe(401);
    // An admin cannot lock themselves out.
    const self = (await ok('GET', '/v1/me')).accountId;
    expect((await s.api('PATCH', `/v1/accounts/${self}`, { body: { disabled: true } })).status).toBe(409);
    const keys = await ok('GET', `/v1/accounts/${acct.id}/keys`);
    expect(keys.items.map((k: any) => [k.label, !!k.revokedAt])).toEqual([['one', true], ['two', false]]);
    expect(JSON.stringify(keys)).not.toContain(k2.key);
  });
});
