import { Router } from 'express';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { requireAdmin } from '../auth';
import { notFound } from '../errors';
import { listResult, Pagination, pageSql, parse } from '../validate';
import { requireFrameworkEnabled } from '../backupPolicy';
import { PROVIDERS, type ProviderName } from '../../common/settings';
import { Uuid } from '../../common/schemas/primitives';

export interface ProviderInfo {
  name: ProviderName;
  description: string;
  /** How its offerings come to be: imported from the provider's list, or created with their features. */
  offerings: 'import' | 'create';
  usesRepository: boolean;
  features: { incremental: boolean; compression: boolean; validation: boolean; quickRestore: boolean; extractFile: boolean; touchesDisks: boolean };
}

/** listBackupProviders: what each provider is and does. The zone's backup.framework.provider.plugin picks one. */
export const PROVIDER_INFO: Record<ProviderName, ProviderInfo> = {
  dummy: {
    name: 'dummy',
    description: 'Records backups in the catalog without touching any disk: for trying the API.',
    offerings: 'import',
    usesRepository: false,
    features: { incremental: false, compression: false, validation: false, quickRestore: false, extractFile: false, touchesDisks: false },
  },
  nas: {
    name: 'nas',
    description: "Full backups of a VM's disks to a backup repository (NFS, CIFS, CephFS or a host directory); its offerings are the zone's repositories.",
    offerings: 'import',
    usesRepository: true,
    features: { incremental: false, compression: false, validation: false, quickRestore: false, extractFile: false, touchesDisks: true },
  },
  kboss: {
    name: 'kboss',
    description: 'Incremental backup chains with compression, validation, quick restore and file extraction, to a backup repository.',
    offerings: 'create',
    usesRepository: true,
    features: { incremental: true, compression: true, validation: true, quickRestore: true, extractFile: true, touchesDisks: true },
  },
};

/** The dummy provider's fixed offerings, as importable external ids. */
export const DUMMY_OFFERINGS = [
  { externalId: 'gold', name: 'Gold Offering', description: 'Dummy gold backup offering' },
  { externalId: 'silver', name: 'Silver Offering', description: 'Dummy silver backup offering' },
] as const;

export const ProviderQuery = Pagination.extend({ name: z.string().optional() });
export const ProviderParams = z.object({ name: z.string() });
export const ProviderOfferingsQuery = Pagination.extend({ zoneId: Uuid, keyword: z.string().max(255).optional() });

export function providerRoutes({ pool }: ApiDeps) {
  const r = Router();

  /** listBackupProviders */
  r.get('/backup-providers', (req, res) => {
    const q = parse(ProviderQuery, req, 'query');
    const all = PROVIDERS.map((p) => PROVIDER_INFO[p]).filter((p) => !q.name || p.name === q.name);
    const { limit, offset } = pageSql(q);
    res.json(listResult(all.slice(offset, offset + limit), all.length, q));
  });

  r.get('/backup-providers/:name', (req, res) => {
    const { name } = parse(ProviderParams, req, 'params');
    if (!(PROVIDERS as readonly string[]).includes(name)) throw notFound(`backup provider ${name}`, 'name');
    res.json(PROVIDER_INFO[name as ProviderName]);
  });

  /**
   * listBackupProviderOfferings: what the zone's provider offers for import. nas: the zone's repositories
   * (external id = repository id); dummy: its fixed offerings; kboss: none (its offerings are created).
   */
  r.get('/backup-provider-offerings', requireAdmin, async (req, res) => {
    const q = parse(ProviderOfferingsQuery, req, 'query');
    const fw = await requireFrameworkEnabled(pool, q.zoneId, 'query.zoneId');
    const imported = await pool.query(
      `SELECT external_id, id FROM backup_offerings WHERE zone_id = $1 AND provider = $2 AND external_id IS NOT NULL`,
      [q.zoneId, fw.provider],
    );
    const importedAs = new Map<string, string>(imported.rows.map((x) => [x.external_id, x.id]));
    let items: { externalId: string; name: string; description: string; provider: ProviderName; zoneId: string }[] = [];
    if (fw.provider === 'dummy') {
      items = DUMMY_OFFERINGS.map((o) => ({ ...o, provider: fw.provider, zoneId: q.zoneId }));
    } else if (fw.provider === 'nas') {
      const repos = await pool.query(`SELECT id, name, type, address FROM backup_repositories WHERE zone_id = $1 ORDER BY name`, [q.zoneId]);
      items = repos.rows.map((x) => ({
        externalId: x.id, name: x.name, description: `${x.type} repository ${x.address}`, provider: fw.provider, zoneId: q.zoneId,
      }));
    }
    const kw = q.keyword?.toLowerCase();
    const matching = items
      .filter((o) => !kw || o.name.toLowerCase().includes(kw) || o.description.toLowerCase().includes(kw))
      .map((o) => ({ ...o, importedOfferingId: importedAs.get(o.externalId) ?? null }));
    const { limit, offset } = pageSql(q);
    res.json(listResult(matching.slice(offset, offset + limit), matching.length, q));
  });
  return r;
}
