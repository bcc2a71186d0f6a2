import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { checkBackupAllowed } from '../../api/backupPolicy';
import type { Caller } from '../../api/auth';
import { HttpError } from '../../api/errors';
import { eventually, type Stack, startStack } from './stack';

/**
 * The backup framework's world for one test file (issue 3) on the real stack: the test host's zone (nas)
 * and two more zones with a fake host each (kboss, off), domains acme, acme/dev and acme…x, users alice
 * (acme/dev), bob (ROOT) and carol (acme…x) with API keys, and their VMs; plus the request helpers the
 * framework tests share. `frameworkWorld()` registers the beforeAll/afterAll that build and remove it.
 */
export interface User { id: string; key: string; caller: Caller }
type Request = { key?: string; body?: unknown };

export interface FrameworkWorld {
  s: Stack;
  tmp: string;
  suffix: string;
  zone: Record<'nas' | 'kboss' | 'off', { id: string; name: string }>;
  domain: Record<'acme' | 'acmeDev' | 'acmex', string>;
  user: Record<'alice' | 'bob' | 'carol', User>;
  vm: Record<'alice1' | 'alice2' | 'aliceKb' | 'aliceOff' | 'bob1' | 'carol1', string>;
  repo: Record<string, any>;
  offering: Record<string, any>;
  /** Runs the request, expects a 4xx JSON error naming `field`, and that the catalog did not change. */
  refused: (method: string, url: string, opts: Request, status: number, field: string, message?: RegExp | string) => Promise<any>;
  ok: (method: string, url: string, opts?: Request, status?: number) => Promise<any>;
  setSetting: (name: string, scope: string, scopeId: string | null, value: unknown) => Promise<any>;
  /** checkBackupAllowed's refusal as { status, field, message }. */
  policyRefusal: (vmId: string, c: Caller, userDriven?: boolean) => Promise<{ status: number; field?: string; message: string } | undefined>;
}

const ROOT_DOMAIN = '00000000-0000-0000-0000-000000000001';

export function frameworkWorld(): FrameworkWorld {
  const w = { suffix: randomUUID().slice(0, 6), zone: {}, domain: {}, user: {}, vm: {}, repo: {}, offering: {} } as FrameworkWorld;

  /** Everything the framework keeps, to show a refusal changed nothing. */
  const catalog = async () => {
    const q = async (sql: string) => (await w.s.pool.query(sql)).rows;
    return {
      settings: await q(`SELECT name, scope, scope_id, value, updated_at FROM settings ORDER BY name, scope, scope_id`),
      repositories: await q(`SELECT * FROM backup_repositories ORDER BY id`),
      offerings: await q(`SELECT * FROM backup_offerings ORDER BY id`),
      // This test's VMs only: the host's own inventory sync may touch others meanwhile.
      vms: await q(`SELECT id, backup_offering_id, updated_at FROM vms WHERE name LIKE '%-${w.suffix}' ORDER BY id`),
      backups: (await q(`SELECT to_regclass('public.backups') IS NOT NULL AS present`))[0].present
        ? await q(`SELECT id, status FROM backups ORDER BY id`)
        : [],
    };
  };
  w.refused = async (method, url, opts, status, field, message) => {
    const before = await catalog();
    const r = await w.s.api(method, url, opts);
    expect({ url, status: r.status, field: r.body?.error?.field }).toEqual({ url, status, field });
    expect(r.body.error.status).toBe(status);
    if (message) expect(r.body.error.message).toEqual(typeof message === 'string' ? message : expect.stringMatching(message));
    expect(await catalog()).toEqual(before);
    return r.body.error;
  };
  w.ok = async (method, url, opts = {}, status = 200) => {
    const r = await w.s.api(method, url, opts);
    if (r.status !== status) throw new Error(`${method} ${url}: expected ${status}, got ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  w.setSetting = (name, scope, scopeId, value) => w.ok('PUT', `/v1/settings/${name}`, { body: { scope, ...(scopeId ? { scopeId } : {}), value } });
  w.policyRefusal = async (vmId, c, userDriven = true) => {
    try {
      await checkBackupAllowed(w.s.pool, { vmId, caller: c, userDriven });
    } catch (e) {
      if (e instanceof HttpError) return { status: e.status, field: e.field, message: e.message };
      throw e;
    }
    return undefined;
  };

  beforeAll(async () => {
    w.s = await startStack();
    w.tmp = await mkdtemp(path.join(os.tmpdir(), 'bf-framework-'));
    await populate(w);
  });
  afterAll(async () => {
    await w.s?.stop();
    if (w.tmp) await rm(w.tmp, { recursive: true, force: true });
  });
  return w;
}

/** Zones, domains, users and VMs, straight into the catalog or through the API. */
async function populate(w: FrameworkWorld) {
  const { s, suffix, zone, ok } = w;
  // The test host registers itself (and zone-1) through its inventory workflow.
  zone.nas = await eventually(async () => (await s.pool.query(`SELECT z.id, z.name FROM hosts h JOIN zones z ON z.id = h.zone_id WHERE h.id = $1`, [s.facts.id])).rows[0], 120_000);
  // Two more zones, each with a (fake) host of its own, straight into the catalog: the API has no zone creation.
  for (const k of ['kboss', 'off'] as const) {
    const z = (await s.pool.query(`INSERT INTO zones (name) VALUES ($1) RETURNING id, name`, [`zone-${k}-${suffix}`])).rows[0];
    zone[k] = z;
    await s.pool.query(
      `INSERT INTO hosts (id, name, zone_id, task_queue, libvirt_uri, cpus, memory_bytes) VALUES ($1, $2, $3, $4, 'qemu:///system', 1, 1)`,
      [randomUUID(), `host-${k}-${suffix}`, z.id, `host-${k}-${suffix}`],
    );
  }

  const acme = await ok('POST', '/v1/domains', { body: { name: `acme${suffix}` } }, 201);
  const dev = await ok('POST', '/v1/domains', { body: { name: 'dev', parentId: acme.id } }, 201);
  const acmex = await ok('POST', '/v1/domains', { body: { name: `acme${suffix}x` } }, 201);
  Object.assign(w.domain, { acme: acme.id, acmeDev: dev.id, acmex: acmex.id });
  const mkUser = async (name: string, domainId: string): Promise<User> => {
    // ROOT is the default: z.uuid() does not take this id as input.
    const a = await ok('POST', '/v1/accounts', { body: { name: `${name}-${suffix}`, role: 'user', ...(domainId === ROOT_DOMAIN ? {} : { domainId }) } }, 201);
    const k = await ok('POST', `/v1/accounts/${a.id}/keys`, { body: {} }, 201);
    return { id: a.id, key: k.key, caller: { accountId: a.id, accountName: a.name, domainId, role: 'user' } };
  };
  const { user, vm } = w;
  user.alice = await mkUser('alice', dev.id); // in a subdomain of acme
  user.bob = await mkUser('bob', ROOT_DOMAIN);
  user.carol = await mkUser('carol', acmex.id); // a domain whose path only starts like acme's

  const hostOf = async (zoneId: string) => (await s.pool.query(`SELECT id FROM hosts WHERE zone_id = $1 LIMIT 1`, [zoneId])).rows[0].id;
  const mkVm = async (name: string, zoneId: string, accountId: string | null) => {
    const id = randomUUID();
    await s.pool.query(`INSERT INTO vms (id, name, host_id, zone_id, account_id, state) VALUES ($1,$2,$3,$4,$5,'Running')`, [
      id, `${name}-${suffix}`, await hostOf(zoneId), zoneId, accountId,
    ]);
    return id;
  };
  vm.alice1 = await mkVm('alice1', zone.nas.id, user.alice.id);
  vm.alice2 = await mkVm('alice2', zone.nas.id, user.alice.id);
  vm.aliceKb = await mkVm('alice-kb', zone.kboss.id, user.alice.id);
  vm.aliceOff = await mkVm('alice-off', zone.off.id, user.alice.id);
  vm.bob1 = await mkVm('bob1', zone.nas.id, user.bob.id);
  vm.carol1 = await mkVm('carol1', zone.nas.id, user.carol.id);
}

/** One repository of each type in the nas zone (local, nfs, cifs, ceph) and a local one in the kboss zone (kb). */
export async function addRepositories({ ok, zone, tmp, repo }: FrameworkWorld): Promise<void> {
  const add = (body: object) => ok('POST', '/v1/backup-repositories', { body }, 201);
  repo.local = await add({ name: 'local-1', zoneId: zone.nas.id, type: 'local', address: path.join(tmp, 'repo-local'), capacityBytes: 10 * 2 ** 30 });
  repo.nfs = await add({ name: 'nfs-1', zoneId: zone.nas.id, type: 'nfs', address: '10.0.0.5:/export/backups', mountOptions: 'vers=4.1,hard,timeo=600,proto=tcp,noatime' });
  repo.cifs = await add({
    name: 'cifs-1', zoneId: zone.nas.id, type: 'cifs', address: '//fileserver.example.com/backups',
    mountOptions: 'vers=3.0,username=backup,domain=CORP,credentials=/etc/backflow/cifs.cred',
  });
  repo.ceph = await add({ name: 'ceph-1', zoneId: zone.nas.id, type: 'cephfs', address: 'mon1:6789,mon2:6789:/backups', mountOptions: 'name=backflow,secretfile=/etc/ceph/backflow.secret,fs=cephfs' });
  repo.kb = await add({ name: 'kb-local', zoneId: zone.kboss.id, type: 'local', address: path.join(tmp, 'repo-kb') });
}

/** The framework on in the nas zone (provider nas) and the kboss zone (provider kboss). */
export async function enableFramework({ setSetting, zone }: FrameworkWorld): Promise<void> {
  for (const z of [zone.nas, zone.kboss]) await setSetting('backup.framework.enabled', 'zone', z.id, true);
  await setSetting('backup.framework.provider.plugin', 'zone', zone.nas.id, 'nas');
  await setSetting('backup.framework.provider.plugin', 'zone', zone.kboss.id, 'kboss');
}

/** nas offerings imported from repositories: Gold (public, local-1) and Acme SLA (acme only, nfs-1, no user-driven backups). */
export async function importOfferings({ ok, zone, repo, domain, offering }: FrameworkWorld): Promise<void> {
  offering.gold = await ok('POST', '/v1/backup-offerings/import', {
    body: { name: 'Gold', description: 'daily full backups to the local repository', zoneId: zone.nas.id, externalId: repo.local.id },
  }, 201);
  // Dedicated to acme (and so to acme/dev), an SLA offering.
  offering.acme = await ok('POST', '/v1/backup-offerings/import', {
    body: { name: 'Acme SLA', zoneId: zone.nas.id, externalId: repo.nfs.id, allowUserDrivenBackups: false, isPublic: false, domainIds: [domain.acme] },
  }, 201);
}

/** kboss offerings: KBOSS Silver with every feature, KBOSS Plain with none. */
export async function createKbossOfferings({ ok, zone, repo, offering }: FrameworkWorld): Promise<void> {
  offering.kb = await ok('POST', '/v1/backup-offerings', {
    body: {
      name: 'KBOSS Silver', description: 'incremental chains', zoneId: zone.kboss.id, repositoryId: repo.kb.id, compress: true,
      validate: true, validationSteps: ['wait_for_boot', 'screenshot'], allowQuickRestore: true, allowExtractFile: true, backupChainSize: 4,
    },
  }, 201);
  offering.kbPlain = await ok('POST', '/v1/backup-offerings', { body: { name: 'KBOSS Plain', zoneId: zone.kboss.id, repositoryId: repo.kb.id } }, 201);
}
