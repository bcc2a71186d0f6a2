import { Router } from 'express';
import type { PoolClient } from 'pg';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { caller, requireAdmin } from '../auth';
import { badRequest, conflict, notFound } from '../errors';
import { IdParams, listResult, Pagination, pageSql, parse } from '../validate';
import { domainPath, OFFERING_COLUMNS, offeringOpenSql, requireFrameworkEnabled, type BackupOffering } from '../backupPolicy';
import { DUMMY_OFFERINGS } from './providers';
import { likePattern } from './repositories';
import { inTransaction } from '../../common/db';
import {
  CreateOfferingSchema, ImportOfferingSchema, KBOSS_ONLY_FIELDS, offeringInconsistency, Provider, UpdateOfferingSchema,
} from '../../common/schemas/offerings';
import { Uuid } from '../../common/schemas/primitives';

export const OfferingQuery = Pagination.extend({
  zoneId: Uuid.optional(),
  provider: Provider.optional(),
  name: z.string().optional(),
  keyword: z.string().max(255).optional(),
});

const FROM = `FROM backup_offerings o JOIN zones oz ON oz.id = o.zone_id`;
const isUniqueViolation = (e: unknown) => (e as { code?: string })?.code === '23505';
const isFkViolation = (e: unknown) => (e as { code?: string })?.code === '23503';

async function selectOffering(db: PoolClient | ApiDeps['pool'], id: string): Promise<BackupOffering> {
  return (await db.query(`SELECT ${OFFERING_COLUMNS} ${FROM} WHERE o.id = $1`, [id])).rows[0];
}

async function requireDomains(db: PoolClient | ApiDeps['pool'], ids: string[], field: string) {
  if (!ids.length) return;
  const r = await db.query(`SELECT id::text FROM domains WHERE id = ANY($1::uuid[])`, [ids]);
  const found = new Set(r.rows.map((x) => x.id));
  const missing = ids.find((i) => !found.has(i));
  if (missing) throw badRequest(field, `no such domain ${missing}`);
}

async function requireZoneRepository(db: PoolClient | ApiDeps['pool'], repositoryId: string, zoneId: string, field: string) {
  const r = await db.query(`SELECT zone_id FROM backup_repositories WHERE id = $1`, [repositoryId]);
  if (!r.rowCount) throw badRequest(field, 'no such backup repository');
  if (r.rows[0].zone_id !== zoneId) throw badRequest(field, "the repository is not in the offering's zone");
}

function uniqueConflict(e: unknown, name: string): never {
  const constraint = (e as { constraint?: string }).constraint ?? '';
  if (constraint.includes('external')) throw conflict('this provider offering is already imported in the zone', 'body.externalId');
  throw conflict(`an offering named ${name} already exists in this zone`, 'body.name');
}

/**
 * Backup offerings: importBackupOffering (dummy, nas), createBackupOffering (kboss), listBackupOfferings,
 * updateBackupOffering, deleteBackupOffering. Writes are for root admins; users list the offerings open to them.
 */
export function offeringRoutes({ pool }: ApiDeps) {
  const r = Router();

  /** importBackupOffering: one of the zone provider's offerings (nas: a repository of the zone). */
  r.post('/backup-offerings/import', requireAdmin, async (req, res) => {
    const body = parse(ImportOfferingSchema, req, 'body');
    const fw = await requireFrameworkEnabled(pool, body.zoneId, 'body.zoneId');
    let repositoryId: string | null = null;
    if (fw.provider === 'kboss') {
      throw conflict(`zone ${fw.zoneName} uses the kboss provider: its offerings are created (POST /v1/backup-offerings), not imported`, 'body.zoneId');
    } else if (fw.provider === 'nas') {
      const repo = Uuid.safeParse(body.externalId);
      const found = repo.success
        ? await pool.query(`SELECT id FROM backup_repositories WHERE id = $1 AND zone_id = $2`, [body.externalId, body.zoneId])
        : { rowCount: 0 };
      if (!found.rowCount) throw badRequest('body.externalId', `no backup repository ${body.externalId} in zone ${fw.zoneName} (GET /v1/backup-provider-offerings)`);
      repositoryId = body.externalId;
    } else if (!DUMMY_OFFERINGS.some((o) => o.externalId === body.externalId)) {
      throw badRequest('body.externalId', `the dummy provider offers ${DUMMY_OFFERINGS.map((o) => o.externalId).join(', ')}`);
    }
    await requireDomains(pool, body.domainIds, 'body.domainIds');
    let id: string;
    try {
      const ins = await pool.query(
        `INSERT INTO backup_offerings (name, description, zone_id, provider, external_id, repository_id, allow_user_driven_backups, is_public, domain_ids)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9::uuid[]) RETURNING id`,
        [body.name, body.description ?? null, body.zoneId, fw.provider, body.externalId, repositoryId, body.allowUserDrivenBackups, body.isPublic, body.domainIds],
      );
      id = ins.rows[0].id;
    } catch (e) {
      if (isUniqueViolation(e)) uniqueConflict(e, body.name);
      throw e;
    }
    res.status(201).json(await selectOffering(pool, id));
  });

  /** createBackupOffering: a kboss offering with its features, in a zone whose provider is kboss. */
  r.post('/backup-offerings', requireAdmin, async (req, res) => {
    const body = parse(CreateOfferingSchema, req, 'body');
    const fw = await requireFrameworkEnabled(pool, body.zoneId, 'body.zoneId');
    if (fw.provider !== 'kboss') {
      throw conflict(
        `zone ${fw.zoneName} uses the ${fw.provider} provider: its offerings are imported (POST /v1/backup-offerings/import); only kboss offerings are created`,
        'body.zoneId',
      );
    }
    await requireZoneRepository(pool, body.repositoryId, body.zoneId, 'body.repositoryId');
    await requireDomains(pool, body.domainIds, 'body.domainIds');
    let id: string;
    try {
      const ins = await pool.query(
        `INSERT INTO backup_offerings (name, description, zone_id, provider, repository_id, allow_user_driven_backups, is_public, domain_ids,
           compress, compression_library, validate, validation_steps, allow_quick_restore, allow_extract_file, backup_chain_size)
         VALUES ($1,$2,$3,'kboss',$4,$5,$6,$7::uuid[],$8,$9,$10,$11::text[],$12,$13,$14) RETURNING id`,
        [
          body.name, body.description ?? null, body.zoneId, body.repositoryId, body.allowUserDrivenBackups, body.isPublic, body.domainIds,
          body.compress, body.compressionLibrary, body.validate, body.validationSteps, body.allowQuickRestore, body.allowExtractFile,
          body.backupChainSize ?? null,
        ],
      );
      id = ins.rows[0].id;
    } catch (e) {
      if (isUniqueViolation(e)) uniqueConflict(e, body.name);
      throw e;
    }
    res.status(201).json(await selectOffering(pool, id));
  });

  /** listBackupOfferings: root admins see all; users the public ones and those dedicated to their domain or a parent of it. */
  r.get('/backup-offerings', async (req, res) => {
    const q = parse(OfferingQuery, req, 'query');
    const me = caller(req);
    const path = me.role === 'admin' ? null : await domainPath(pool, me.domainId);
    const { limit, offset } = pageSql(q);
    const rows = await pool.query(
      `SELECT ${OFFERING_COLUMNS}, count(*) OVER() AS total ${FROM}
       WHERE ($1::text IS NULL OR ${offeringOpenSql(1)}) AND ($2::uuid IS NULL OR o.zone_id = $2) AND ($3::text IS NULL OR o.provider = $3)
         AND ($4::text IS NULL OR o.name = $4) AND ($5::text IS NULL OR o.name ILIKE $5 OR o.description ILIKE $5)
       ORDER BY oz.name, o.name LIMIT $6 OFFSET $7`,
      [path, q.zoneId ?? null, q.provider ?? null, q.name ?? null, q.keyword ? likePattern(q.keyword) : null, limit, offset],
    );
    res.json(listResult(rows.rows.map(({ total, ...o }) => o), Number(rows.rows[0]?.total ?? 0), q));
  });

  r.get('/backup-offerings/:id', async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const me = caller(req);
    const path = me.role === 'admin' ? null : await domainPath(pool, me.domainId);
    const row = await pool.query(`SELECT ${OFFERING_COLUMNS} ${FROM} WHERE o.id = $1 AND ($2::text IS NULL OR ${offeringOpenSql(2)})`, [id, path]);
    if (!row.rowCount) throw notFound('backup offering', 'id');
    res.json(row.rows[0]);
  });

  /** updateBackupOffering: name, description, allowUserDrivenBackups and audience of any offering; features of a kboss one. */
  r.patch('/backup-offerings/:id', requireAdmin, async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    const body = parse(UpdateOfferingSchema, req, 'body');
    await inTransaction(pool, async (c) => {
      const curRow = await c.query(`SELECT id FROM backup_offerings WHERE id = $1 FOR UPDATE`, [id]);
      if (!curRow.rowCount) throw notFound('backup offering', 'id');
      const cur = await selectOffering(c, id);
      if (cur.provider !== 'kboss') {
        const f = KBOSS_ONLY_FIELDS.find((k) => body[k] !== undefined);
        if (f) throw badRequest(`body.${f}`, `only kboss offerings have ${f}; this one is of provider ${cur.provider}`);
      }
      const compress = body.compress ?? cur.compress;
      const validate = body.validate ?? cur.validate;
      const isPublic = body.isPublic ?? cur.isPublic;
      const merged = {
        compress,
        // Turning compression off drops the library; turning it on without one picks zstd.
        compressionLibrary: body.compressionLibrary !== undefined ? body.compressionLibrary : compress ? (cur.compressionLibrary ?? 'zstd') : null,
        validate,
        validationSteps: body.validationSteps ?? (validate ? cur.validationSteps : []),
        isPublic,
        domainIds: body.domainIds ?? (isPublic ? [] : cur.domainIds),
      };
      const bad = offeringInconsistency(merged);
      if (bad) throw badRequest(`body.${bad.field}`, bad.message);
      if (body.domainIds) await requireDomains(c, body.domainIds, 'body.domainIds');
      if (body.repositoryId) await requireZoneRepository(c, body.repositoryId, cur.zoneId, 'body.repositoryId');
      try {
        await c.query(
          `UPDATE backup_offerings SET name = $2, description = $3, allow_user_driven_backups = $4, is_public = $5, domain_ids = $6::uuid[],
             repository_id = $7, compress = $8, compression_library = $9, validate = $10, validation_steps = $11::text[],
             allow_quick_restore = $12, allow_extract_file = $13, backup_chain_size = $14, updated_at = now()
           WHERE id = $1`,
          [
            id, body.name ?? cur.name, body.description !== undefined ? body.description : cur.description,
            body.allowUserDrivenBackups ?? cur.allowUserDrivenBackups, merged.isPublic, merged.domainIds, body.repositoryId ?? cur.repositoryId,
            merged.compress, merged.compressionLibrary, merged.validate, merged.validationSteps, body.allowQuickRestore ?? cur.allowQuickRestore,
            body.allowExtractFile ?? cur.allowExtractFile, body.backupChainSize !== undefined ? body.backupChainSize : cur.backupChainSize,
          ],
        );
      } catch (e) {
        if (isUniqueViolation(e)) uniqueConflict(e, body.name ?? cur.name);
        throw e;
      }
    });
    res.json(await selectOffering(pool, id));
  });

  /** deleteBackupOffering: refused (409) while VMs are assigned to it or backups were taken with it. */
  r.delete('/backup-offerings/:id', requireAdmin, async (req, res) => {
    const { id } = parse(IdParams, req, 'params');
    await inTransaction(pool, async (c) => {
      const cur = await c.query(`SELECT name FROM backup_offerings WHERE id = $1 FOR UPDATE`, [id]);
      if (!cur.rowCount) throw notFound('backup offering', 'id');
      const name = cur.rows[0].name;
      const vms = await c.query(`SELECT count(*)::int AS n FROM vms WHERE backup_offering_id = $1`, [id]);
      if (vms.rows[0].n > 0) {
        throw conflict(`offering ${name} is assigned to ${vms.rows[0].n} VM(s): remove them from it first (DELETE /v1/vms/{id}/backup-offering)`, 'id');
      }
      const schedules = await c.query(`SELECT count(*)::int AS n FROM backup_schedules WHERE offering_id = $1`, [id]);
      if (schedules.rows[0].n > 0) throw conflict(`offering ${name} has ${schedules.rows[0].n} backup schedule(s) behind it: delete them first`, 'id');
      const sla = await c.query(`SELECT 1 FROM backup_offerings WHERE id = $1 AND sla_schedule IS NOT NULL`, [id]);
      if (sla.rowCount) throw conflict(`offering ${name} has an SLA schedule: delete it first (DELETE /v1/backup-offerings/${id}/sla-schedule)`, 'id');
      try {
        await c.query(`DELETE FROM backup_offerings WHERE id = $1`, [id]);
      } catch (e) {
        if (isFkViolation(e)) throw conflict(`offering ${name} still has backups taken with it: delete them first`, 'id');
        throw e;
      }
    });
    res.status(204).end();
  });
  return r;
}
