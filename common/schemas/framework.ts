import { z } from 'zod';
import { PROVIDERS, SETTING_SCOPES } from '../settings';

/** The backup framework's writes: settings, repositories, offerings, VM assignment. */

/** Any 8-4-4-4-12 hex id: the ROOT domain's fixed id (…0001) is not an RFC 9562 UUID, so z.uuid() would refuse it. */
export const Uuid = z.guid();

export const Provider = z.enum(PROVIDERS);
export const RepositoryType = z.enum(['nfs', 'cifs', 'cephfs', 'local']);
export type RepositoryTypeName = z.infer<typeof RepositoryType>;
export const CompressionLibrary = z.enum(['zstd', 'zlib']);
export const ValidationStep = z.enum(['wait_for_boot', 'execute_command', 'screenshot']);

// ---------------------------------------------------------------------------------------------------
// Mount options: an allow-list, so nothing but known, harmless options ever reaches mount(8).

const N = /^\d{1,9}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
/** An absolute path of plain characters with no `..` segment. */
const ABS_PATH = /^\/[A-Za-z0-9._/-]{0,1023}$/;
const isSafeAbsPath = (p: string) => ABS_PATH.test(p) && !p.split('/').includes('..');
const oneOf = (...v: string[]) => (s: string) => v.includes(s);
const re = (r: RegExp) => (s: string) => r.test(s);

/** Options that take no value. The `no*` variants that restrict the mount are fine; exec, suid, dev are not. */
const FLAGS = new Set([
  'ro', 'rw', 'hard', 'soft', 'intr', 'nointr', 'noatime', 'nodiratime', 'relatime', 'strictatime', 'nolock', 'lock',
  'noac', 'ac', 'sync', 'async', 'nosuid', 'nodev', 'noexec', 'nocto', 'nosharecache', 'noresvport', 'resvport',
  'nofail', '_netdev', 'seal', 'nounix', 'noserverino', 'serverino', 'nobrl', 'noperm', 'mapposix', 'nomapposix',
]);

/** Options with a value, and what the value may be. */
const VALUED: Record<string, (v: string) => boolean> = {
  vers: oneOf('2', '3', '4', '4.0', '4.1', '4.2', '1.0', '2.0', '2.1', '3.0', '3.02', '3.1.1', '3.11', 'default'),
  nfsvers: oneOf('2', '3', '4', '4.0', '4.1', '4.2'),
  minorversion: oneOf('0', '1', '2'),
  proto: oneOf('tcp', 'tcp6', 'udp', 'udp6', 'rdma', 'rdma6'),
  mountproto: oneOf('tcp', 'tcp6', 'udp', 'udp6'),
  port: re(N),
  mountport: re(N),
  timeo: re(N),
  retrans: re(N),
  retry: re(N),
  rsize: re(N),
  wsize: re(N),
  actimeo: re(N),
  acregmin: re(N),
  acregmax: re(N),
  acdirmin: re(N),
  acdirmax: re(N),
  nconnect: re(/^([1-9]|1[0-6])$/),
  lookupcache: oneOf('all', 'none', 'pos', 'positive'),
  local_lock: oneOf('none', 'all', 'flock', 'posix'),
  sec: oneOf('sys', 'none', 'krb5', 'krb5i', 'krb5p', 'ntlm', 'ntlmi', 'ntlmv2', 'ntlmv2i', 'ntlmssp', 'ntlmsspi'),
  cache: oneOf('strict', 'none', 'loose', 'ro', 'singleclient'),
  username: re(NAME),
  user: re(NAME),
  domain: re(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  credentials: isSafeAbsPath,
  uid: re(N),
  gid: re(N),
  file_mode: re(/^0?[0-7]{3,4}$/),
  dir_mode: re(/^0?[0-7]{3,4}$/),
  iocharset: oneOf('utf8', 'iso8859-1'),
  // cephfs
  name: re(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  secretfile: isSafeAbsPath,
  fs: re(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  mds_namespace: re(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  recover_session: oneOf('no', 'clean'),
};

/** Options refused by name, with why: they would weaken the host or put a secret in the catalog. */
const REFUSED: Record<string, string> = {
  exec: 'would allow executing files from the repository',
  suid: 'would honour set-user-id bits from the repository',
  dev: 'would allow device files from the repository',
  defaults: 'implies exec, suid and dev',
  users: 'implies exec, suid and dev',
  owner: 'implies exec, suid and dev',
  group: 'implies exec, suid and dev',
  password: 'would keep a secret in the catalog: use credentials=<file> instead',
  pass: 'would keep a secret in the catalog: use credentials=<file> instead',
  secret: 'would keep a secret in the catalog: use secretfile=<file> instead',
  remount: 'is not a repository option',
  bind: 'is not a repository option',
  rbind: 'is not a repository option',
  loop: 'is not a repository option',
  offset: 'is not a repository option',
  'x-mount.mkdir': 'is not a repository option',
  helper: 'would run another mount helper',
};

/** Checks a mount options string (comma-separated) against the allow-list: null when it is fine, else why not. */
export function validateMountOptions(s: string): string | null {
  if (typeof s !== 'string') return 'must be a string';
  if (s === '') return null;
  if (s.length > 512) return 'too long (512 characters at most)';
  const bad = /[^A-Za-z0-9=,._/@:-]/.exec(s);
  if (bad) return `character ${JSON.stringify(bad[0])} is not allowed in mount options`;
  const seen = new Set<string>();
  for (const opt of s.split(',')) {
    if (opt === '') return 'empty option (stray comma)';
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? null : opt.slice(eq + 1);
    if (REFUSED[key]) return `mount option ${key} is not allowed: it ${REFUSED[key]}`;
    if (seen.has(key)) return `mount option ${key} is given twice`;
    seen.add(key);
    if (value === null) {
      if (FLAGS.has(key)) continue;
      if (VALUED[key]) return `mount option ${key} needs a value (${key}=...)`;
      return `mount option ${key} is not in the allow-list`;
    }
    const check = VALUED[key];
    if (!check) return FLAGS.has(key) ? `mount option ${key} takes no value` : `mount option ${key} is not in the allow-list`;
    if (!check(value)) return `mount option ${key}=${value}: value not allowed`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------
// Repository addresses, per type.

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST = `(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9A-Fa-f:.]{2,45}\\])`;
const HOST_RE = new RegExp(`^${HOST}$`);
const MON_RE = new RegExp(`^${HOST}(?::\\d{1,5})?$`);
const SHARE_RE = /^[A-Za-z0-9][A-Za-z0-9._$-]{0,79}$/;

/** Checks a repository address for its type: null when it is fine, else why not. */
export function validateRepositoryAddress(type: RepositoryTypeName, address: string): string | null {
  if (typeof address !== 'string' || address.length === 0) return 'is required';
  if (address.length > 1024) return 'too long (1024 characters at most)';
  switch (type) {
    case 'local':
      if (!isSafeAbsPath(address)) return 'a local repository is an absolute path of letters, digits and . _ - / with no .. segment';
      if (address.replace(/\/+$/, '') === '') return 'the root directory cannot be a repository';
      return null;
    case 'nfs': {
      const i = address.indexOf(':/'); // not the first ':', which may be inside [an IPv6 address]
      const host = i < 0 ? '' : address.slice(0, i);
      const path = i < 0 ? '' : address.slice(i + 1);
      if (!HOST_RE.test(host) || !isSafeAbsPath(path)) return 'an nfs address is host:/path (a host name or IP address, then an absolute path with no ..)';
      return null;
    }
    case 'cifs': {
      const m = /^\/\/([^/]+)\/([^/]+)((?:\/[^/]+)*)\/?$/.exec(address);
      if (!m || !HOST_RE.test(m[1]) || !SHARE_RE.test(m[2]) || (m[3] && !isSafeAbsPath(m[3]))) {
        return 'a cifs address is //host/share[/path]';
      }
      return null;
    }
    case 'cephfs': {
      const i = address.indexOf(':/');
      const mons = i < 0 ? [] : address.slice(0, i).split(',');
      const path = i < 0 ? '' : address.slice(i + 1);
      if (!mons.length || !mons.every((m) => MON_RE.test(m)) || !isSafeAbsPath(path)) {
        return 'a cephfs address is mon1[:port],mon2[:port]:/path';
      }
      return null;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Settings

export const SettingScopeSchema = z.enum(SETTING_SCOPES);
export const SetSettingSchema = z
  .object({
    scope: SettingScopeSchema.default('global'),
    /** The zone's or account's id; absent for global. */
    scopeId: Uuid.nullish(),
    value: z.unknown(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.value === undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: 'is required' });
    if (b.scope === 'global' && b.scopeId) ctx.addIssue({ code: 'custom', path: ['scopeId'], message: 'a global setting has no scopeId' });
    if (b.scope !== 'global' && !b.scopeId) ctx.addIssue({ code: 'custom', path: ['scopeId'], message: `the ${b.scope} id is required for scope ${b.scope}` });
  });
export type SetSettingRequest = z.infer<typeof SetSettingSchema>;

/** Where to read a setting's effective value. */
export const SettingScopeQuery = z.object({ zoneId: Uuid.optional(), accountId: Uuid.optional() });
/** Strict, so that a mistyped key (zoneId for scopeId) cannot reset the global value instead. */
export const ResetSettingQuery = z
  .object({ scope: SettingScopeSchema.default('global'), scopeId: Uuid.optional() })
  .strict()
  .superRefine((b, ctx) => {
    if (b.scope === 'global' && b.scopeId) ctx.addIssue({ code: 'custom', path: ['scopeId'], message: 'a global setting has no scopeId' });
    if (b.scope !== 'global' && !b.scopeId) ctx.addIssue({ code: 'custom', path: ['scopeId'], message: `the ${b.scope} id is required for scope ${b.scope}` });
  });

// ---------------------------------------------------------------------------------------------------
// Repositories

const RepoName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$/, 'letters, digits, space . _ - (1 to 64, starting with a letter or digit)');
const MountOptions = z.string().superRefine((s, ctx) => {
  const why = validateMountOptions(s);
  if (why) ctx.addIssue({ code: 'custom', message: why });
});
const Capacity = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const CreateRepositorySchema = z
  .object({
    name: RepoName,
    zoneId: Uuid,
    type: RepositoryType,
    address: z.string().min(1).max(1024),
    mountOptions: MountOptions.default(''),
    capacityBytes: Capacity.nullish(),
  })
  .strict()
  .superRefine((b, ctx) => {
    const why = validateRepositoryAddress(b.type, b.address);
    if (why) ctx.addIssue({ code: 'custom', path: ['address'], message: why });
    if (b.type === 'local' && b.mountOptions) ctx.addIssue({ code: 'custom', path: ['mountOptions'], message: 'a local repository is not mounted: it takes no mount options' });
  });
export type CreateRepositoryRequest = z.infer<typeof CreateRepositorySchema>;

/** The type stays; an address is checked against it by the route, which knows the stored type. */
export const UpdateRepositorySchema = z
  .object({
    name: RepoName.optional(),
    address: z.string().min(1).max(1024).optional(),
    mountOptions: MountOptions.optional(),
    capacityBytes: Capacity.nullish(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: 'nothing to update' });
export type UpdateRepositoryRequest = z.infer<typeof UpdateRepositorySchema>;

// ---------------------------------------------------------------------------------------------------
// Offerings

const OfferingName = z.string().min(1).max(255).regex(/^[^\u0000-\u001f]+$/, 'no control characters');
const Description = z.string().max(4096);
const ChainSize = z.number().int().min(-1).max(10_000);

/** The feature fields of a kboss offering, before their cross-checks. */
const KbossFeatures = {
  compress: z.boolean(),
  compressionLibrary: CompressionLibrary.nullish(),
  validate: z.boolean(),
  validationSteps: z.array(ValidationStep).max(3),
  allowQuickRestore: z.boolean(),
  allowExtractFile: z.boolean(),
  backupChainSize: ChainSize.nullish(),
};

export interface OfferingFeatures {
  compress: boolean; compressionLibrary: 'zstd' | 'zlib' | null; validate: boolean; validationSteps: string[];
  isPublic: boolean; domainIds: string[];
}

/** Cross-field rules of an offering (after a create's defaults or an update's merge): the offending field and why, or null. */
export function offeringInconsistency(o: OfferingFeatures): { field: string; message: string } | null {
  if (!o.compress && o.compressionLibrary) return { field: 'compressionLibrary', message: 'only an offering with compress=true has a compression library' };
  if (o.validate && o.validationSteps.length === 0) return { field: 'validationSteps', message: 'validate=true needs at least one validation step' };
  if (!o.validate && o.validationSteps.length > 0) return { field: 'validationSteps', message: 'validation steps need validate=true' };
  if (new Set(o.validationSteps).size !== o.validationSteps.length) return { field: 'validationSteps', message: 'a step is given twice' };
  if (o.isPublic && o.domainIds.length > 0) return { field: 'domainIds', message: 'a public offering is open to all: give domainIds with isPublic=false' };
  if (!o.isPublic && o.domainIds.length === 0) return { field: 'domainIds', message: 'a dedicated offering (isPublic=false) needs at least one domain' };
  if (new Set(o.domainIds).size !== o.domainIds.length) return { field: 'domainIds', message: 'a domain is given twice' };
  return null;
}

const addInconsistency = (o: OfferingFeatures, ctx: z.RefinementCtx) => {
  const bad = offeringInconsistency(o);
  if (bad) ctx.addIssue({ code: 'custom', path: [bad.field], message: bad.message });
};

/** createBackupOffering: a kboss offering with its features. */
export const CreateOfferingSchema = z
  .object({
    name: OfferingName,
    description: Description.optional(),
    zoneId: Uuid,
    repositoryId: Uuid,
    allowUserDrivenBackups: z.boolean().default(true),
    isPublic: z.boolean().default(true),
    domainIds: z.array(Uuid).max(100).default([]),
    compress: KbossFeatures.compress.default(false),
    compressionLibrary: KbossFeatures.compressionLibrary,
    validate: KbossFeatures.validate.default(false),
    validationSteps: KbossFeatures.validationSteps.default([]),
    allowQuickRestore: KbossFeatures.allowQuickRestore.default(false),
    allowExtractFile: KbossFeatures.allowExtractFile.default(false),
    backupChainSize: KbossFeatures.backupChainSize,
  })
  .strict()
  .transform((b) => ({ ...b, compressionLibrary: b.compressionLibrary ?? (b.compress ? ('zstd' as const) : null) }))
  .superRefine((b, ctx) => addInconsistency(b, ctx));
export type CreateOfferingRequest = z.infer<typeof CreateOfferingSchema>;

/** importBackupOffering: one of the provider's offerings (nas: a repository of the zone) becomes a backup offering. */
export const ImportOfferingSchema = z
  .object({
    name: OfferingName,
    description: Description.optional(),
    zoneId: Uuid,
    externalId: z.string().min(1).max(255).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : -'),
    allowUserDrivenBackups: z.boolean().default(true),
    isPublic: z.boolean().default(true),
    domainIds: z.array(Uuid).max(100).default([]),
  })
  .strict()
  .superRefine((b, ctx) => addInconsistency({ ...b, compress: false, compressionLibrary: null, validate: false, validationSteps: [] }, ctx));
export type ImportOfferingRequest = z.infer<typeof ImportOfferingSchema>;

/** updateBackupOffering: every offering's name, description, user-driven flag and audience; a kboss offering's features too. */
export const UpdateOfferingSchema = z
  .object({
    name: OfferingName.optional(),
    description: Description.nullish(),
    allowUserDrivenBackups: z.boolean().optional(),
    isPublic: z.boolean().optional(),
    domainIds: z.array(Uuid).max(100).optional(),
    repositoryId: Uuid.optional(),
    compress: KbossFeatures.compress.optional(),
    compressionLibrary: KbossFeatures.compressionLibrary,
    validate: KbossFeatures.validate.optional(),
    validationSteps: KbossFeatures.validationSteps.optional(),
    allowQuickRestore: KbossFeatures.allowQuickRestore.optional(),
    allowExtractFile: KbossFeatures.allowExtractFile.optional(),
    backupChainSize: KbossFeatures.backupChainSize,
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: 'nothing to update' });
export type UpdateOfferingRequest = z.infer<typeof UpdateOfferingSchema>;
/** The fields only kboss offerings have; an update of another provider's offering may not touch them. */
export const KBOSS_ONLY_FIELDS = [
  'repositoryId', 'compress', 'compressionLibrary', 'validate', 'validationSteps', 'allowQuickRestore', 'allowExtractFile', 'backupChainSize',
] as const;

// ---------------------------------------------------------------------------------------------------
// VM assignment

export const AssignOfferingSchema = z.object({ offeringId: Uuid }).strict();
export type AssignOfferingRequest = z.infer<typeof AssignOfferingSchema>;
export const RemoveOfferingQuery = z
  .object({ forced: z.enum(['true', 'false']).default('false').transform((v) => v === 'true') })
  .strict();
