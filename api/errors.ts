import type { ErrorRequestHandler, RequestHandler } from 'express';
import { z } from 'zod';

/** An error the client caused or may act on; `field` names the offending input. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly field?: string, readonly details?: unknown) {
    super(message);
  }
}

export const badRequest = (field: string, message: string) => new HttpError(400, `${field}: ${message}`, field);
export const notFound = (what: string, field: string) => new HttpError(404, `${what} not found`, field);
export const forbidden = (message: string, field?: string) => new HttpError(403, message, field);
export const conflict = (message: string, field?: string) => new HttpError(409, message, field);

/** Turns a zod failure on one part of the request into a 400 naming the first bad field. */
export function fromZod(part: 'body' | 'query' | 'params', err: z.ZodError): HttpError {
  const issues = err.issues.map((i) => ({ field: [part, ...i.path].join('.'), message: i.message }));
  const first = issues[0] ?? { field: part, message: 'invalid' };
  return new HttpError(400, `${first.field}: ${first.message}`, first.field, issues);
}

export const notFoundRoute: RequestHandler = (req, _res, next) => next(new HttpError(404, `no route ${req.method} ${req.path}`, 'path'));

/** Every error leaves as JSON: { error: { status, message, field, details } }. */
export const errorHandler: ErrorRequestHandler = (err, _req, res, _next) => {
  let e: HttpError;
  if (err instanceof HttpError) e = err;
  else if (err?.type === 'entity.parse.failed') e = new HttpError(400, 'body: malformed JSON', 'body');
  else if (err?.type === 'entity.too.large') e = new HttpError(413, 'body: too large', 'body');
  else {
    console.error(err);
    e = new HttpError(500, 'internal error');
  }
  res.status(e.status).json({ error: { status: e.status, message: e.message, field: e.field, details: e.details } });
};
