import { randomUUID } from 'node:crypto';
import { checkBackupAllowed } from '../../api/backupPolicy';
import type { Caller } from '../../api/auth';
import type { Stack } from '../helpers/stack';
import { frameworkWorld, addRepositories, createKbossOfferings, enableFramework, importOfferings } from '../helpers/framework';

/** Issue 3 on the real stack: VMs assigned to offerings, checkBackupAllowed, and deleting what is no longer used. */
describe('backup framework: VM assignment and backup policy', () => {
  let s: Stack;
  const w = frameworkWorld();
  const { zone, user, vm, repo, offering, refused, ok, setSetting, policyRefusal, suffix } = w;
  beforeAll(async () => {
    s = w.s;
    await addRepositories(w);
    await enableFramework(w);
    await importOfferings(w);
    await createKbossOfferings(w);
    // KBOSS Silver as the offerings tests leave it: zlib, one validation step, no chain size of its own.
    await ok('PATCH', `/v1/backup-offerings/${offering.kb.id}`, { body: { compressionLibrary: 'zlib', validationSteps: ['execute_command'], backupChainSize: null } });
  });

  describe('VM assignment', () => {
    test('users assign their own VMs to offerings open to them; root admins any VM', async () => {
      const a = await ok('POST', `/v1/vms/${vm.alice1}/backup-offering`, { key: user.alice.key, body: { offeringId: offering.gold.id } });
      expect(a).toMatchObject({ vmId: vm.alice1, offeringId: offering.gold.id, offering: { name: 'Gold', provider: 'nas' } });
      // Again: idempotent.
      expect(await ok('POST', `/v1/vms/${vm.alice1}/backup-offering`, { key: user.alice.key, body: { offeringId: offering.gold.id } })).toMatchObject({ offeringId: offering.gold.id });
      // Dedicated to acme: alice (acme/dev) may.
      await ok('POST', `/v1/vms/${vm.alice2}/backup-offering`, { key: user.alice.key, body: { offeringId: offering.acme.id } });
      await ok('POST', `/v1/vms/${vm.aliceKb}/backup-offering`, { key: user.alice.key, body: { offeringId: offering.kb.id } });
      await ok('POST', `/v1/vms/${vm.bob1}/backup-offering`, { body: { offeringId: offering.gold.id } }); // a root admin, for bob
      const rows = (await s.pool.query(`SELECT id, backup_offering_id FROM vms WHERE id = ANY($1)`, [[vm.alice1, vm.alice2, vm.bob1, vm.aliceKb]])).rows;
      expect(Object.fromEntries(rows.map((x) => [x.id, x.backup_offering_id]))).toEqual({
        [vm.alice1]: offering.gold.id, [vm.alice2]: offering.acme.id, [vm.bob1]: offering.gold.id, [vm.aliceKb]: offering.kb.id,
      });
    });

    test('refusals: another account\'s VM, an offering not open to the caller, another zone, disabled framework, provider mismatch', async () => {
      const assign = (vmId: string, offeringId: string, status: number, field: string, key?: string, message?: RegExp | string) =>
        refused('POST', `/v1/vms/${vmId}/backup-offering`, { key, body: { offeringId } }, status, field, message);
      await assign(vm.carol1, offering.gold.id, 404, 'id', user.alice.key); // carol's VM, by alice
      await assign(vm.bob1, offering.kbPlain.id, 404, 'id', user.alice.key);
      await assign(vm.carol1, offering.acme.id, 404, 'body.offeringId', user.carol.key); // acme's, not acme…x's
      await assign(vm.carol1, offering.acme.id, 409, 'body.offeringId'); // nor for carol's VM by a root admin
      await assign(vm.carol1, randomUUID(), 404, 'body.offeringId', user.carol.key);
      await assign(vm.carol1, offering.kb.id, 400, 'body.offeringId', user.carol.key); // an offering of another zone
      await assign(vm.alice1, offering.acme.id, 409, 'body.offeringId', user.alice.key); // already has one
      await assign(vm.aliceOff, offering.gold.id, 409, 'id', user.alice.key, /the backup framework is disabled in zone zone-off-.* \(backup\.framework\.enabled\)/);
      await assign(randomUUID(), offering.gold.id, 404, 'id');
      await refused('POST', `/v1/vms/${vm.carol1}/backup-offering`, { key: user.carol.key, body: {} }, 400, 'body.offeringId');
      await refused('POST', `/v1/vms/${vm.carol1}/backup-offering`, { key: user.carol.key, body: { offeringId: 'gold' } }, 400, 'body.offeringId');
      await refused('POST', `/v1/vms/not-a-uuid/backup-offering`, { body: { offeringId: offering.gold.id } }, 400, 'params.id');
      // The zone now uses another provider than the offering's.
      await setSetting('backup.framework.provider.plugin', 'zone', zone.nas.id, 'dummy');
      await assign(vm.carol1, offering.gold.id, 409, 'body.offeringId', user.carol.key, /provider nas, but zone .* uses dummy/);
      await setSetting('backup.framework.provider.plugin', 'zone', zone.nas.id, 'nas');
    });

    test('deleteBackupOffering is refused while VMs are assigned to it', async () => {
      await refused('DELETE', `/v1/backup-offerings/${offering.gold.id}`, {}, 409, 'id', /assigned to 2 VM/);
      await refused('DELETE', `/v1/backup-offerings/${offering.gold.id}`, { key: user.alice.key }, 403, 'authorization');
      await refused('DELETE', `/v1/backup-offerings/${randomUUID()}`, {}, 404, 'id');
      // A repository in use by an offering cannot be deleted either.
      await refused('DELETE', `/v1/backup-repositories/${repo.local.id}`, {}, 409, 'id', /in use by backup offering/);
    });

    test('removeVirtualMachineFromBackupOffering; refused while the VM has backups, forced deletes its backups first', async () => {
      await refused('DELETE', `/v1/vms/${vm.bob1}/backup-offering`, { key: user.alice.key }, 404, 'id');
      await refused('DELETE', `/v1/vms/${vm.carol1}/backup-offering`, { key: user.carol.key }, 409, 'id', /not assigned/);
      await refused('DELETE', `/v1/vms/${vm.bob1}/backup-offering?forced=maybe`, {}, 400, 'query.forced');
      const out = await ok('DELETE', `/v1/vms/${vm.bob1}/backup-offering`, { key: user.bob.key });
      expect(out).toMatchObject({ vmId: vm.bob1, offeringId: null, removedOfferingId: offering.gold.id });
      expect((await s.pool.query(`SELECT backup_offering_id FROM vms WHERE id = $1`, [vm.bob1])).rows[0].backup_offering_id).toBeNull();
      // Without backups, forced=true simply removes.
      await ok('POST', `/v1/vms/${vm.bob1}/backup-offering`, { body: { offeringId: offering.gold.id } });
      await ok('DELETE', `/v1/vms/${vm.bob1}/backup-offering?forced=true`, { key: user.bob.key });

      // With a backup: refused without forced; forced deletes the VM's backups through the delete workflows.
      const backupId = randomUUID();
      await s.pool.query(`INSERT INTO backups (id, vm_id, account_id, zone_id, provider, status) VALUES ($1, $2, $3, $4, 'nas', 'BackedUp')`, [
        backupId, vm.alice1, user.alice.id, zone.nas.id,
      ]);
      await refused('DELETE', `/v1/vms/${vm.alice1}/backup-offering`, { key: user.alice.key }, 409, 'query.forced', /has 1 backup/);
      const forced = await s.api('DELETE', `/v1/vms/${vm.alice1}/backup-offering?forced=true`, { key: user.alice.key });
      expect(forced.status).toBe(200);
      // The delete workflow ran: the backup is gone and the VM is off its offering.
      expect((await s.pool.query(`SELECT status FROM backups WHERE id = $1`, [backupId])).rows[0].status).toBe('Expunged');
      expect((await s.pool.query(`SELECT backup_offering_id FROM vms WHERE id = $1`, [vm.alice1])).rows[0].backup_offering_id).toBeNull();
    });
  });

  describe('backup policy (checkBackupAllowed)', () => {
    test('allows a backup of an assigned VM in an enabled zone, with its offering, provider and repository', async () => {
      await ok('POST', `/v1/vms/${vm.alice1}/backup-offering`, { key: user.alice.key, body: { offeringId: offering.gold.id } });
      const allowed = await checkBackupAllowed(s.pool, { vmId: vm.alice1, caller: user.alice.caller, userDriven: true });
      expect(allowed).toMatchObject({
        vm: { id: vm.alice1, name: `alice1-${suffix}`, hostId: s.facts.id, zoneId: zone.nas.id, accountId: user.alice.id },
        offering: { id: offering.gold.id, name: 'Gold', provider: 'nas', repositoryId: repo.local.id, allowUserDrivenBackups: true },
        provider: 'nas',
        repository: { id: repo.local.id, type: 'local', address: repo.local.address, mountOptions: '' },
        zoneName: zone.nas.name,
      });
      const kb = await checkBackupAllowed(s.pool, { vmId: vm.aliceKb, caller: user.alice.caller, userDriven: true });
      expect(kb).toMatchObject({ provider: 'kboss', offering: { compress: true, compressionLibrary: 'zlib' }, repository: { id: repo.kb.id } });
    });

    test('refusals: unknown or another account\'s VM, framework disabled, no offering, SLA offering for users, provider mismatch', async () => {
      const admin: Caller = { accountId: randomUUID(), accountName: 'admin', domainId: '00000000-0000-0000-0000-000000000001', role: 'admin' };
      expect(await policyRefusal(randomUUID(), admin)).toMatchObject({ status: 404, field: 'vmId' });
      expect(await policyRefusal(vm.bob1, user.alice.caller)).toMatchObject({ status: 404, field: 'vmId' });
      expect(await policyRefusal(vm.aliceOff, user.alice.caller)).toEqual({
        status: 409, field: 'vmId', message: `the backup framework is disabled in zone ${zone.off.name} (backup.framework.enabled)`,
      });
      expect(await policyRefusal(vm.carol1, user.carol.caller)).toMatchObject({ status: 409, field: 'vmId', message: expect.stringMatching(/not assigned/) });
      // alice2 is on the SLA offering: users may not start backups, root admins (and schedules, userDriven false) may.
      expect(await policyRefusal(vm.alice2, user.alice.caller)).toMatchObject({ status: 403, field: 'vmId', message: expect.stringMatching(/SLA/) });
      expect(await policyRefusal(vm.alice2, user.alice.caller, false)).toBeUndefined();
      expect(await policyRefusal(vm.alice2, admin)).toBeUndefined();
      await setSetting('backup.framework.provider.plugin', 'zone', zone.nas.id, 'kboss');
      expect(await policyRefusal(vm.alice1, user.alice.caller)).toMatchObject({ status: 409, field: 'vmId', message: expect.stringMatching(/provider nas/) });
      await setSetting('backup.framework.provider.plugin', 'zone', zone.nas.id, 'nas');
      // Disabling the framework in the zone refuses from then on.
      await setSetting('backup.framework.enabled', 'zone', zone.nas.id, false);
      expect(await policyRefusal(vm.alice1, user.alice.caller)).toMatchObject({ status: 409, field: 'vmId', message: expect.stringMatching(/disabled in zone/) });
      await setSetting('backup.framework.enabled', 'zone', zone.nas.id, true);
    });

    test('POST /v1/backups in a zone with the framework disabled is refused (once that route exists)', async () => {
      const probe = await s.api('POST', '/v1/backups', { body: { vmId: vm.aliceOff } });
      if (probe.status === 404 && /no route/.test(probe.body?.error?.message ?? '')) return; // the route is not there yet
      // The VM is assigned while the framework is enabled, then the zone's framework is switched off.
      await setSetting('backup.framework.enabled', 'zone', zone.off.id, true);
      await setSetting('backup.framework.provider.plugin', 'zone', zone.off.id, 'dummy');
      const dummy = await ok('POST', '/v1/backup-offerings/import', { body: { name: 'Dummy Gold', zoneId: zone.off.id, externalId: 'gold' } }, 201);
      await ok('POST', `/v1/vms/${vm.aliceOff}/backup-offering`, { key: user.alice.key, body: { offeringId: dummy.id } });
      await setSetting('backup.framework.enabled', 'zone', zone.off.id, false);
      await refused('POST', '/v1/backups', { key: user.alice.key, body: { vmId: vm.aliceOff } }, 409, 'vmId',
        `the backup framework is disabled in zone ${zone.off.name} (backup.framework.enabled)`);
      await refused('POST', '/v1/backups', { key: user.bob.key, body: { vmId: vm.aliceOff } }, 404, 'vmId');
      await refused('POST', '/v1/backups', { key: user.alice.key, body: { vmId: vm.alice2 } }, 403, 'vmId');
    });
  });

  describe('deleting what is no longer used', () => {
    test('offerings without VMs and repositories without offerings can be deleted', async () => {
      await ok('DELETE', `/v1/vms/${vm.alice1}/backup-offering`, { key: user.alice.key });
      const bob1 = (await s.pool.query(`SELECT backup_offering_id FROM vms WHERE id = $1`, [vm.bob1])).rows[0];
      expect(bob1.backup_offering_id).toBeNull();
      await ok('DELETE', `/v1/backup-offerings/${offering.gold.id}`, {}, 204);
      expect((await s.pool.query(`SELECT 1 FROM backup_offerings WHERE id = $1`, [offering.gold.id])).rowCount).toBe(0);
      await ok('DELETE', `/v1/backup-repositories/${repo.local.id}`, {}, 204);
      await ok('DELETE', `/v1/backup-repositories/${repo.cifs.id}`, {}, 204);
      await refused('GET', `/v1/backup-repositories/${repo.local.id}`, {}, 404, 'id');
    });
  });
});
