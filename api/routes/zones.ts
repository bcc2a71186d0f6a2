import { Router } from 'express';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { listResult, Pagination, pageSql, parse } from '../validate';

export const ZoneQuery = Pagination.extend({ name: z.string().optional() });

export function zoneRoutes({ pool }: ApiDeps) {
  const r = Router();
  r.get('/zones', async (req, res) => {
    const q = parse(ZoneQuery, req, 'query');
    const { limit, offset } = pageSql(q);
    const rows = await pool.query(
      `SELECT id, name, created_at AS "createdAt", count(*) OVER() AS total FROM zones
       WHERE ($1::text IS NULL OR name = $1) ORDER BY name LIMIT $2 OFFSET $3`,
      [q.name ?? null, limit, offset],
    );
    res.json(listResult(rows.rows.map(({ total, ...z }) => z), Number(rows.rows[0]?.total ?? 0), q));
  });
  return r;
}
