import type { ErrorRequestHandler, RequestHandler } from 'express';
import { z } from 'zod';
import { unavailable } from './unavailable';
import { logger } from '../common/log';

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

/** The field a body-parser or router error is about, by its `type`. */
const FIELD_OF_TYPE: Record<string, string> = {
  'charset.unsupported': 'headers.content-type',
  'encoding.unsupported': 'headers.content-encoding',
  'entity.parse.failed': 'body',
  'entity.too.large': 'body',
  'entity.verify.failed': 'body',
  'request.aborted': 'body',
  'request.size.invalid': 'body',
  'stream.encoding.set': 'body',
};

/** A client error raised by Express or its parsers (err.status 4xx): keeps its status, names the field. */
function fromCarriedStatus(err: any): HttpError | undefined {
  const status = Number(err?.status ?? err?.statusCode);
  if (!Number.isInteger(status) || status < 400 || status > 499) return undefined;
  if (err.type === 'entity.parse.failed') return new HttpError(400, 'body: malformed JSON', 'body');
  if (err.type === 'entity.too.large') return new HttpError(413, 'body: too large', 'body');
  // zlib's errors (Z_DATA_ERROR, ...): a body that does not decode as its Content-Encoding says.
  if (typeof err.code === 'string' && err.code.startsWith('Z_')) return new HttpError(status, 'body: does not decode as its Content-Encoding says', 'body');
  const field = FIELD_OF_TYPE[err.type] ?? (err instanceof URIError ? 'path' : 'request');
  // Express's own 4xx messages are safe to show (they describe the request, not the server).
  return new HttpError(status, `${field}: ${err.expose === false ? 'invalid' : String(err.message)}`, field);
}

/** Every error leaves as JSON: { error: { status, message, field, details } }. */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  let e = err instanceof HttpError ? err : (fromCarriedStatus(err) ?? unavailable(err));
  if (!e) {
    logger().error({ err, method: req.method, url: req.originalUrl }, 'internal error');
    e = new HttpError(500, 'internal error');
  }
  if (res.headersSent) return void res.end();
  if (e.status === 503) res.setHeader('retry-after', '5');
  res.status(e.status).json({ error: { status: e.status, message: e.message, field: e.field, details: e.details } });
};
