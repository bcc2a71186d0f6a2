import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { chromium } from 'playwright-core';
import type { z } from 'zod';
import { openApiPath } from '../../api/openapi/document';
import type { RouteDoc } from '../../api/openapi/registry';
import { ROUTES } from '../../api/openapi/routes';
import { REPO } from '../helpers/paths';
import { enumerateRoutes } from '../helpers/routes';
import { Stack, startStack } from '../helpers/stack';

const exec = promisify(execFile);
const bin = (name: string) => path.join(REPO, 'node_modules/.bin', name);
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/** Issue 14: the OpenAPI document is built from the routes' own zod schemas, covers every route, and is valid 3.1. */
describe('OpenAPI document and docs page, from the running API', () => {
  let s: Stack;
  let doc: any;
  let tmp: string;

  beforeAll(async () => {
    s = await startStack();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'bf-openapi-'));
    // No key: the document describes the API and is public.
    const res = await fetch(`${s.apiUrl}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    doc = await res.json();
  });
  afterAll(async () => {
    await s?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('every Express route is in the document, and every documented operation is an Express route', () => {
    const express = enumerateRoutes().map((r) => {
      const [method, p] = r.split(' ');
      return `${method} ${openApiPath(p)}`;
    });
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, item]) =>
      METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(express.filter((r) => !documented.includes(r))).toEqual([]);
    expect(documented.filter((r) => !express.includes(r))).toEqual([]);
    expect(documented.length).toBe(express.length);
  });

  test('it validates as OpenAPI 3.1 (@seriousme/openapi-schema-validator)', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const file = path.join(tmp, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    const { stdout } = await exec(bin('validate-api'), [file]);
    expect(JSON.parse(stdout)).toEqual({ valid: true });
    // The validator is not a rubber stamp: the same document with a parameter in the body (OpenAPI 2's way) fails.
    const broken = structuredClone(doc);
    broken.paths['/v1/backups/{id}'].get.parameters[0].in = 'body';
    writeFileSync(file, JSON.stringify(broken));
    const bad = await exec(bin('validate-api'), [file]).then(() => undefined, (e) => JSON.parse(e.stdout));
    expect(bad?.valid).toBe(false);
  });

  test('each operation has its request schemas, the error shape, auth and its CloudStack command', () => {
    const create = doc.paths['/v1/backups'].post;
    expect(create['x-cloudstack-command']).toBe('createBackup');
    expect(create.requestBody.content['application/json'].schema).toMatchObject({
      type: 'object', required: ['vmId'], additionalProperties: false, properties: { vmId: { type: 'string' }, quiesce: { type: 'boolean' }, isolated: { type: 'boolean' } },
    });
    expect(create.responses['202'].content['application/json'].schema.$ref).toBe('#/components/schemas/OperationStarted');
    expect(create.responses['400'].content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
    expect(doc.components.schemas.Error).toMatchObject({ required: ['error'], properties: { error: { required: ['status', 'message'] } } });
    expect(doc.components.schemas.Error.properties.error.properties).toHaveProperty('field');
    const list = doc.paths['/v1/backups'].get.parameters.map((p: any) => `${p.in}:${p.name}`);
    expect(list).toEqual(expect.arrayContaining(['query:vmId', 'query:status', 'query:page', 'query:pageSize']));
    expect(doc.paths['/v1/backups/{id}/restore'].post.parameters).toEqual([expect.objectContaining({ in: 'path', name: 'id', required: true })]);
    // Auth: the API key as a bearer token or X-Api-Key on /v1; none on /health and the document itself.
    expect(doc.components.securitySchemes).toMatchObject({ bearerKey: { type: 'http', scheme: 'bearer' }, apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-Api-Key' } });
    expect(doc.security).toEqual([{ bearerKey: [] }, { apiKeyHeader: [] }]);
    expect(doc.paths['/health'].get.security).toEqual([]);
    expect(doc.paths['/openapi.json'].get.security).toEqual([]);
    expect(create.responses).toHaveProperty('401');
    // Every operation: a unique operationId, a success response, and the error shape on each of its 4xx/5xx.
    const ops = Object.values(doc.paths as Record<string, Record<string, any>>).flatMap((item) => METHODS.map((m) => item[m]).filter(Boolean));
    expect(new Set(ops.map((o) => o.operationId)).size).toBe(ops.length);
    for (const o of ops) {
      const codes = Object.keys(o.responses);
      expect(codes.some((c) => c.startsWith('2'))).toBe(true);
      for (const c of codes.filter((c) => Number(c) >= 400)) expect(o.responses[c].content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
    }
    // The README's CloudStack commands are all there.
    const commands = new Set(ops.map((o) => o['x-cloudstack-command']).filter(Boolean));
    for (const c of ['createBackup', 'listBackups', 'deleteBackup', 'restoreBackup', 'restoreVolumeFromBackupAndAttachToVM', 'createVMFromBackup',
      'createBackupSchedule', 'listBackupSchedule', 'listBackupServiceJobs', 'addBackupRepository', 'createBackupOffering', 'listConfigurations']) {
      expect(commands).toContain(c);
    }
  });

  test('the documented request schemas are the ones the routes validate with: the API refuses bad input exactly as they do', async () => {
    // For every route and each part it takes, one request whose other parts are valid and this part is bad:
    // the field the API names must be the first issue of the documented schema on the same input.
    const firstIssue = (schema: z.ZodType, input: unknown, part: string) => {
      const r = schema.safeParse(input);
      return r.success ? undefined : [part, ...r.error.issues[0].path].join('.');
    };
    const validParam = (route: RouteDoc, key: string) =>
      route.path.startsWith('/v1/settings/') ? 'backup.chain.size' : route.path.startsWith('/v1/backup-providers/') ? 'kboss' : randomUUID();
    const url = (route: RouteDoc, params: Record<string, string>, query?: Record<string, string>) =>
      route.path.replace(/:([A-Za-z]+)/g, (_m, k) => encodeURIComponent(params[k])) + (query ? `?${new URLSearchParams(query)}` : '');
    const mismatches: string[] = [];
    let checked = 0;
    for (const route of ROUTES.filter((r) => r.access !== 'public')) {
      const keys = Object.keys(route.params?.shape ?? {});
      const good = Object.fromEntries(keys.map((k) => [k, validParam(route, k)]));
      const cases: { part: string; schema: z.ZodType; input: Record<string, string>; req: { url: string; body?: unknown } }[] = [];
      if (route.params) {
        const bad = Object.fromEntries(keys.map((k) => [k, '!!']));
        cases.push({ part: 'params', schema: route.params, input: bad, req: { url: url(route, bad), body: route.body ? {} : undefined } });
      }
      if (route.query) {
        const bad = Object.fromEntries(Object.keys(route.query.shape).map((k) => [k, '!!']));
        cases.push({ part: 'query', schema: route.query, input: bad, req: { url: url(route, good, bad) } });
      }
      if (route.body) cases.push({ part: 'body', schema: route.body, input: { '!!': '!!' }, req: { url: url(route, good), body: { '!!': '!!' } } });
      for (const c of cases) {
        const expected = firstIssue(c.schema, c.input, c.part);
        if (!expected) continue;
        const r = await s.api(route.method.toUpperCase(), c.req.url, { body: c.req.body });
        checked++;
        if (r.status !== 400 || r.body?.error?.field !== expected) mismatches.push(`${route.method} ${c.req.url}: expected 400 ${expected}, got ${r.status} ${r.body?.error?.field}`);
      }
    }
    expect(mismatches).toEqual([]);
    expect(checked).toBeGreaterThan(60);
  });

  test('the generated client (cli/api/schema.d.ts) is up to date with the document', async () => {
    const file = path.join(tmp, 'openapi.json');
    writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
    const out = path.join(tmp, 'schema.d.ts');
    await exec(bin('openapi-typescript'), [file, '-o', out]);
    // If this fails: npm run gen:client, and commit cli/api/schema.d.ts.
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(path.join(REPO, 'cli/api/schema.d.ts'), 'utf8'));
  });

  test('the docs page (Swagger UI from npm, no CDN) loads in headless Chromium and shows the backup routes', async () => {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 2400 } });
      const requested: string[] = [];
      page.on('request', (req) => requested.push(req.url()));
      const res = await page.goto(`${s.apiUrl}/docs`);
      expect(res?.status()).toBe(200);
      await page.getByText('/v1/backups/{id}/restore', { exact: true }).first().waitFor({ timeout: 60_000 });
      const text = await page.locator('#swagger-ui').innerText();
      for (const p of ['/v1/backups', '/v1/backups/{id}', '/v1/backups/{id}/restore-volume', '/v1/backups/{id}/create-vm', 'createBackup', 'Backflow API']) {
        expect(text).toContain(p);
      }
      // Everything came from the API itself.
      expect(requested.filter((u) => !u.startsWith(s.apiUrl))).toEqual([]);
      const shot = path.join(REPO, '.state/screenshots/openapi-docs.png');
      mkdirSync(path.dirname(shot), { recursive: true });
      await page.screenshot({ path: shot });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
    } finally {
      await browser.close();
    }
  });
});
