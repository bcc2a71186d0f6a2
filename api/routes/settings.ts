import { Router } from 'express';
import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { requireAdmin } from '../auth';
import { badRequest, notFound } from '../errors';
import { listResult, Pagination, pageSql, parse } from '../validate';
import { inTransaction } from '../../common/db';
import {
  isSettingName, parseSettingValue, resolveSettings, SETTING_NAMES, SETTINGS,
  type ResolvedSetting, type SettingDefinition, type SettingLookupScope, type SettingName, type SettingScope,
} from '../../common/settings';
import { ResetSettingQuery, SetSettingSchema, SettingScopeQuery } from '../../common/schemas/settings';
import { Uuid } from '../../common/schemas/primitives';

type Db = Pool | PoolClient;

export const SettingParams = z.object({ name: z.string() });
export const SettingListQuery = Pagination.extend({
  zoneId: Uuid.optional(),
  accountId: Uuid.optional(),
  name: z.string().optional(),
  keyword: z.string().max(255).optional(),
  /** Only the settings that may be set at this scope. */
  scope: z.enum(['global', 'zone', 'account']).optional(),
});

/** A setting as the API shows it: its definition and its effective value for the scope asked about. */
function present(name: SettingName, resolved: ResolvedSetting) {
  const d = SETTINGS[name] as SettingDefinition;
  return {
    name,
    type: d.type,
    ...(d.values ? { values: d.values } : {}),
    ...(d.min !== undefined ? { min: d.min } : {}),
    ...(d.max !== undefined ? { max: d.max } : {}),
    unit: d.unit,
    description: d.description,
    scopes: d.scopes,
    default: d.default,
    value: resolved.value,
    source: resolved.source,
    scopeId: resolved.scopeId ?? null,
  };
}

async function requireScopeTarget(db: Db, scope: SettingScope, id: string | null | undefined, field: string) {
  if (scope === 'global' || !id) return;
  const r = await db.query(scope === 'zone' ? `SELECT 1 FROM zones WHERE id = $1` : `SELECT 1 FROM accounts WHERE id = $1`, [id]);
  if (!r.rowCount) throw badRequest(field, `no such ${scope}`);
}

const lookupFor = (scope: SettingScope, id: string | null | undefined): SettingLookupScope =>
  scope === 'zone' ? { zoneId: id } : scope === 'account' ? { accountId: id } : {};

function settingName(raw: string): SettingName {
  if (!isSettingName(raw)) throw notFound(`setting ${raw}`, 'name');
  return raw;
}

/** Settings of the backup framework, by scope (global, zone, account); root admins only. */
export function settingRoutes({ pool }: ApiDeps) {
  const r = Router();
  r.use('/settings', requireAdmin);

  /** listConfigurations: every setting with its effective value for zoneId/accountId and where it came from. */
  r.get('/settings', async (req, res) => {
    const q = parse(SettingListQuery, req, 'query');
    await requireScopeTarget(pool, 'zone', q.zoneId, 'query.zoneId');
    await requireScopeTarget(pool, 'account', q.accountId, 'query.accountId');
    const kw = q.keyword?.toLowerCase();
    const names = SETTING_NAMES.filter(
      (n) =>
        (!q.name || n === q.name) &&
        (!kw || n.includes(kw) || SETTINGS[n].description.toLowerCase().includes(kw)) &&
        (!q.scope || (SETTINGS[n].scopes as readonly string[]).includes(q.scope)),
    );
    const { limit, offset } = pageSql(q);
    const page = names.slice(offset, offset + limit);
    const resolved = await resolveSettings(pool, page, { zoneId: q.zoneId, accountId: q.accountId });
    res.json(listResult(page.map((n) => present(n, resolved[n])), names.length, q));
  });

  /** One setting's effective value for zoneId/accountId, with every value stored along that path. */
  r.get('/settings/:name', async (req, res) => {
    const name = settingName(parse(SettingParams, req, 'params').name);
    const q = parse(SettingScopeQuery, req, 'query');
    await requireScopeTarget(pool, 'zone', q.zoneId, 'query.zoneId');
    await requireScopeTarget(pool, 'account', q.accountId, 'query.accountId');
    const resolved = await resolveSettings(pool, [name], q);
    const stored = await pool.query(
      `SELECT scope, scope_id AS "scopeId", value, updated_at AS "updatedAt" FROM settings
       WHERE name = $1 AND (scope = 'global' OR (scope = 'zone' AND scope_id = $2::uuid) OR (scope = 'account' AND scope_id = $3::uuid))
       ORDER BY CASE scope WHEN 'account' THEN 0 WHEN 'zone' THEN 1 ELSE 2 END`,
      [name, q.zoneId ?? null, q.accountId ?? null],
    );
    res.json({ ...present(name, resolved[name]), stored: stored.rows });
  });

  /** updateConfiguration: sets the value at one scope; answers with the effective value there. */
  r.put('/settings/:name', async (req, res) => {
    const name = settingName(parse(SettingParams, req, 'params').name);
    const body = parse(SetSettingSchema, req, 'body');
    const d = SETTINGS[name] as SettingDefinition;
    if (!d.scopes.includes(body.scope)) throw badRequest('body.scope', `${name} may be set at scope ${d.scopes.join(', ')}, not ${body.scope}`);
    const v = parseSettingValue(name, body.value);
    if (!v.ok) throw badRequest('body.value', `${name}: ${v.message}`);
    const out = await inTransaction(pool, async (c) => {
      await requireScopeTarget(c, body.scope, body.scopeId, 'body.scopeId');
      await c.query(
        `INSERT INTO settings (name, scope, scope_id, value, updated_at) VALUES ($1, $2, $3, $4::jsonb, now())
         ON CONFLICT (name, scope, COALESCE(scope_id, '00000000-0000-0000-0000-000000000000'))
         DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
        [name, body.scope, body.scopeId ?? null, JSON.stringify(v.value)],
      );
      return (await resolveSettings(c, [name], lookupFor(body.scope, body.scopeId)))[name];
    });
    res.json(present(name, out));
  });

  /** resetConfiguration: removes the value stored at one scope, so the next wider one applies again. */
  r.delete('/settings/:name', async (req, res) => {
    const name = settingName(parse(SettingParams, req, 'params').name);
    const q = parse(ResetSettingQuery, req, 'query');
    await requireScopeTarget(pool, q.scope, q.scopeId, 'query.scopeId');
    const del = await pool.query(
      `DELETE FROM settings WHERE name = $1 AND scope = $2 AND scope_id IS NOT DISTINCT FROM $3::uuid`,
      [name, q.scope, q.scopeId ?? null],
    );
    const resolved = (await resolveSettings(pool, [name], lookupFor(q.scope, q.scopeId)))[name];
    res.json({ ...present(name, resolved), removed: (del.rowCount ?? 0) > 0 });
  });
  return r;
}
