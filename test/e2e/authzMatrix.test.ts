import { backupVia, enrol, KbossZone, settle, setupKbossZone } from '../helpers/backups';
import { enumerateRoutes } from '../helpers/routes';
import { eventually, Stack, startStack } from '../helpers/stack';
import { createTestVm, destroyTestVm, TestVm } from '../helpers/vm';

/** One account's objects, as another caller would name them. */
interface Objects { account: string; key: string; vm: string; vmName: string; backup: string; restore?: string; offering: string; domain: string; schedule?: string }
type Who = 'a' | 'b';
interface Req { method: string; url: string; body?: unknown }
/** deny: 403 or 404. read: 2xx allowed, but the answer names none of the other's objects. */
interface Case extends Req { expect: 'deny' | 'read' }

/**
 * Issue 9 acceptance: an authorization matrix. A root admin, user a (domain 1) and user b (domain 2):
 * each user calls every route with the other's ids (and with the admin's and unowned objects), and gets
 * 403/404 on every one of them, lists that name none of them, and no change in the catalog.
 */
describe('authorization matrix: admin, two users in two domains, every route', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  const key: Record<Who, string> = {} as never;
  const own: Record<Who, Objects> = {} as never;
  let adminObjects: Objects;

  const ok = async (method: string, url: string, o: { key?: string; body?: unknown } = {}) => {
    const r = await s.api(method, url, o);
    if (r.status >= 300) throw new Error(`${method} ${url} -> ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const newVm = async (accountId: string | null, offeringId: string) => {
    const vm = await createTestVm({ os: false, diskSizeMiB: 16 });
    vms.push(vm);
    await ok('POST', `/v1/hosts/${s.facts.id}/sync`);
    if (accountId) await ok('PUT', `/v1/vms/${vm.uuid}/account`, { body: { accountId } });
    await enrol(s, vm.uuid, offeringId);
    return vm;
  };

  beforeAll(async () => {
    s = await startStack();
    kb = await setupKbossZone(s);
    const dedicated = async (domainId: string, name: string) =>
      (await ok('POST', '/v1/backup-offerings', { body: { name, zoneId: kb.zoneId, repositoryId: kb.repoId, isPublic: false, domainIds: [domainId] } })).id;
    for (const who of ['a', 'b'] as Who[]) {
      const d = await ok('POST', '/v1/domains', { body: { name: `dom-${who}` } });
      const acct = await ok('POST', '/v1/accounts', { body: { name: `acct-${who}`, role: 'user', domainId: d.id } });
      const k = await ok('POST', `/v1/accounts/${acct.id}/keys`, { body: {} });
      key[who] = k.key;
      const vm = await newVm(acct.id, kb.offeringId);
      const b = await backupVia(s, { vmId: vm.uuid });
      expect(b.status).toBe('BackedUp');
      const r = await ok('POST', `/v1/backups/${b.id}/restore-volume`, { key: k.key, body: { volumeTarget: 'vda', vmId: vm.uuid } });
      await settle(s, r.workflowId);
      // A schedule of its own, paused at once so it never fires while the matrix runs.
      const sched = await ok('POST', '/v1/backup-schedules', { key: k.key, body: { vmId: vm.uuid, intervalType: 'DAILY', schedule: '00:03', timezone: 'UTC', maxBackups: 2 } });
      await ok('POST', `/v1/backup-schedules/${sched.id}/pause`, { key: k.key });
      // An alert on its backup, as a failed validation would raise, so the alert list has something to leak.
      await s.pool.query(`INSERT INTO alerts (id, type, zone_id, account_id, vm_id, backup_id, message) VALUES (gen_random_uuid(), 'BackupNotValid', $1, $2, $3, $4, $5)`,
        [kb.zoneId, acct.id, vm.uuid, b.id, `backup ${b.id} of ${vm.name} is NotValid`]);
      own[who] = {
        account: acct.id, key: k.id, vm: vm.uuid, vmName: vm.name, backup: b.id, restore: r.restoreId,
        offering: await dedicated(d.id, `only-${who}`), domain: d.id, schedule: sched.id,
      };
    }
    // The admin's own objects: the admin account and key, an unowned VM and its backup, an offering of a third domain.
    const d3 = await ok('POST', '/v1/domains', { body: { name: 'dom-nobody' } });
    const me = await ok('GET', '/v1/me');
    const adminKeyId = (await ok('GET', `/v1/accounts/${me.accountId}/keys`)).items[0].id;
    const unowned = await newVm(null, kb.offeringId);
    const ub = await backupVia(s, { vmId: unowned.uuid });
    adminObjects = { account: me.accountId, key: adminKeyId, vm: unowned.uuid, vmName: unowned.name, backup: ub.id, offering: await dedicated(d3.id, 'only-nobody'), domain: d3.id };
    // The backups' hash jobs (started as each backup ends) are done, so nothing writes the catalog while the matrix runs.
    await eventually(async () => {
      const running = s.client.workflow.list({ query: `WorkflowType = "hashBackupWorkflow" AND ExecutionStatus = "Running"` });
      return (await running[Symbol.asyncIterator]().next()).done === true;
    }, 300_000, 1000);
    // Sanity: every object is real, so a 404 below is a refusal, not a typo.
    for (const who of ['a', 'b'] as Who[]) {
      for (const url of [`/v1/vms/${own[who].vm}`, `/v1/backups/${own[who].backup}`, `/v1/restores/${own[who].restore}`, `/v1/backup-offerings/${own[who].offering}`, `/v1/backup-schedules/${own[who].schedule}`]) {
        await ok('GET', url, { key: key[who] });
      }
    }
  });
  afterAll(async () => {
    for (const vm of vms) await destroyTestVm(vm).catch(() => undefined);
    await s?.stop();
    kb?.cleanup();
  });

  /** The requests user `me` makes against `o` (another account's objects), for each route. */
  const cases = (me: Objects, o: Objects): Record<string, Case[]> => {
    const deny = (method: string, url: string, body?: unknown): Case => ({ method, url, body, expect: 'deny' });
    const read = (url: string): Case => ({ method: 'GET', url, expect: 'read' });
    return {
      'GET /health': [read('/health')],
      'GET /openapi.json': [read('/openapi.json')],
      'GET /metrics': [read('/metrics')],
      'GET /v1/me': [read('/v1/me')],
      'GET /v1/domains': [deny('GET', '/v1/domains')],
      'POST /v1/domains': [deny('POST', '/v1/domains', { name: 'sneaky', parentId: o.domain })],
      'GET /v1/accounts': [deny('GET', '/v1/accounts')],
      'POST /v1/accounts': [deny('POST', '/v1/accounts', { name: 'sneaky', role: 'admin', domainId: o.domain })],
      'PATCH /v1/accounts/:id': [deny('PATCH', `/v1/accounts/${o.account}`, { disabled: true })],
      'GET /v1/accounts/:id/keys': [deny('GET', `/v1/accounts/${o.account}/keys`)],
      'POST /v1/accounts/:id/keys': [deny('POST', `/v1/accounts/${o.account}/keys`, {})],
      'DELETE /v1/accounts/:id/keys/:keyId': [deny('DELETE', `/v1/accounts/${o.account}/keys/${o.key}`)],
      'GET /v1/zones': [read('/v1/zones')],
      'GET /v1/hosts': [deny('GET', '/v1/hosts')],
      'GET /v1/hosts/:id': [deny('GET', `/v1/hosts/${s.facts.id}`)],
      'POST /v1/hosts/:id/sync': [deny('POST', `/v1/hosts/${s.facts.id}/sync`)],
      'GET /v1/vms': [read('/v1/vms'), read(`/v1/vms?accountId=${o.account}`), read(`/v1/vms?name=${o.vmName}`)],
      'GET /v1/vms/:id': [deny('GET', `/v1/vms/${o.vm}`)],
      'PUT /v1/vms/:id/account': [deny('PUT', `/v1/vms/${o.vm}/account`, { accountId: me.account })],
      'GET /v1/settings': [deny('GET', `/v1/settings?accountId=${o.account}`)],
      'GET /v1/settings/:name': [deny('GET', `/v1/settings/backup.chain.size?accountId=${o.account}`)],
      'PUT /v1/settings/:name': [deny('PUT', '/v1/settings/backup.chain.size', { scope: 'account', scopeId: o.account, value: 1 })],
      'DELETE /v1/settings/:name': [deny('DELETE', `/v1/settings/backup.chain.size?scope=account&scopeId=${o.account}`)],
      'GET /v1/backup-providers': [read('/v1/backup-providers')],
      'GET /v1/backup-providers/:name': [read('/v1/backup-providers/kboss')],
      'GET /v1/backup-provider-offerings': [deny('GET', `/v1/backup-provider-offerings?zoneId=${kb.zoneId}`)],
      'POST /v1/backup-repositories': [deny('POST', '/v1/backup-repositories', { name: 'sneaky', zoneId: kb.zoneId, type: 'local', address: '/tmp/sneaky' })],
      'GET /v1/backup-repositories': [deny('GET', '/v1/backup-repositories')],
      'GET /v1/backup-repositories/:id': [deny('GET', `/v1/backup-repositories/${kb.repoId}`)],
      'PATCH /v1/backup-repositories/:id': [deny('PATCH', `/v1/backup-repositories/${kb.repoId}`, { name: 'sneaky' })],
      'DELETE /v1/backup-repositories/:id': [deny('DELETE', `/v1/backup-repositories/${kb.repoId}`)],
      'POST /v1/backup-offerings/import': [deny('POST', '/v1/backup-offerings/import', { name: 'sneaky', zoneId: kb.zoneId, externalId: 'gold' })],
      'POST /v1/backup-offerings': [deny('POST', '/v1/backup-offerings', { name: 'sneaky', zoneId: kb.zoneId, repositoryId: kb.repoId })],
      'GET /v1/backup-offerings': [read('/v1/backup-offerings'), read('/v1/backup-offerings?name=only-a'), read('/v1/backup-offerings?name=only-b')],
      'GET /v1/backup-offerings/:id': [deny('GET', `/v1/backup-offerings/${o.offering}`)],
      'PATCH /v1/backup-offerings/:id': [deny('PATCH', `/v1/backup-offerings/${o.offering}`, { isPublic: true })],
      'DELETE /v1/backup-offerings/:id': [deny('DELETE', `/v1/backup-offerings/${o.offering}`)],
      'POST /v1/vms/:id/backup-offering': [
        deny('POST', `/v1/vms/${o.vm}/backup-offering`, { offeringId: kb.offeringId }),
        deny('POST', `/v1/vms/${me.vm}/backup-offering`, { offeringId: o.offering }),
      ],
      'DELETE /v1/vms/:id/backup-offering': [deny('DELETE', `/v1/vms/${o.vm}/backup-offering?forced=true`)],
      'POST /v1/backups': [deny('POST', '/v1/backups', { vmId: o.vm })],
      'GET /v1/backups': [read('/v1/backups'), read(`/v1/backups?vmId=${o.vm}`)],
      'GET /v1/backups/:id': [deny('GET', `/v1/backups/${o.backup}`)],
      'DELETE /v1/backups/:id': [deny('DELETE', `/v1/backups/${o.backup}?forced=true`)],
      'POST /v1/vms/:id/finish-backup-chain': [deny('POST', `/v1/vms/${o.vm}/finish-backup-chain`)],
      'POST /v1/backups/:id/restore': [deny('POST', `/v1/backups/${o.backup}/restore`, {})],
      'POST /v1/backups/:id/restore-volume': [
        deny('POST', `/v1/backups/${o.backup}/restore-volume`, { volumeTarget: 'vda', vmId: me.vm }),
        deny('POST', `/v1/backups/${me.backup}/restore-volume`, { volumeTarget: 'vda', vmId: o.vm }),
      ],
      'POST /v1/backups/:id/create-vm': [deny('POST', `/v1/backups/${o.backup}/create-vm`, { name: `${o.vmName}-stolen` })],
      'GET /v1/restores': [read('/v1/restores'), read(`/v1/restores?vmId=${o.vm}`), read(`/v1/restores?backupId=${o.backup}`)],
      'GET /v1/restores/:id': o.restore ? [deny('GET', `/v1/restores/${o.restore}`)] : [],
      'PATCH /v1/backups/:id': [deny('PATCH', `/v1/backups/${o.backup}`, { protected: true })],
      // Schedules: the other's schedule by id, and one made for the other's VM.
      'POST /v1/backup-schedules': [deny('POST', '/v1/backup-schedules', { vmId: o.vm, intervalType: 'DAILY', schedule: '00:04', timezone: 'UTC', maxBackups: 2 })],
      'GET /v1/backup-schedules': [read('/v1/backup-schedules'), read(`/v1/backup-schedules?vmId=${o.vm}`)],
      ...(o.schedule
        ? {
            'GET /v1/backup-schedules/:id': [deny('GET', `/v1/backup-schedules/${o.schedule}`)],
            'PATCH /v1/backup-schedules/:id': [deny('PATCH', `/v1/backup-schedules/${o.schedule}`, { maxBackups: 1 })],
            'DELETE /v1/backup-schedules/:id': [deny('DELETE', `/v1/backup-schedules/${o.schedule}`)],
            'POST /v1/backup-schedules/:id/pause': [deny('POST', `/v1/backup-schedules/${o.schedule}/pause`)],
            'POST /v1/backup-schedules/:id/resume': [deny('POST', `/v1/backup-schedules/${o.schedule}/resume`)],
            'POST /v1/backup-schedules/:id/trigger': [deny('POST', `/v1/backup-schedules/${o.schedule}/trigger`)],
          }
        : {}),
      // Provider schedules, retention policies and the sync task are the root admins'.
      'GET /v1/backup-offerings/:id/sla-schedule': [deny('GET', `/v1/backup-offerings/${o.offering}/sla-schedule`)],
      'PUT /v1/backup-offerings/:id/sla-schedule': [
        deny('PUT', `/v1/backup-offerings/${me.offering}/sla-schedule`, { intervalType: 'DAILY', schedule: '00:05', timezone: 'UTC', maxBackups: 2 }),
      ],
      'DELETE /v1/backup-offerings/:id/sla-schedule': [deny('DELETE', `/v1/backup-offerings/${o.offering}/sla-schedule`)],
      'GET /v1/backup-offerings/:id/retention-policy': [deny('GET', `/v1/backup-offerings/${o.offering}/retention-policy`)],
      'PUT /v1/backup-offerings/:id/retention-policy': [deny('PUT', `/v1/backup-offerings/${me.offering}/retention-policy`, { keepLast: 1 })],
      'POST /v1/backup-offerings/:id/retention-policy/dry-run': [deny('POST', `/v1/backup-offerings/${o.offering}/retention-policy/dry-run`, {})],
      'POST /v1/zones/:id/backup-sync': [deny('POST', `/v1/zones/${kb.zoneId}/backup-sync`)],
      'GET /v1/backup-orphans': [deny('GET', '/v1/backup-orphans')],
      'GET /v1/usage': [deny('GET', `/v1/usage?accountId=${o.account}`), read('/v1/usage')],
      'GET /v1/backup-service-jobs': [deny('GET', `/v1/backup-service-jobs?backupId=${o.backup}`)],
      'GET /v1/backup-service-jobs/:id': [deny('GET', `/v1/backup-service-jobs/${o.backup}`)],
      'POST /v1/backup-service-jobs/compress-due': [deny('POST', '/v1/backup-service-jobs/compress-due', {})],
      'GET /v1/alerts': [read('/v1/alerts'), read(`/v1/alerts?zoneId=${kb.zoneId}`)],
      'POST /v1/backups/:id/verify': [deny('POST', `/v1/backups/${o.backup}/verify`)],
      'POST /v1/vms/:id/backups/verify': [deny('POST', `/v1/vms/${o.vm}/backups/verify`)],
      'GET /v1/vms/:id/validation-settings': [deny('GET', `/v1/vms/${o.vm}/validation-settings`)],
      'PUT /v1/vms/:id/validation-settings': [
        deny('PUT', `/v1/vms/${o.vm}/validation-settings`, { command: '/bin/true' }), deny('PUT', `/v1/vms/${o.vm}/validation-settings`, { bootTimeout: 5 }),
      ],
      'GET /v1/backups/:id/validation-screenshot': [deny('GET', `/v1/backups/${o.backup}/validation-screenshot`)],
    };
  };

  /** A digest of every catalog table, to show that nothing changed. */
  const catalogDigest = async () => {
    const tables = (await s.pool.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'pgmigrations' ORDER BY 1`)).rows;
    const out: Record<string, string> = {};
    for (const { tablename } of tables) {
      out[tablename] = (await s.pool.query(`SELECT md5(COALESCE(string_agg(t::text, '|' ORDER BY t::text), '')) AS h FROM "${tablename}" t`)).rows[0].h;
    }
    return out;
  };

  test('every route is in the matrix', () => {
    const covered = Object.keys(cases(own.a, own.b));
    expect(enumerateRoutes().filter((r) => !covered.includes(r))).toEqual([]);
    expect(covered.filter((r) => !enumerateRoutes().includes(r))).toEqual([]);
  });

  test('no user reads or writes another account\'s (or the admin\'s) objects, on any route', async () => {
    const before = await catalogDigest();
    const findings: string[] = [];
    for (const [me, other] of [['a', 'b'], ['b', 'a']] as [Who, Who][]) {
      for (const target of [own[other], adminObjects]) {
        const forbiddenIds = Object.values(target).filter((v) => typeof v === 'string' && /^[0-9a-f-]{36}$/.test(v) && v !== kb.offeringId) as string[];
        for (const [route, list] of Object.entries(cases(own[me], target))) {
          for (const c of list) {
            const r = await s.api(c.method, c.url, { key: key[me], body: c.body });
            const text = JSON.stringify(r.body ?? '');
            const leaked = forbiddenIds.filter((id) => text.includes(id));
            const where = `${me} -> ${route}: ${c.method} ${c.url}`;
            if (c.expect === 'deny' && ![403, 404].includes(r.status)) findings.push(`${where} answered ${r.status} ${text.slice(0, 200)}`);
            if (c.expect === 'read' && r.status >= 500) findings.push(`${where} answered ${r.status}`);
            if (leaked.length) findings.push(`${where} named ${leaked.join(', ')}`);
          }
        }
      }
    }
    expect(findings).toEqual([]);
    expect(await catalogDigest()).toEqual(before);
    // And the keys still work for what is theirs (the matrix refused by authorization, not by a broken key).
    for (const who of ['a', 'b'] as Who[]) expect((await s.api('GET', `/v1/vms/${own[who].vm}`, { key: key[who] })).status).toBe(200);
  });
});
