/**
 * The OpenAPI 3.1 document, built from the zod schemas the routes validate with (api/openapi/routes/*).
 *
 * zod-openapi (v5) rather than @asteasolutions/zod-to-openapi: it takes the plain zod 4 schemas as they are
 * (no global `extendZodWithOpenApi`, no registry to keep beside the schemas), builds on zod 4's own JSON
 * Schema output, and describes a request schema as its input (defaults, coercions, transforms of query flags)
 * and a response as its output, which is what a client sends and gets.
 */
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponsesObject } from 'zod-openapi';
import type { RouteDoc } from './registry';
import { ROUTES } from './routes';
import { ErrorResponse } from './responses';

/** `/v1/backups/:id` -> `/v1/backups/{id}`. */
export const openApiPath = (expressPath: string) => expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

const ERRORS: Record<number, string> = {
  400: 'Bad input: the field named in error.field, nothing changed',
  401: 'No API key, or an unknown, revoked or disabled one',
  403: 'Not allowed (root admins only, or a dedicated offering)',
  404: "Not found, or another account's",
  409: 'Refused in the current state (in use, running, protected, name taken, …)',
  503: 'PostgreSQL or Temporal cannot be reached (field database or temporal); Retry-After is set',
};

const errorResponse = (status: number) => ({ description: ERRORS[status], content: { 'application/json': { schema: ErrorResponse } } });

/** The errors a route can answer with, by what it takes and who may call it. */
function errorStatuses(r: RouteDoc): number[] {
  if (r.access === 'public') return r.path === '/health' ? [503] : [];
  const out = [400, 401];
  if (r.access === 'admin' || r.params || r.method !== 'get') out.push(403);
  if (r.params) out.push(404);
  if (r.method !== 'get') out.push(409);
  return [...out, 503];
}

function operation(r: RouteDoc): ZodOpenApiOperationObject {
  const responses: ZodOpenApiResponsesObject = {
    [String(r.status)]: {
      description: r.status === 204 ? 'Done, no content' : r.status === 202 ? 'Accepted: the workflow runs' : 'OK',
      ...(r.response ? { content: { [r.contentType ?? 'application/json']: { schema: r.response } } } : {}),
    },
  };
  for (const s of errorStatuses(r)) Object.assign(responses, { [s]: errorResponse(s) });
  return {
    operationId: r.operationId,
    summary: r.summary,
    description: [
      r.command ? `CloudStack command: \`${r.command}\`.` : undefined,
      r.access === 'admin' ? 'Root admins only.' : r.access === 'public' ? 'No API key needed.' : undefined,
    ].filter(Boolean).join(' ') || undefined,
    tags: [r.tag],
    ...(r.command ? { 'x-cloudstack-command': r.command } : {}),
    'x-access': r.access,
    ...(r.access === 'public' ? { security: [] } : {}),
    ...(r.params || r.query ? { requestParams: { ...(r.params ? { path: r.params } : {}), ...(r.query ? { query: r.query } : {}) } } : {}),
    ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: r.body } } } } : {}),
    responses,
  };
}

export function buildOpenApiDocument(routes: RouteDoc[] = ROUTES) {
  const paths: ZodOpenApiPathsObject = {};
  for (const r of routes) {
    const p = (paths[openApiPath(r.path)] ??= {});
    if (p[r.method]) throw new Error(`route described twice: ${r.method.toUpperCase()} ${r.path}`);
    p[r.method] = operation(r);
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Backflow API',
      version: '1',
      description:
        "Backup and recovery for KVM virtual machines; every operation is a durable Temporal workflow. Routes under /v1 need an API key: `Authorization: Bearer <key>` or `X-Api-Key: <key>`. Every error is `{error: {status, message, field}}`.",
    },
    servers: [{ url: '/' }],
    security: [{ bearerKey: [] }, { apiKeyHeader: [] }],
    components: {
      securitySchemes: {
        bearerKey: { type: 'http', scheme: 'bearer', description: 'An API key (bf_…) as a bearer token' },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'The same API key in X-Api-Key' },
      },
    },
    paths,
  });
}
