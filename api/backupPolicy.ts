import type { Pool, PoolClient } from 'pg';
import type { Caller } from './auth';
import { badRequest, conflict, forbidden, HttpError, notFound } from './errors';
import { offeringOpenSql } from '../common/offeringAccess';
import { resolveSettings, type ProviderName } from '../common/settings';
import type { RepositoryTypeName } from '../common/schemas/repositories';

type Db = Pool | PoolClient;

/** An offering as the API shows it (camelCase). */
export interface BackupOffering {
  id: string;
  name: string;
  description: string | null;
  zoneId: string;
  zone: string;
  provider: ProviderName;
  externalId: string | null;
  repositoryId: string | null;
  allowUserDrivenBackups: boolean;
  isPublic: boolean;
  domainIds: string[];
  compress: boolean;
  compressionLibrary: 'zstd' | 'zlib' | null;
  validate: boolean;
  validationSteps: ('wait_for_boot' | 'execute_command' | 'screenshot')[];
  allowQuickRestore: boolean;
  allowExtractFile: boolean;
  backupChainSize: number | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A repository as the API shows it. */
export interface BackupRepository {
  id: string;
  name: string;
  zoneId: string;
  zone: string;
  type: RepositoryTypeName;
  address: string;
  mountOptions: string;
  capacityBytes: number | null;
  createdAt: Date;
  updatedAt: Date;
}

/** SELECT list of an offering `o` joined to its zone `oz`. */
export const OFFERING_COLUMNS = `o.id, o.name, o.description, o.zone_id AS "zoneId", oz.name AS zone, o.provider, o.external_id AS "externalId",
  o.repository_id AS "repositoryId", o.allow_user_driven_backups AS "allowUserDrivenBackups", o.is_public AS "isPublic",
  o.domain_ids::text[] AS "domainIds", o.compress, o.compression_library AS "compressionLibrary", o.validate,
  o.validation_steps AS "validationSteps", o.allow_quick_restore AS "allowQuickRestore", o.allow_extract_file AS "allowExtractFile",
  o.backup_chain_size AS "backupChainSize", o.created_at AS "createdAt", o.updated_at AS "updatedAt"`;

/** SELECT list of a repository `r` joined to its zone `rz`. */
export const REPOSITORY_COLUMNS = `r.id, r.name, r.zone_id AS "zoneId", rz.name AS zone, r.type, r.address, r.mount_options AS "mountOptions",
  r.capacity_bytes::float8 AS "capacityBytes", r.created_at AS "createdAt", r.updated_at AS "updatedAt"`;

export { offeringOpenSql };

export async function domainPath(db: Db, domainId: string): Promise<string> {
  const r = await db.query(`SELECT path FROM domains WHERE id = $1`, [domainId]);
  if (!r.rowCount) throw new HttpError(401, 'authorization: the account\'s domain is gone', 'authorization');
  return r.rows[0].path;
}

/** Whether offering `offeringId` is open to accounts of domain `domainId`. */
export async function offeringOpenToDomain(db: Db, offeringId: string, domainId: string): Promise<boolean> {
  const r = await db.query(`SELECT 1 FROM backup_offerings o WHERE o.id = $1 AND ${offeringOpenSql(2)}`, [offeringId, await domainPath(db, domainId)]);
  return (r.rowCount ?? 0) > 0;
}

/** Refusal of an offering dedicated to other domains than that of the VM's account. */
export const notOpenToVmDomain = (offeringName: string, field: string) =>
  conflict(`offering ${offeringName} is dedicated to other domains than that of the VM's account`, field);

export interface ZoneFramework { zoneId: string; zoneName: string; enabled: boolean; provider: ProviderName }

/** The zone's effective framework settings; 400 naming `field` when the zone does not exist. */
export async function zoneFramework(db: Db, zoneId: string, field: string): Promise<ZoneFramework> {
  const z = await db.query(`SELECT name FROM zones WHERE id = $1`, [zoneId]);
  if (!z.rowCount) throw badRequest(field, 'no such zone');
  const s = await resolveSettings(db, ['backup.framework.enabled', 'backup.framework.provider.plugin'], { zoneId });
  return { zoneId, zoneName: z.rows[0].name, enabled: s['backup.framework.enabled'].value, provider: s['backup.framework.provider.plugin'].value };
}

export const frameworkDisabled = (zoneName: string, field: string) =>
  conflict(`the backup framework is disabled in zone ${zoneName} (backup.framework.enabled)`, field);

/** The zone's framework settings, refusing (409) when the framework is disabled there. */
export async function requireFrameworkEnabled(db: Db, zoneId: string, field: string): Promise<ZoneFramework> {
  const f = await zoneFramework(db, zoneId, field);
  if (!f.enabled) throw frameworkDisabled(f.zoneName, field);
  return f;
}

export interface BackupAllowed {
  vm: { id: string; name: string; hostId: string; zoneId: string; accountId: string | null };
  offering: BackupOffering;
  provider: ProviderName;
  repository: BackupRepository | null;
  zoneName: string;
}

/**
 * Whether `caller` may back up the VM now, and what with. Refusals (HttpError, field vmId):
 * 404 the VM is unknown or not the caller's; 409 it is removed, the framework is disabled in its zone,
 * it has no offering, or its offering's provider is not the zone's; 403 a user asks for a backup of an
 * SLA offering (allowUserDrivenBackups false) with `userDriven`; 409 the offering is not open to the
 * domain of the VM's account (anyone, admins too: a dedicated offering serves its domains only).
 */
export async function checkBackupAllowed(pool: Pool, input: { vmId: string; caller: Caller; userDriven: boolean }): Promise<BackupAllowed> {
  const { vmId, caller, userDriven } = input;
  const v = await pool.query(
    `SELECT v.id, v.name, v.host_id AS "hostId", v.zone_id AS "zoneId", v.account_id AS "accountId", v.removed_at AS "removedAt",
            v.backup_offering_id AS "offeringId", a.domain_id AS "domainId"
     FROM vms v LEFT JOIN accounts a ON a.id = v.account_id WHERE v.id = $1`,
    [vmId],
  );
  const row = v.rows[0];
  // Another account's VM is reported as not found, so its existence does not leak.
  if (!row || (caller.role !== 'admin' && row.accountId !== caller.accountId)) throw notFound('vm', 'vmId');
  if (row.removedAt) throw conflict(`vm ${row.name} is removed`, 'vmId');

  const fw = await zoneFramework(pool, row.zoneId, 'vmId');
  if (!fw.enabled) throw frameworkDisabled(fw.zoneName, 'vmId');
  if (!row.offeringId) throw conflict(`vm ${row.name} is not assigned to a backup offering (POST /v1/vms/${row.id}/backup-offering)`, 'vmId');

  const o = await pool.query(`SELECT ${OFFERING_COLUMNS} FROM backup_offerings o JOIN zones oz ON oz.id = o.zone_id WHERE o.id = $1`, [row.offeringId]);
  const offering = o.rows[0] as BackupOffering;
  if (userDriven && caller.role !== 'admin' && !offering.allowUserDrivenBackups) {
    throw forbidden(`offering ${offering.name} is an SLA offering: it does not allow user-driven backups`, 'vmId');
  }
  if (offering.provider !== fw.provider) {
    throw conflict(
      `offering ${offering.name} is of provider ${offering.provider}, but zone ${fw.zoneName} uses ${fw.provider} (backup.framework.provider.plugin)`,
      'vmId',
    );
  }
  // The offering may have been dedicated elsewhere, or the VM given to another account, since it was assigned.
  if (row.domainId && !(await offeringOpenToDomain(pool, offering.id, row.domainId))) throw notOpenToVmDomain(offering.name, 'vmId');
  let repository: BackupRepository | null = null;
  if (offering.repositoryId) {
    const r = await pool.query(`SELECT ${REPOSITORY_COLUMNS} FROM backup_repositories r JOIN zones rz ON rz.id = r.zone_id WHERE r.id = $1`, [
      offering.repositoryId,
    ]);
    repository = (r.rows[0] as BackupRepository) ?? null;
  }
  return {
    vm: { id: row.id, name: row.name, hostId: row.hostId, zoneId: row.zoneId, accountId: row.accountId },
    offering,
    provider: fw.provider,
    repository,
    zoneName: fw.zoneName,
  };
}
