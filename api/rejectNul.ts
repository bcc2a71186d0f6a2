import type { RequestHandler } from 'express';
import { HttpError } from './errors';

/** The first place in `value` (keys included) where a NUL character hides, as a field path; PostgreSQL refuses NUL in text and jsonb. */
function nulAt(value: unknown, field: string, depth = 0): string | undefined {
  if (typeof value === 'string') return value.includes('\0') ? field : undefined;
  if (value === null || typeof value !== 'object' || depth > 64) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const at = `${field}.${k}`;
    if (k.includes('\0')) return at;
    const found = nulAt(v, at, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * Refuses a NUL character anywhere in the path, the query or the body with a 400 naming the field, before
 * any route runs, so no string with one reaches zod, a workflow or the catalog. Path parameters are not
 * named yet at this point (routing comes later), so a NUL in the path is reported as `path`.
 */
export const rejectNul: RequestHandler = (req, _res, next) => {
  let path: string;
  try {
    path = decodeURIComponent(req.path);
  } catch {
    return next(new HttpError(400, 'path: malformed percent-encoding', 'path'));
  }
  if (path.includes('\0')) return next(new HttpError(400, 'path: must not contain NUL characters', 'path'));
  const field = nulAt(req.query, 'query') ?? nulAt(req.body, 'body');
  if (field) return next(new HttpError(400, `${field}: must not contain NUL characters`, field));
  next();
};
