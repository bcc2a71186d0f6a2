import fc from 'fast-check';
import type { Express } from 'express';
import { createApp } from '../../api/app';
import { Stack, startStack } from '../helpers/stack';

/**
 * Issue 9's acceptance: every route of the API, driven with generated bad input (params, query, body,
 * headers), answers below 500 with the JSON error shape, and nothing is created. Routes are read from the
 * app's routers, so a new route is fuzzed without touching this file. Bounded: RUNS_PER_ROUTE requests per
 * route (a few hundred in all), with a fixed seed, so a failure is reproducible.
 */
const RUNS_PER_ROUTE = 8;
const SEED = 9_2026;

interface Route { method: string; path: string }

/** Every method+path the app answers, by walking its routers (Express 5 / router 2 layers). */
function routesOf(app: Express): Route[] {
  const out: Route[] = [];
  const walk = (stack: any[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const m of Object.keys(layer.route.methods)) if (m !== '_all') out.push({ method: m.toUpperCase(), path: prefix + layer.route.path });
      } else if (Array.isArray(layer.handle?.stack)) {
        const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
        walk(layer.handle.stack, prefix + mount);
      }
    }
  };
  walk((app as any).router.stack, '');
  return out;
}

// ---- generators of bad input -------------------------------------------------------------------------
// Every request carries at least one defect that makes it bad input whatever else it holds (a NUL, a
// malformed encoding, unparseable or wrong-typed JSON), on top of random params, query and body that may
// or may not be valid: so "nothing is created" is what bad input must give, not luck of the draw.

/** Percent-encodes s; a lone surrogate (which encodeURIComponent refuses) becomes its invalid UTF-8 bytes. */
const enc = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return '%ED%A0%80';
  }
};

const nulString = fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 })).map(([a, b]) => `${a}\u0000${b}`);
/** Strings a field may well refuse (or, for free text, accept). */
const anyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constant(''),
  fc.string({ minLength: 300, maxLength: 5000 }),
  fc.constantFrom('../../etc/passwd', '/etc', '$(reboot)', "'; DROP TABLE vms; --", '\ud800', '{{7*7}}', 'true', 'null', '%zz', 'local', 'global', 'admin'),
  fc.string({ unit: 'grapheme', minLength: 65, maxLength: 200 }),
);
const anyNumber = fc.constantFrom(-1, -0.5, 0, 0.5, 1, 7, 1e308, -1e308, 2 ** 53 + 2, 1e-300, 99999999999);
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  anyString,
  anyNumber,
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(anyString, anyNumber), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 10 }), fc.oneof(anyString, anyNumber), { maxKeys: 3 }),
);
/** Field names the API's schemas use, so a generated body reaches zod's checks and beyond, not only "unknown key". */
const FIELDS = [
  'name', 'description', 'vmId', 'zoneId', 'accountId', 'domainId', 'parentId', 'offeringId', 'repositoryId', 'role', 'label',
  'type', 'address', 'mountOptions', 'value', 'scope', 'scopeId', 'provider', 'requestId', 'quiesce', 'isolated', 'quickRestore',
  'target', 'hostId', 'keepDays', 'retention', 'externalId', 'allowQuickRestore', '__proto__', 'constructor',
];
const anyBody = fc.dictionary(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...FIELDS) }, fc.string({ maxLength: 10 })), anyValue, { maxKeys: 5 });

const QUERY_KEYS = ['page', 'pageSize', 'forced', 'name', 'vmId', 'zoneId', 'accountId', 'hostId', 'status', 'type', 'keyword', 'scope', 'scopeId', 'includeRemoved', 'offeringId', 'state'];
const queryValue = fc.oneof(
  anyString.map(enc),
  fc.constantFrom('-1', '0', '1', '1e400', '99999999999999999999999', '2000000', 'NaN', 'Infinity', '0x10', '1.5', '%zz', 'TRUE', 'true', 'global'),
);
const queryPairs = fc.array(fc.tuple(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...QUERY_KEYS) }, fc.string({ maxLength: 10 }).map(enc)), queryValue), { maxLength: 4 });

/** The defect that makes the request bad input. */
const defect = fc.oneof(
  fc.record({ kind: fc.constant('nul-in-body' as const), field: fc.constantFrom(...FIELDS.slice(0, -2)), value: nulString }),
  fc.record({ kind: fc.constant('nul-in-query' as const), key: fc.constantFrom(...QUERY_KEYS), value: nulString.map(enc) }),
  fc.record({ kind: fc.constant('nul-in-path' as const), value: nulString.map(enc) }),
  fc.record({ kind: fc.constant('bad-percent-in-path' as const), value: fc.constantFrom('%zz', '%', '%E0%A4%A', '%ED%A0%80', 'a%2') }),
  fc.record({ kind: fc.constant('bad-json' as const), body: fc.constantFrom('{"name": "x",', '{name: 1}', "{'a':1}", '[1,]', '{"a":1}}', '\u0000') }),
  fc.record({ kind: fc.constant('wrong-json' as const), body: fc.constantFrom('"a string"', '12', 'true', 'null', '[]', '[{"name":"x"}]') }),
  fc.record({ kind: fc.constant('bad-charset' as const), charset: fc.constantFrom('klingon', 'utf-7', 'ebcdic', 'utf-32be') }),
  fc.record({ kind: fc.constant('bad-encoding' as const), encoding: fc.constantFrom('bogus', 'gzip', 'deflate', 'br', 'gzip, bogus') }),
  fc.constant({ kind: 'too-large' as const }),
);
/** A path segment: an id that names something, one that names nothing, or something that is not an id at all. */
const segment = (knownIds: string[]) =>
  fc.oneof(fc.constantFrom(...knownIds), fc.uuid(), anyString.map(enc), fc.constantFrom('..', '%2e%2e', 'backup.framework.enabled', 'nas', 'kboss'));
const credentials = fc.oneof({ weight: 6, arbitrary: fc.constant('admin' as const) }, fc.constantFrom('none' as const, 'bogus' as const));

/** The method, url, headers and body bytes of one generated request to `route`. */
function requestFor(route: Route, knownIds: string[]) {
  return fc
    .record({ segments: fc.array(segment(knownIds), { minLength: 4, maxLength: 4 }), query: queryPairs, body: anyBody, defect, who: credentials })
    .map(({ segments, query, body, defect: d, who }) => {
      const inPath = d.kind === 'nul-in-path' || d.kind === 'bad-percent-in-path' ? d.value : undefined;
      let n = 0;
      // The first param carries the path defect; a route without params gets it as an extra segment (no such route).
      let path = route.path.replace(/:[A-Za-z_]+/g, () => (n++ === 0 && inPath !== undefined ? inPath : segments[n - 1]));
      if (inPath !== undefined && n === 0) path += `/${inPath}`;
      const pairs = [...query];
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      let bytes: string | undefined = JSON.stringify(body);
      if (d.kind === 'nul-in-body') bytes = JSON.stringify({ ...body, [d.field]: d.value });
      if (d.kind === 'nul-in-query') pairs.push([d.key, d.value]);
      if (d.kind === 'bad-json' || d.kind === 'wrong-json') bytes = d.body;
      if (d.kind === 'bad-charset') headers['content-type'] = `application/json; charset=${d.charset}`;
      if (d.kind === 'bad-encoding') headers['content-encoding'] = d.encoding;
      if (d.kind === 'too-large') bytes = JSON.stringify({ ...body, name: 'x'.repeat(1_100_000) });
      if (who === 'admin') headers.authorization = 'admin';
      if (who === 'bogus') headers.authorization = 'Bearer bf_not_a_key';
      // A body on a GET is dropped by fetch: GET routes get their defect in the path or the query instead.
      if (route.method === 'GET' && !['nul-in-query', 'nul-in-path', 'bad-percent-in-path'].includes(d.kind)) pairs.push(['name', enc('\u0000')]);
      const url = path + (pairs.length ? '?' + pairs.map(([k, v]) => `${k}=${v}`).join('&') : '');
      return { method: route.method, url, headers, body: route.method === 'GET' ? undefined : bytes, defect: d.kind };
    });
}

describe('fuzz: generated bad input on every route', () => {
  let s: Stack;
  let routes: Route[];
  let knownIds: string[];
  const TABLES = ['domains', 'accounts', 'api_keys', 'zones', 'hosts', 'vms', 'vm_disks', 'settings', 'backup_repositories', 'backup_offerings', 'backups', 'backup_disks', 'restores', 'vm_locks'];
  const rowCounts = async () => {
    const out: Record<string, number> = {};
    for (const t of TABLES) out[t] = (await s.pool.query(`SELECT count(*)::int AS n FROM ${t}`)).rows[0].n;
    return out;
  };
  /** Workflows other than the hosts' inventory: any operation started by a request. */
  const operations = () => s.client.workflow.count(`WorkflowType != "hostInventoryWorkflow"`).then((c) => c.count);

  beforeAll(async () => {
    s = await startStack();
    routes = routesOf(createApp({ pool: s.pool, temporal: s.client }));
    // Ids that name real rows, so generated requests also get past "not found" into the routes' work.
    const zone = (await s.pool.query(`SELECT zone_id FROM hosts WHERE id = $1`, [s.facts.id])).rows[0].zone_id;
    const admin = (await s.pool.query(`SELECT id FROM accounts WHERE name = 'admin'`)).rows[0].id;
    knownIds = [s.facts.id, zone, admin, '00000000-0000-0000-0000-000000000001'];
  });
  afterAll(async () => {
    await s?.stop();
  });

  test('the route list is read from the app', () => {
    // Spot checks that the walk found the mounted routers, not only the top level.
    for (const r of ['GET /health', 'POST /v1/backups', 'GET /v1/vms/:id', 'PUT /v1/settings/:name', 'POST /v1/backups/:id/create-vm', 'PATCH /v1/backup-offerings/:id']) {
      expect(routes.map((x) => `${x.method} ${x.path}`)).toContain(r);
    }
  });

  test('no 5xx, every error is the JSON shape, and nothing is created', async () => {
    const before = await rowCounts();
    const opsBefore = await operations();
    const failures: string[] = [];
    let sent = 0;
    for (const [i, route] of routes.entries()) {
      await fc.assert(
        fc.asyncProperty(requestFor(route, knownIds), async (r) => {
          if (r.headers.authorization === 'admin') r.headers.authorization = `Bearer ${s.adminKey}`;
          const what = `${r.method} ${r.url.slice(0, 200)} (${r.defect}) [${r.body?.slice(0, 200)}]`;
          sent++;
          let res: Response;
          let text: string;
          try {
            res = await fetch(s.apiUrl + r.url, { method: r.method, headers: r.headers, body: r.body });
            text = await res.text();
          } catch (e) {
            failures.push(`${what} -> no answer: ${e} ${(e as any)?.cause ?? ''}`);
            return false;
          }
          let body: any;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            body = text;
          }
          const shapeOk = res.status < 400 || (body?.error?.status === res.status && typeof body.error.message === 'string');
          if (res.status >= 500 || !shapeOk) {
            failures.push(`${what} -> ${res.status} ${text.slice(0, 300)}`);
            return false;
          }
          return true;
        }),
        { seed: SEED + i, numRuns: RUNS_PER_ROUTE, endOnFailure: true },
      ).catch((e) => {
        // A failing request is already in `failures` (all are reported at once below); anything else is a broken test.
        if (!failures.length) throw e;
      });
    }
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(routes.length * RUNS_PER_ROUTE);
    expect(await rowCounts()).toEqual(before);
    expect(await operations()).toBe(opsBefore);
  });
});
