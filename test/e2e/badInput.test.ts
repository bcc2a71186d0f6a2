import { gzipSync } from 'node:zlib';
import { request } from 'node:http';
import { enrol, KbossZone, setupKbossZone } from '../helpers/backups';
import { Stack, startStack } from '../helpers/stack';
import { createTestVm, destroyTestVm, TestVm } from '../helpers/vm';

/** Issue 9, items 8-10: bad input is the client's error (4xx, JSON naming the field) and changes nothing. */
describe('bad input gets a 4xx JSON error, never a 500', () => {
  let s: Stack;
  let kb: KbossZone;
  let vm: TestVm;

  /** Rows of the tables a request could add to. */
  const counts = async () =>
    (await s.pool.query(
      `SELECT (SELECT count(*) FROM backups)::int AS backups, (SELECT count(*) FROM domains)::int AS domains,
              (SELECT count(*) FROM accounts)::int AS accounts, (SELECT count(*) FROM backup_offerings)::int AS offerings,
              (SELECT count(*) FROM backup_repositories)::int AS repositories, (SELECT count(*) FROM settings)::int AS settings`,
    )).rows[0];

  /** A request with full control of its headers and bytes; answers status, headers and the parsed JSON body. */
  const raw = async (method: string, path: string, o: { headers?: Record<string, string>; body?: Buffer | string } = {}) => {
    const res = await fetch(s.apiUrl + path, { method, headers: { authorization: `Bearer ${s.adminKey}`, ...o.headers }, body: o.body });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: text ? JSON.parse(text) : undefined };
  };

  /** Expects the JSON error shape with this status and field, and that nothing was added. */
  const refused = async (run: () => Promise<{ status: number; body: any }>, status: number, field: string) => {
    const before = await counts();
    const r = await run();
    expect({ status: r.status, error: r.body?.error }).toEqual({ status, error: expect.objectContaining({ status, field, message: expect.any(String) }) });
    expect(await counts()).toEqual(before);
    return r.body.error;
  };

  beforeAll(async () => {
    s = await startStack();
    kb = await setupKbossZone(s);
    vm = await createTestVm({ start: false });
    await enrol(s, vm.uuid, kb.offeringId);
  });
  afterAll(async () => {
    if (vm) await destroyTestVm(vm).catch(() => undefined);
    kb?.cleanup();
    await s?.stop();
  });

  describe('item 8: NUL characters are refused in one place, naming the field', () => {
    test('a backup name with NUL: 400 body.name, and no backup is started', async () => {
      const e = await refused(() => s.api('POST', '/v1/backups', { body: { vmId: vm.uuid, name: 'nightly\u0000' } }), 400, 'body.name');
      expect(e.message).toMatch(/NUL/);
      expect((await s.pool.query(`SELECT count(*)::int AS n FROM backups WHERE vm_id = $1`, [vm.uuid])).rows[0].n).toBe(0);
    });

    test('a description, a nested key and a label with NUL', async () => {
      await refused(() => s.api('POST', '/v1/backups', { body: { vmId: vm.uuid, description: 'a\u0000b' } }), 400, 'body.description');
      await refused(() => s.api('POST', '/v1/domains', { body: { name: 'ok', ['x\u0000y']: 1 } }), 400, 'body.x\u0000y');
      await refused(() => s.api('PUT', '/v1/settings/backup.framework.enabled', { body: { scope: 'global', value: { deep: ['a', '\u0000'] } } }), 400, 'body.value.deep.1');
      const acct = (await s.api('POST', '/v1/accounts', { body: { name: `nul-${Date.now()}`, role: 'user' } })).body;
      await refused(() => s.api('POST', `/v1/accounts/${acct.id}/keys`, { body: { label: 'ci\u0000' } }), 400, 'body.label');
    });

    test('query filters and path parameters with NUL: 400, not a 500 from PostgreSQL', async () => {
      await refused(() => s.api('GET', '/v1/vms?name=a%00b'), 400, 'query.name');
      await refused(() => s.api('GET', '/v1/settings?keyword=%00'), 400, 'query.keyword');
      await refused(() => s.api('GET', '/v1/settings/backup.framework%00.enabled'), 400, 'path');
      await refused(() => s.api('GET', '/v1/backup-providers/nas%00'), 400, 'path');
    });
  });

  describe('item 9: malformed encodings are 400/415, and the error keeps the status it carries', () => {
    test('a malformed percent-encoding in a path: 400 naming the path', async () => {
      await refused(() => raw('GET', '/v1/vms/%zz'), 400, 'path');
      await refused(() => raw('GET', '/v1/backups/%E0%A4%A'), 400, 'path');
    });

    test('a JSON body in an unknown charset: 415 naming the content type', async () => {
      const r = await refused(
        () => raw('POST', '/v1/domains', { headers: { 'content-type': 'application/json; charset=klingon' }, body: '{"name":"x"}' }),
        415, 'headers.content-type',
      );
      expect(r.message).toMatch(/charset/i);
    });

    test('an unknown or broken Content-Encoding: 415 / 400', async () => {
      const json = { 'content-type': 'application/json' };
      await refused(() => raw('POST', '/v1/domains', { headers: { ...json, 'content-encoding': 'bogus' }, body: '{"name":"x"}' }), 415, 'headers.content-encoding');
      await refused(() => raw('POST', '/v1/domains', { headers: { ...json, 'content-encoding': 'gzip' }, body: 'not gzip at all' }), 400, 'body');
      // A well-formed gzip body is fine: the refusal above is about the bytes, not the encoding.
      const ok = await raw('POST', '/v1/domains', { headers: { ...json, 'content-encoding': 'gzip' }, body: gzipSync(`{"name":"gz${Date.now()}"}`) });
      expect(ok.status).toBe(201);
    });
  });

  describe('item 10: a too-large request line gets a JSON body like every other error', () => {
    /** node:http, so nothing between the test and the server rewrites or retries the request. */
    const get = (path: string) =>
      new Promise<{ status: number; type: string; body: any }>((resolve, reject) => {
        const req = request(s.apiUrl + path, { headers: { authorization: `Bearer ${s.adminKey}` } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: text ? JSON.parse(text) : undefined }));
        });
        req.on('error', reject);
        req.end();
      });

    test('a 1 MB query string: 431 with the JSON error naming the query', async () => {
      const before = await counts();
      const r = await get(`/v1/vms?name=${'a'.repeat(1024 * 1024)}`);
      expect(r.status).toBe(431);
      expect(r.type).toMatch(/application\/json/);
      expect(r.body.error).toEqual(expect.objectContaining({ status: 431, field: 'query', message: expect.stringMatching(/too large/) }));
      expect(await counts()).toEqual(before);
    });

    test('too many header bytes: 431 naming the headers; the server keeps serving', async () => {
      const r = await fetch(s.apiUrl + '/v1/vms', { headers: { authorization: `Bearer ${s.adminKey}`, 'x-filler': 'b'.repeat(64 * 1024) } });
      expect(r.status).toBe(431);
      expect(((await r.json()) as any).error).toEqual(expect.objectContaining({ status: 431, field: 'headers' }));
      expect((await s.api('GET', '/v1/vms')).status).toBe(200);
    });
  });
});
