import { randomUUID } from 'node:crypto';
import { resolveSetting, resolveSettings, SETTING_NAMES } from '../../common/settings';
import type { Stack } from '../helpers/stack';
import { frameworkWorld } from '../helpers/framework';

/** Issue 3 on the real stack: settings (values per scope, refusals) and the backup providers. */
describe('backup framework: settings and providers', () => {
  let s: Stack;
  const w = frameworkWorld();
  const { zone, user, refused, ok, setSetting } = w;
  beforeAll(async () => {
    s = w.s;
  });

  describe('settings', () => {
    test('every setting is listed with its type, default and scopes; values are typed', async () => {
      const list = await ok('GET', '/v1/settings?pageSize=500');
      expect(list.count).toBe(SETTING_NAMES.length);
      const byName = Object.fromEntries(list.items.map((x: any) => [x.name, x]));
      const defaults: Record<string, unknown> = {
        'backup.framework.enabled': false, 'backup.framework.provider.plugin': 'dummy', 'backup.framework.sync.interval': 300,
        'backup.chain.size': 8, 'backup.compression.task.enabled': true, 'backup.compression.max.concurrent.operations.per.host': 5,
        'backup.compression.max.concurrent.operations': 10, 'backup.compression.max.job.retries': 2, 'backup.compression.retry.interval': 60,
        'backup.compression.timeout': 28800, 'backup.compression.minimum.free.storage': 1, 'backup.compression.coroutines': 1,
        'backup.compression.rate.limit': 0, 'backup.validation.task.enabled': true, 'backup.validation.interval': 24,
        'backup.validation.max.concurrent.operations': 10, 'backup.validation.max.concurrent.operations.per.host': 1,
        'backup.validation.boot.default.timeout': 240, 'backup.validation.script.default.timeout': 60,
        'backup.validation.screenshot.default.wait': 60, 'backup.validation.end.chain.on.fail': true,
        // Backflow's own, beyond CloudStack's list.
        'backup.quiesce.freeze.guard': 60, 'backup.quickrestore.pull.rate.limit': 0,
        'backup.max.hourly': 8, 'backup.max.daily': 8, 'backup.max.weekly': 8, 'backup.max.monthly': 8,
      };
      expect(Object.keys(byName).sort()).toEqual(Object.keys(defaults).sort());
      for (const [name, value] of Object.entries(defaults)) {
        expect(byName[name]).toMatchObject({ name, default: value, value, source: 'default', scopeId: null });
      }
      expect(byName['backup.framework.provider.plugin']).toMatchObject({ type: 'enum', values: ['dummy', 'nas', 'kboss'], scopes: ['global', 'zone'] });
      expect(byName['backup.compression.timeout']).toMatchObject({ type: 'integer', unit: 's' });
      expect(byName['backup.chain.size'].scopes).toEqual(['global', 'zone', 'account']);

      // Filters and pagination.
      const kw = await ok('GET', '/v1/settings?keyword=validation&pageSize=3&page=2');
      expect(kw).toMatchObject({ count: 8, page: 2, pageSize: 3 });
      expect(kw.items).toHaveLength(3);
      expect(kw.items.every((x: any) => x.name.startsWith('backup.validation.'))).toBe(true);
      const acct = await ok('GET', '/v1/settings?scope=account&pageSize=500');
      expect(acct.items.map((x: any) => x.name).sort()).toEqual([
        'backup.chain.size', 'backup.compression.task.enabled', 'backup.max.daily', 'backup.max.hourly', 'backup.max.monthly', 'backup.max.weekly',
        'backup.validation.boot.default.timeout', 'backup.validation.end.chain.on.fail',
        'backup.validation.screenshot.default.wait', 'backup.validation.script.default.timeout', 'backup.validation.task.enabled',
      ]);
    });

    test('account overrides zone overrides global overrides the default, and the API shows the value and its source', async () => {
      const name = 'backup.chain.size';
      const at = (q: string) => ok('GET', `/v1/settings/${name}${q}`);
      const both = `?zoneId=${zone.nas.id}&accountId=${user.alice.id}`;
      expect(await at(both)).toMatchObject({ value: 8, source: 'default', scopeId: null, stored: [] });

      expect(await setSetting(name, 'global', null, 12)).toMatchObject({ value: 12, source: 'global' });
      expect(await at(both)).toMatchObject({ value: 12, source: 'global', scopeId: null });

      // Strings an operator would type are accepted and kept typed.
      expect(await setSetting(name, 'zone', zone.nas.id, '5')).toMatchObject({ value: 5, source: 'zone', scopeId: zone.nas.id });
      expect(await at(both)).toMatchObject({ value: 5, source: 'zone', scopeId: zone.nas.id });

      expect(await setSetting(name, 'account', user.alice.id, 1)).toMatchObject({ value: 1, source: 'account', scopeId: user.alice.id });
      const eff = await at(both);
      expect(eff).toMatchObject({ value: 1, source: 'account', scopeId: user.alice.id });
      expect(eff.stored.map((x: any) => [x.scope, x.value])).toEqual([['account', 1], ['zone', 5], ['global', 12]]);

      // Another account in the same zone gets the zone's value; another zone the global one.
      expect(await at(`?zoneId=${zone.nas.id}&accountId=${user.bob.id}`)).toMatchObject({ value: 5, source: 'zone' });
      expect(await at(`?zoneId=${zone.kboss.id}&accountId=${user.bob.id}`)).toMatchObject({ value: 12, source: 'global' });

      // The list shows the same effective values.
      const listed = (await ok('GET', `/v1/settings${both}&name=${name}`)).items[0];
      expect(listed).toMatchObject({ value: 1, source: 'account', scopeId: user.alice.id });

      // resolveSetting(s), used by the backup workflows, agree, typed.
      const scope = { zoneId: zone.nas.id, accountId: user.alice.id };
      expect(await resolveSetting(s.pool, name, scope)).toEqual({ name, value: 1, source: 'account', scopeId: user.alice.id });
      expect(await resolveSetting(s.pool, name, { zoneId: zone.nas.id })).toEqual({ name, value: 5, source: 'zone', scopeId: zone.nas.id });
      expect(await resolveSetting(s.pool, name, {})).toEqual({ name, value: 12, source: 'global' });
      const many = await resolveSettings(s.pool, [name, 'backup.framework.enabled', 'backup.compression.minimum.free.storage'], scope);
      expect(many['backup.framework.enabled']).toEqual({ name: 'backup.framework.enabled', value: false, source: 'default' });
      expect(typeof many['backup.compression.minimum.free.storage'].value).toBe('number');

      // Resetting the account's value brings back the zone's; resetting everything the default. The answer shows the
      // value the account now gets without a zone in view (an account spans zones): the global one.
      expect(await ok('DELETE', `/v1/settings/${name}?scope=account&scopeId=${user.alice.id}`)).toMatchObject({ removed: true, value: 12, source: 'global' });
      expect(await at(both)).toMatchObject({ value: 5, source: 'zone' });
      await ok('DELETE', `/v1/settings/${name}?scope=zone&scopeId=${zone.nas.id}`);
      expect(await ok('DELETE', `/v1/settings/${name}`)).toMatchObject({ removed: true, value: 8, source: 'default' });
      expect(await ok('DELETE', `/v1/settings/${name}`)).toMatchObject({ removed: false });
      expect(await at(both)).toMatchObject({ value: 8, source: 'default', stored: [] });
    });

    test('refusals: unknown setting, scope not allowed, bad value, unknown provider, missing scope, users', async () => {
      await setSetting('backup.compression.timeout', 'global', null, 3600);
      await refused('PUT', '/v1/settings/backup.no.such', { body: { value: 1 } }, 404, 'name');
      await refused('GET', '/v1/settings/backup.no.such', {}, 404, 'name');
      await refused('PUT', '/v1/settings/backup.framework.enabled', { body: { scope: 'account', scopeId: user.alice.id, value: true } }, 400, 'body.scope');
      await refused('PUT', '/v1/settings/backup.compression.timeout', { body: { value: 'abc' } }, 400, 'body.value');
      await refused('PUT', '/v1/settings/backup.compression.timeout', { body: { value: 3600.5 } }, 400, 'body.value');
      await refused('PUT', '/v1/settings/backup.framework.enabled', { body: { value: 'yes' } }, 400, 'body.value');
      await refused('PUT', '/v1/settings/backup.framework.provider.plugin', { body: { scope: 'zone', scopeId: zone.nas.id, value: 'bogus' } }, 400, 'body.value', /provider\.plugin/);
      await refused('PUT', '/v1/settings/backup.chain.size', { body: { scope: 'zone', value: 3 } }, 400, 'body.scopeId');
      await refused('PUT', '/v1/settings/backup.chain.size', { body: { scope: 'global', scopeId: zone.nas.id, value: 3 } }, 400, 'body.scopeId');
      await refused('PUT', '/v1/settings/backup.chain.size', { body: { scope: 'zone', scopeId: randomUUID(), value: 3 } }, 400, 'body.scopeId');
      await refused('PUT', '/v1/settings/backup.chain.size', { body: { scope: 'galaxy', value: 3 } }, 400, 'body.scope');
      await refused('PUT', '/v1/settings/backup.chain.size', { body: { scope: 'global' } }, 400, 'body.value');
      await refused('PUT', '/v1/settings/backup.chain.size', { body: { value: 3, extra: 1 } }, 400, 'body');
      await refused('DELETE', `/v1/settings/backup.compression.timeout?zoneId=${zone.nas.id}`, {}, 400, 'query');
      await refused('PUT', '/v1/settings/backup.chain.size', { key: user.alice.key, body: { value: 3 } }, 403, 'authorization');
      await refused('GET', '/v1/settings', { key: user.alice.key }, 403, 'authorization');
      await refused('GET', `/v1/settings?zoneId=${randomUUID()}`, {}, 400, 'query.zoneId');
      expect((await ok('GET', '/v1/settings/backup.compression.timeout')).value).toBe(3600);
      await ok('DELETE', '/v1/settings/backup.compression.timeout');
    });
  });

  describe('providers', () => {
    test('listBackupProviders returns dummy, nas and kboss', async () => {
      const list = await ok('GET', '/v1/backup-providers', { key: user.alice.key });
      expect(list.items.map((p: any) => p.name)).toEqual(['dummy', 'nas', 'kboss']);
      expect(list.items[2]).toMatchObject({ offerings: 'create', features: { incremental: true, compression: true, validation: true, quickRestore: true } });
      expect(list.items[0]).toMatchObject({ offerings: 'import', usesRepository: false, features: { touchesDisks: false } });
      expect((await ok('GET', '/v1/backup-providers?name=nas')).items.map((p: any) => p.name)).toEqual(['nas']);
      expect(await ok('GET', '/v1/backup-providers/kboss')).toMatchObject({ name: 'kboss' });
    });

    test('an unknown provider is refused wherever it is named', async () => {
      await refused('GET', '/v1/backup-providers/bogus', {}, 404, 'name');
      await refused('GET', '/v1/backup-offerings?provider=bogus', {}, 400, 'query.provider');
      await refused('PUT', '/v1/settings/backup.framework.provider.plugin', { body: { value: 'veeam' } }, 400, 'body.value');
    });
  });
});
