import { Router } from 'express';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { requireAdmin } from '../auth';
import { badRequest, conflict, notFound } from '../errors';
import { IdParams, listResult, Pagination, pageSql, parse } from '../validate';
import { REPOSITORY_COLUMNS } from '../backupPolicy';
import { config } from '../../common/config';
import { inTransaction } from '../../common/db';
import { confineToRoots } from '../../common/repositoryRoots';
import {
  CreateRepositorySchema, RepositoryType, UpdateRepositorySchema, validateRepositoryAddress, type RepositoryTypeName,
} from '../../common/schemas/repositories';
import { Uuid } from '../../common/schemas/primitives';

export const RepositoryQuery = Pagination.extend({
  zoneId: Uuid.optional(),
  type: RepositoryType.optional(),
  name: z.string().optional(),
  keyword: z.string().max(255).optional(),
});

const isUniqueViolation = (e: unknown) => (e as { code?: string })?.code === '23505';
const isFkViolation = (e: unknown) => (e as { code?: string })?.code === '23503';
/** `%` and `_` match themselves in a keyword search. */
export const likePattern = (kw: string) => `%${kw.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

const SELECT_ONE = `SELECT ${REPOSITORY_COLUMNS} FROM backup_repositories r JOIN zones rz ON rz.id = r.zone_id WHERE r.id = $1`;

/** A local repository only inside the configured roots (the host checks again with its own roots). */
async function checkLocalAddress(address: string) {
  const r = await confineToRoots(address, config.repositoryRoots);
  if ('error' in r) throw badRequest('body.address', r.error);
}

/** Backup repositories (addBackupRepository, listBackupRepositories, updateBackupRepository, deleteBackupRepository); root admins only. */
export function repositoryRoutes({ pool }: ApiDeps) {
  const r = Router();
  r.use('/backup-repositories', requireAdmin);

  r.post('/backup-repositories', async (req, res) => {
    const body = parse(CreateRepositorySchema, req, 'body');
    const zone = await pool.query(`SELECT 1 FROM zones WHERE id = $1`, [body.zoneId]);
    if (!zone.rowCount) throw badRequest('body.zoneId', 'no such zone');
    if (body.type === 'local') await checkLocalAddress(body.address);
    let id: string;
    try {
      const ins = await pool.query(
        `INSERT INTO backup_repositories (name, zone_id, type, address, mount_options, capacity_bytes) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id`,
        [body.name, body.zoneId, body.type, body.address, body.mountOptions, body.capacityBytes ?? null],
      );
      id = ins.rows[0].id;
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`a repository named ${body.name} already exists in this zone`, 'body.name');
      throw e;
    }
    res.status(201).json((await pool.query(SELECT_ONE, [id])).rows[0]);
  });

  r.get('/backup-repositories', async (req, res) => {
    const q = parse(RepositoryQuery, req, 'query');
    const { limit, offset } = pageSql(q);
    const rows = await pool.query(
      `SELECT ${REPOSITORY_COLUMNS}, count(*) OVER() AS total FROM backup_repositories r JOIN zones rz ON rz.id = r.zone_id
       WHERE ($1::uuid IS NULL OR r.zone_id = $1) AND ($2::text IS NULL OR r.type = $2) AND ($3::text IS NULL OR r.name = $3)
         AND ($4::text IS NULL OR r.name ILIKE $4 OR r.address ILIKE $4)
       ORDER BY rz.name, r.name LIMIT $5 OFFSET $6`,
      [q.zoneId ?? null, q.type ?? null, q.name ?? null, q.keyword ? likePattern(q.keyword) : null, limit, offset],
    );
    res.json(listResult(rows.rows.map(({ total, ...x }) => x), Number(rows.rows[0]?.total ?? 0), q));
  });

  r.get('/backup-repositories/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const row = await pool.query(SELECT_ONE, [id]);
    if (!row.rowCount) throw notFound('backup repository', 'id');
    res.json(row.rows[0]);
  });

  /** The type stays; a new address must fit it. */
  r.patch('/backup-repositories/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(UpdateRepositorySchema, req, 'body');
    await inTransaction(pool, async (c) => {
      const cur = await c.query(`SELECT type FROM backup_repositories WHERE id = $1 FOR UPDATE`, [id]);
      if (!cur.rowCount) throw notFound('backup repository', 'id');
      const type: RepositoryTypeName = cur.rows[0].type;
      if (body.address !== undefined) {
        const why = validateRepositoryAddress(type, body.address);
        if (why) throw badRequest('body.address', why);
        if (type === 'local') await checkLocalAddress(body.address);
      }
      if (type === 'local' && body.mountOptions) throw badRequest('body.mountOptions', 'a local repository is not mounted: it takes no mount options');
      try {
        await c.query(
          `UPDATE backup_repositories SET name = COALESCE($2, name), address = COALESCE($3, address), mount_options = COALESCE($4, mount_options),
             capacity_bytes = CASE WHEN $5 THEN $6::bigint ELSE capacity_bytes END, updated_at = now()
           WHERE id = $1`,
          [id, body.name ?? null, body.address ?? null, body.mountOptions ?? null, body.capacityBytes !== undefined, body.capacityBytes ?? null],
        );
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict(`a repository named ${body.name} already exists in this zone`, 'body.name');
        throw e;
      }
    });
    res.json((await pool.query(SELECT_ONE, [id])).rows[0]);
  });

  /** Refused (409) while an offering or a backup uses the repository. */
  r.delete('/backup-repositories/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    await inTransaction(pool, async (c) => {
      const cur = await c.query(`SELECT name FROM backup_repositories WHERE id = $1 FOR UPDATE`, [id]);
      if (!cur.rowCount) throw notFound('backup repository', 'id');
      const offerings = await c.query(`SELECT name FROM backup_offerings WHERE repository_id = $1 ORDER BY name`, [id]);
      if (offerings.rowCount) {
        throw conflict(
          `repository ${cur.rows[0].name} is in use by backup offering(s) ${offerings.rows.map((o) => o.name).join(', ')}: delete them first`,
          'id',
        );
      }
      const hasBackups = await c.query(`SELECT to_regclass('public.backups') IS NOT NULL AS present`);
      if (hasBackups.rows[0].present) {
        const b = await c.query(`SELECT count(*)::int AS n FROM backups WHERE repository_id = $1 AND status <> 'Expunged'`, [id]);
        if (b.rows[0].n > 0) throw conflict(`repository ${cur.rows[0].name} holds ${b.rows[0].n} backup(s): delete them first`, 'id');
      }
      try {
        await c.query(`DELETE FROM backup_repositories WHERE id = $1`, [id]);
      } catch (e) {
        if (isFkViolation(e)) throw conflict(`repository ${cur.rows[0].name} is still referenced (${(e as Error).message})`, 'id');
        throw e;
      }
    });
    res.status(204).end();
  });
  return r;
}
