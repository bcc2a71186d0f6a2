import { randomUUID } from 'node:crypto';
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

const nulString = fc.tuple(fc.string(), fc.string()).map(([a, b]) => `${a}\u0000${b}`);
/** Strings no schema accepts where a name, id or enum is wanted. */
const badString = fc.oneof(
  nulString,
  fc.constant(''),
  fc.string({ minLength: 300, maxLength: 5000 }),
  fc.constantFrom('../../etc/passwd', '/etc', '$(reboot)', "'; DROP TABLE vms; --", '\ud800', '{{7*7}}', 'true', 'null', '%zz'),
  fc.string({ unit: 'grapheme', minLength: 65, maxLength: 200 }),
);
const badNumber = fc.constantFrom(-1, -0.5, 0.5, 1e308, -1e308, 2 ** 53 + 2, 1e-300, 99999999999);
/** A value of the wrong kind for any field of any route. */
const badValue: fc.Arbitrary<unknown> = fc.oneof(
  badString,
  badNumber,
  fc.constant(null),
  fc.array(fc.oneof(badString, badNumber), { maxLength: 3 }),
  fc.dictionary(fc.oneof(fc.string(), nulString), fc.oneof(badString, badNumber), { maxKeys: 3 }),
);
/** Field names the API's schemas use, so a generated body reaches zod's checks, not only "unknown key". */
const FIELDS = [
  'name', 'description', 'vmId', 'zoneId', 'accountId', 'domainId', 'parentId', 'offeringId', 'repositoryId', 'role', 'label',
  'type', 'address', 'mountOptions', 'value', 'scope', 'scopeId', 'provider', 'requestId', 'quiesce', 'isolated', 'quickRestore',
  'target', 'hostId', 'keepDays', 'retention', 'externalId', 'allowQuickRestore', 'page', 'pageSize', '__proto__', 'constructor',
];
const badBody = fc.oneof(
  fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), fc.string()), badValue, { minKeys: 1, maxKeys: 5 }),
  fc.oneof(badNumber, badString, fc.constant(null), fc.array(badValue, { maxLength: 3 })),
);
/** A body's bytes and headers: JSON of a bad body, or bytes/headers the parsers must refuse. */
type Payload = { headers: Record<string, string>; body: string };
const badPayload: fc.Arbitrary<Payload> = fc.oneof(
  { weight: 4, arbitrary: badBody.map((b) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) })) },
  fc.constantFrom<Payload>(
    { headers: { 'content-type': 'application/json' }, body: '{"name": "x",' },
    { headers: { 'content-type': 'application/json' }, body: '{"name":"\\u0000"}' },
    { headers: { 'content-type': 'application/json; charset=klingon' }, body: '{"name":"x"}' },
    { headers: { 'content-type': 'application/json', 'content-encoding': 'br, bogus' }, body: '{"name":"x"}' },
    { headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: 'not gzip' },
    { headers: { 'content-type': 'text/plain' }, body: 'name=x' },
    { headers: { 'content-type': 'application/json' }, body: '['.repeat(5000) + ']'.repeat(5000) },
    { headers: { 'content-type': 'application/json' }, body: `{"name":"${'x'.repeat(1_100_000)}"}` },
  ),
);
/** A path segment: a well-formed id that names nothing, or something that is not an id at all. */
const badSegment = fc.oneof(
  fc.constant(null).map(() => randomUUID()),
  badString.map(encodeURIComponent),
  fc.constantFrom('%zz', '%', '%E0%A4%A', '%00', '..', '%2e%2e', 'backup.framework.enabled%00', 'nas'),
);
const QUERY_KEYS = ['page', 'pageSize', 'forced', 'name', 'vmId', 'zoneId', 'accountId', 'hostId', 'status', 'type', 'keyword', 'scope', 'scopeId', 'includeRemoved', 'offeringId', 'state'];
const badQueryValue = fc.oneof(
  badString.map(encodeURIComponent),
  fc.constantFrom('-1', '0', '1e400', '99999999999999999999999', 'NaN', 'Infinity', '0x10', '1.5', '%00', '%zz', 'true%00', 'TRUE'),
);
const badQuery = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), fc.string().map(encodeURIComponent)), badQueryValue), { maxLength: 4 })
  .map((pairs) => (pairs.length ? '?' + pairs.map(([k, v]) => `${k}=${v}`).join('&') : ''));
const credentials = fc.oneof({ weight: 6, arbitrary: fc.constant('admin' as const) }, fc.constantFrom('none' as const, 'bogus' as const));

describe('fuzz: generated bad input on every route', () => {
  let s: Stack;
  let routes: Route[];
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
      const request = fc.record({
        segments: fc.array(badSegment, { minLength: 8, maxLength: 8 }),
        query: badQuery,
        payload: fc.option(badPayload, { nil: undefined }),
        who: credentials,
      });
      await fc.assert(
        fc.asyncProperty(request, async ({ segments, query, payload, who }) => {
          let n = 0;
          const url = route.path.replace(/:[A-Za-z_]+/g, () => segments[n++]) + query;
          const headers: Record<string, string> = { ...(payload?.headers ?? {}) };
          if (who === 'admin') headers.authorization = `Bearer ${s.adminKey}`;
          if (who === 'bogus') headers.authorization = 'Bearer bf_not_a_key';
          const withBody = payload !== undefined && route.method !== 'GET';
          sent++;
          const res = await fetch(s.apiUrl + url, { method: route.method, headers, body: withBody ? payload.body : undefined });
          const text = await res.text();
          let body: any;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            body = text;
          }
          const shapeOk = res.status < 400 || (body?.error?.status === res.status && typeof body.error.message === 'string');
          if (res.status >= 500 || !shapeOk) {
            failures.push(`${route.method} ${url.slice(0, 200)} [${JSON.stringify(payload)?.slice(0, 200)}] -> ${res.status} ${text.slice(0, 300)}`);
            return false;
          }
          return true;
        }),
        { seed: SEED + i, numRuns: RUNS_PER_ROUTE, endOnFailure: true },
      ).catch(() => undefined); // gathered in `failures`, reported all at once below
    }
    expect(sent).toBeGreaterThanOrEqual(routes.length * RUNS_PER_ROUTE);
    expect(failures).toEqual([]);
    expect(await rowCounts()).toEqual(before);
    expect(await operations()).toBe(opsBefore);
  });
});
