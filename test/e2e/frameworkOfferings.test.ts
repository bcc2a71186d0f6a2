import { randomUUID } from 'node:crypto';
import { frameworkWorld, addRepositories, createKbossOfferings, enableFramework, importOfferings } from '../helpers/framework';

/** Issue 3 on the real stack: offerings imported (nas) and created (kboss), listed per audience, updated. */
describe('backup framework: offerings', () => {
  const w = frameworkWorld();
  const { zone, domain, user, repo, offering, refused, ok, setSetting } = w;
  beforeAll(async () => {
    await addRepositories(w);
  });

  describe('offerings', () => {
    test('provider offerings and imports need the framework enabled in the zone', async () => {
      await refused('GET', `/v1/backup-provider-offerings?zoneId=${zone.nas.id}`, {}, 409, 'query.zoneId',
        `the backup framework is disabled in zone ${zone.nas.name} (backup.framework.enabled)`);
      await refused('POST', '/v1/backup-offerings/import', { body: { name: 'gold', zoneId: zone.nas.id, externalId: repo.local.id } }, 409, 'body.zoneId',
        /disabled in zone/);
      await enableFramework(w);
    });

    test('listBackupProviderOfferings: a nas zone offers its repositories, a dummy zone its fixed offerings', async () => {
      const list = await ok('GET', `/v1/backup-provider-offerings?zoneId=${zone.nas.id}`);
      expect(list.count).toBe(4);
      expect(list.items.map((x: any) => x.externalId).sort()).toEqual([repo.local.id, repo.nfs.id, repo.cifs.id, repo.ceph.id].sort());
      expect(list.items.find((x: any) => x.externalId === repo.nfs.id)).toMatchObject({ name: 'nfs-1', provider: 'nas', importedOfferingId: null });
      expect((await ok('GET', `/v1/backup-provider-offerings?zoneId=${zone.nas.id}&keyword=cifs`)).items.map((x: any) => x.name)).toEqual(['cifs-1']);
      expect((await ok('GET', `/v1/backup-provider-offerings?zoneId=${zone.kboss.id}`)).items).toEqual([]);
      // The off zone as a dummy zone, briefly.
      await setSetting('backup.framework.enabled', 'zone', zone.off.id, true);
      expect((await ok('GET', `/v1/backup-provider-offerings?zoneId=${zone.off.id}`)).items.map((x: any) => x.externalId)).toEqual(['gold', 'silver']);
      await ok('DELETE', `/v1/settings/backup.framework.enabled?scope=zone&scopeId=${zone.off.id}`);
      await refused('GET', `/v1/backup-provider-offerings?zoneId=${zone.nas.id}`, { key: user.alice.key }, 403, 'authorization');
      await refused('GET', '/v1/backup-provider-offerings', {}, 400, 'query.zoneId');
      await refused('GET', `/v1/backup-provider-offerings?zoneId=${randomUUID()}`, {}, 400, 'query.zoneId');
    });

    test('importBackupOffering (nas: external id = repository) and its refusals', async () => {
      await importOfferings(w);
      expect(offering.gold).toMatchObject({
        name: 'Gold', zoneId: zone.nas.id, zone: zone.nas.name, provider: 'nas', externalId: repo.local.id, repositoryId: repo.local.id,
        allowUserDrivenBackups: true, isPublic: true, domainIds: [], compress: false, validate: false, validationSteps: [], backupChainSize: null,
      });
      expect(offering.acme).toMatchObject({ isPublic: false, domainIds: [domain.acme], allowUserDrivenBackups: false, repositoryId: repo.nfs.id });
      expect((await ok('GET', `/v1/backup-provider-offerings?zoneId=${zone.nas.id}&keyword=local`)).items[0].importedOfferingId).toBe(offering.gold.id);

      const imp = (body: object, status: number, field: string, opts: { key?: string } = {}, message?: RegExp) =>
        refused('POST', '/v1/backup-offerings/import', { ...opts, body: { name: 'X', zoneId: zone.nas.id, externalId: repo.cifs.id, ...body } }, status, field, message);
      await imp({}, 403, 'authorization', { key: user.alice.key });
      await imp({ zoneId: zone.kboss.id, externalId: repo.kb.id }, 409, 'body.zoneId', {}, /kboss provider: its offerings are created/);
      await imp({ externalId: repo.kb.id }, 400, 'body.externalId'); // a repository of another zone
      await imp({ externalId: randomUUID() }, 400, 'body.externalId');
      await imp({ externalId: 'gold' }, 400, 'body.externalId');
      await imp({ externalId: repo.local.id }, 409, 'body.externalId');
      await imp({ name: 'Gold' }, 409, 'body.name');
      await imp({ zoneId: randomUUID() }, 400, 'body.zoneId');
      await imp({ isPublic: false }, 400, 'body.domainIds');
      await imp({ domainIds: [domain.acme] }, 400, 'body.domainIds');
      await imp({ isPublic: false, domainIds: [randomUUID()] }, 400, 'body.domainIds');
      await imp({ compress: true }, 400, 'body');
      await imp({ name: undefined }, 400, 'body.name');
    });

    test('createBackupOffering (kboss) and its refusals', async () => {
      await createKbossOfferings(w);
      expect(offering.kb).toMatchObject({
        provider: 'kboss', externalId: null, repositoryId: repo.kb.id, compress: true, compressionLibrary: 'zstd', validate: true,
        validationSteps: ['wait_for_boot', 'screenshot'], allowQuickRestore: true, allowExtractFile: true, backupChainSize: 4, isPublic: true,
      });
      expect(offering.kbPlain).toMatchObject({ compress: false, compressionLibrary: null, validate: false, validationSteps: [], allowUserDrivenBackups: true });

      const mk = (body: object, status: number, field: string, opts: { key?: string } = {}, message?: RegExp) =>
        refused('POST', '/v1/backup-offerings', { ...opts, body: { name: 'Y', zoneId: zone.kboss.id, repositoryId: repo.kb.id, ...body } }, status, field, message);
      await mk({}, 403, 'authorization', { key: user.bob.key });
      await mk({ zoneId: zone.nas.id, repositoryId: repo.local.id }, 409, 'body.zoneId', {}, /nas provider/);
      await mk({ zoneId: zone.off.id }, 409, 'body.zoneId', {}, /disabled in zone/);
      await mk({ repositoryId: repo.local.id }, 400, 'body.repositoryId');
      await mk({ repositoryId: randomUUID() }, 400, 'body.repositoryId');
      await mk({ validate: true }, 400, 'body.validationSteps');
      await mk({ validationSteps: ['screenshot'] }, 400, 'body.validationSteps');
      await mk({ validate: true, validationSteps: ['reboot'] }, 400, 'body.validationSteps.0');
      await mk({ compressionLibrary: 'zlib' }, 400, 'body.compressionLibrary');
      await mk({ compress: true, compressionLibrary: 'lz4' }, 400, 'body.compressionLibrary');
      await mk({ backupChainSize: 2.5 }, 400, 'body.backupChainSize');
      await mk({ name: 'KBOSS Silver' }, 409, 'body.name');
      await mk({ externalId: 'x' }, 400, 'body');
    });

    test('listBackupOfferings: filters, keyword, pagination; users see only the offerings open to them', async () => {
      const names = async (q: string, key?: string) => (await ok('GET', `/v1/backup-offerings${q}`, { key })).items.map((o: any) => o.name);
      expect(await names(`?zoneId=${zone.nas.id}`)).toEqual(['Acme SLA', 'Gold']);
      expect(await names('?provider=kboss')).toEqual(['KBOSS Plain', 'KBOSS Silver']);
      expect(await names('?keyword=incremental')).toEqual(['KBOSS Silver']);
      expect(await names('?keyword=%25')).toEqual([]); // % is a literal, not a wildcard
      expect(await names('?name=Gold')).toEqual(['Gold']);
      const p = await ok('GET', '/v1/backup-offerings?pageSize=1&page=2');
      expect(p).toMatchObject({ count: 4, page: 2, pageSize: 1 });
      expect(p.items).toHaveLength(1);

      // alice is in acme/dev: the acme offering is open to her. bob (ROOT) and carol (acme…x) do not see it.
      expect(await names(`?zoneId=${zone.nas.id}`, user.alice.key)).toEqual(['Acme SLA', 'Gold']);
      expect(await names(`?zoneId=${zone.nas.id}`, user.bob.key)).toEqual(['Gold']);
      expect(await names(`?zoneId=${zone.nas.id}`, user.carol.key)).toEqual(['Gold']);
      expect((await ok('GET', `/v1/backup-offerings/${offering.acme.id}`, { key: user.alice.key })).name).toBe('Acme SLA');
      await refused('GET', `/v1/backup-offerings/${offering.acme.id}`, { key: user.carol.key }, 404, 'id');
      await refused('GET', '/v1/backup-offerings?pageSize=501', {}, 400, 'query.pageSize');
    });

    test('updateBackupOffering and its refusals', async () => {
      const up = await ok('PATCH', `/v1/backup-offerings/${offering.gold.id}`, { body: { description: 'nightly', allowUserDrivenBackups: true } });
      expect(up).toMatchObject({ name: 'Gold', description: 'nightly', allowUserDrivenBackups: true });
      const kb = await ok('PATCH', `/v1/backup-offerings/${offering.kb.id}`, { body: { compress: false, validate: false, backupChainSize: null } });
      expect(kb).toMatchObject({ compress: false, compressionLibrary: null, validate: false, validationSteps: [], backupChainSize: null });
      const kb2 = await ok('PATCH', `/v1/backup-offerings/${offering.kb.id}`, { body: { compress: true, compressionLibrary: 'zlib', validate: true, validationSteps: ['execute_command'] } });
      expect(kb2).toMatchObject({ compress: true, compressionLibrary: 'zlib', validate: true, validationSteps: ['execute_command'] });
      // Dedicate and make public again.
      expect(await ok('PATCH', `/v1/backup-offerings/${offering.kbPlain.id}`, { body: { isPublic: false, domainIds: [domain.acmex] } })).toMatchObject({ isPublic: false, domainIds: [domain.acmex] });
      expect(await ok('PATCH', `/v1/backup-offerings/${offering.kbPlain.id}`, { body: { isPublic: true } })).toMatchObject({ isPublic: true, domainIds: [] });

      const patch = (id: string, body: object, status: number, field: string, opts: { key?: string } = {}) =>
        refused('PATCH', `/v1/backup-offerings/${id}`, { ...opts, body }, status, field);
      await patch(offering.gold.id, { name: 'Hacked' }, 403, 'authorization', { key: user.alice.key });
      await patch(offering.gold.id, { compress: true }, 400, 'body.compress');
      await patch(offering.gold.id, { backupChainSize: 3 }, 400, 'body.backupChainSize');
      await patch(offering.gold.id, { name: 'Acme SLA' }, 409, 'body.name');
      await patch(offering.gold.id, { isPublic: false }, 400, 'body.domainIds');
      await patch(offering.kb.id, { validationSteps: [] }, 400, 'body.validationSteps');
      await patch(offering.kb.id, { compress: false, compressionLibrary: 'zstd' }, 400, 'body.compressionLibrary');
      await patch(offering.kb.id, { repositoryId: repo.local.id }, 400, 'body.repositoryId');
      await patch(offering.kb.id, { zoneId: zone.nas.id }, 400, 'body');
      await patch(offering.kb.id, {}, 400, 'body');
      await patch(randomUUID(), { name: 'x' }, 404, 'id');
    });
  });
});
