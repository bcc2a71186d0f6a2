/**
 * SQL condition: offering `o` is open to an account of the domain whose path is `path` (a parameter
 * number, `$n`, or an SQL expression): public, or dedicated to that domain or one of its ancestors (so
 * subdomains inherit it). The API checks it on every request; the backup workflow checks it again for
 * runs that no request started (schedules).
 */
export function offeringOpenSql(path: number | string): string {
  const p = typeof path === 'number' ? `$${path}::text` : path;
  return `(o.is_public OR EXISTS (SELECT 1 FROM domains od WHERE od.id = ANY(o.domain_ids)
     AND (${p} = od.path OR left(${p}, length(od.path) + 1) = od.path || '/')))`;
}
