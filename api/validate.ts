import type { Request } from 'express';
import { z } from 'zod';
import { badRequest, fromZod } from './errors';

/** Parses one part of a request with its schema, or throws a 400 naming the field. */
export function parse<S extends z.ZodType>(schema: S, req: Request, part: 'body' | 'query' | 'params'): z.infer<S> {
  const r = schema.safeParse(part === 'body' ? (req.body ?? {}) : req[part]);
  if (!r.success) throw fromZod(part, r.error);
  return r.data;
}

/** Pages past this are refused: their offset would not fit PostgreSQL's bigint (and nobody pages that far). */
export const MAX_PAGE = 1_000_000;

export const IdParams = z.object({ id: z.guid() });

export const Pagination = z.object({
  page: z.coerce.number().int().min(1).max(MAX_PAGE).default(1),
  pageSize: z.coerce.number().int().min(1).max(500).default(50),
});
export type Page = z.infer<typeof Pagination>;

export const pageSql = (p: Page) => {
  if (p.page > MAX_PAGE) throw badRequest('query.page', `must be at most ${MAX_PAGE}`);
  return { limit: p.pageSize, offset: (p.page - 1) * p.pageSize };
};
export const listResult = <T>(items: T[], count: number, p: Page) => ({ items, count, page: p.page, pageSize: p.pageSize });
