import type { z } from 'zod';

/** Who may call a route: `public` needs no key; `admin` is root admins only; `any` is every key (users see their own). */
export type Access = 'public' | 'any' | 'admin';

/**
 * One route of the API as the OpenAPI document describes it. The schemas are the very objects the route
 * passes to `parse(…)` (api/validate.ts), so what is validated and what is documented cannot differ.
 */
export interface RouteDoc {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express syntax, with its mount prefix: `/v1/backups/:id`. */
  path: string;
  /** Unique; the CLI and the generated client name operations by it. */
  operationId: string;
  summary: string;
  /** The CloudStack command the route stands for, when there is one (README's route table). */
  command?: string;
  access: Access;
  tag: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** The success body's media type when it is not JSON (the metrics' text, a screenshot's PNG). */
  contentType?: string;
  /** The success status and its body (omitted: an object this document does not detail). */
  status: 200 | 201 | 202 | 204;
  response?: z.ZodType;
}

/** A route's description; `status` defaults to 200 and `tag` to the group's. */
export const routesOf = (tag: string, routes: (Omit<RouteDoc, 'tag' | 'status'> & { status?: RouteDoc['status'] })[]): RouteDoc[] =>
  routes.map((r) => ({ status: 200, ...r, tag }));
