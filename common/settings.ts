import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';

/**
 * The backup framework's settings: each one's type, default and the scopes it may be set at. A value
 * set at a narrower scope wins: account > zone > global > the default here. Values are kept typed
 * (jsonb numbers and booleans), so readers get numbers as numbers and booleans as booleans.
 */
export type SettingScope = 'global' | 'zone' | 'account';
export const SETTING_SCOPES = ['global', 'zone', 'account'] as const;
export const PROVIDERS = ['dummy', 'nas', 'kboss'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** Accepts the value typed, or as the string an operator would type ("true", "300"). */
const bool = () => z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());
const numberFrom = (v: unknown) => (typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v);
const int = (min?: number, max?: number) => {
  let s = z.number().int();
  if (min !== undefined) s = s.min(min);
  if (max !== undefined) s = s.max(max);
  return z.preprocess(numberFrom, s);
};
const num = (min: number, max: number) => z.preprocess(numberFrom, z.number().min(min).max(max));

export interface SettingDefinition<S extends z.ZodType = z.ZodType> {
  schema: S;
  default: z.output<S>;
  /** How the API describes the type. */
  type: 'boolean' | 'integer' | 'number' | 'enum';
  values?: readonly string[];
  min?: number;
  max?: number;
  unit: string | null;
  scopes: readonly SettingScope[];
  description: string;
}

function def<S extends z.ZodType>(d: SettingDefinition<S>): SettingDefinition<S> {
  return d;
}

const GZ = ['global', 'zone'] as const;
const GZA = ['global', 'zone', 'account'] as const;
const DAY = 24 * 3600;

/** backup.max.<interval>: the most backups a schedule of that interval type may keep (CloudStack's names). */
function maxBackupSettings() {
  const one = (interval: string) =>
    def({
      schema: int(1, 10_000), default: 8, type: 'integer', min: 1, max: 10_000, unit: 'backups', scopes: GZA,
      description: `The most backups a ${interval} backup schedule may keep (its maxBackups).`,
    });
  return {
    'backup.max.hourly': one('HOURLY'),
    'backup.max.daily': one('DAILY'),
    'backup.max.weekly': one('WEEKLY'),
    'backup.max.monthly': one('MONTHLY'),
  };
}

export const SETTINGS = {
  'backup.framework.enabled': def({
    schema: bool(), default: false, type: 'boolean', unit: null, scopes: GZ,
    description: 'Whether the backup framework is enabled: backup operations in a zone where it is not are refused.',
  }),
  'backup.framework.provider.plugin': def({
    schema: z.enum(PROVIDERS), default: 'dummy' as ProviderName, type: 'enum', values: PROVIDERS, unit: null, scopes: GZ,
    description: 'The backup provider of the zone: it decides which offerings and operations apply there.',
  }),
  'backup.framework.sync.interval': def({
    schema: int(10, DAY), default: 300, type: 'integer', min: 10, max: DAY, unit: 's', scopes: ['global'],
    description: 'How often backups are reconciled with their provider.',
  }),
  'backup.chain.size': def({
    schema: int(-1, 10_000), default: 8, type: 'integer', min: -1, max: 10_000, unit: 'backups', scopes: GZA,
    description: 'Backups in a chain (a full and its incrementals) before a new full: 1 means always full, below 1 unlimited.',
  }),
  'backup.quiesce.freeze.guard': def({
    schema: int(5, 3600), default: 60, type: 'integer', min: 5, max: 3600, unit: 's', scopes: GZ,
    description: 'Longest a guest stays frozen for a quiesced backup: a guard on the host thaws it then, even if the host worker died.',
  }),
  'backup.quickrestore.pull.rate.limit': def({
    schema: int(0, 1_000_000), default: 0, type: 'integer', min: 0, max: 1_000_000, unit: 'MiB/s', scopes: GZ,
    description: "Bandwidth of quick restore's live consolidation (blockpull), to spare the VM's I/O; 0 is none.",
  }),
  'backup.compression.task.enabled': def({
    schema: bool(), default: true, type: 'boolean', unit: null, scopes: GZA,
    description: 'Whether backups of offerings with compression are compressed after they are taken (off for a zone or an account: not started).',
  }),
  'backup.compression.max.concurrent.operations.per.host': def({
    schema: int(1, 1000), default: 5, type: 'integer', min: 1, max: 1000, unit: 'operations', scopes: GZ,
    description: 'Compression jobs running at once on one host.',
  }),
  'backup.compression.max.concurrent.operations': def({
    schema: int(1, 10_000), default: 10, type: 'integer', min: 1, max: 10_000, unit: 'operations', scopes: GZ,
    description: 'Compression jobs running at once in a zone.',
  }),
  'backup.compression.max.job.retries': def({
    schema: int(0, 100), default: 2, type: 'integer', min: 0, max: 100, unit: 'retries', scopes: GZ,
    description: 'How often a failed compression job is retried.',
  }),
  'backup.compression.retry.interval': def({
    schema: int(1, 7 * 24 * 60), default: 60, type: 'integer', min: 1, max: 7 * 24 * 60, unit: 'min', scopes: GZ,
    description: 'Wait between retries of a failed compression job.',
  }),
  'backup.compression.timeout': def({
    schema: int(60, 7 * DAY), default: 28_800, type: 'integer', min: 60, max: 7 * DAY, unit: 's', scopes: GZ,
    description: 'How long one compression job may run.',
  }),
  'backup.compression.minimum.free.storage': def({
    schema: num(0, 100), default: 1, type: 'number', min: 0, max: 100, unit: 'x backup size', scopes: GZ,
    description: "Free space the repository must have to compress a backup, as a factor of the backup's size.",
  }),
  'backup.compression.coroutines': def({
    schema: int(1, 64), default: 1, type: 'integer', min: 1, max: 64, unit: 'coroutines', scopes: GZ,
    description: 'Parallel coroutines of one compression (qemu-img convert -m).',
  }),
  'backup.compression.rate.limit': def({
    schema: int(0, 1_000_000), default: 0, type: 'integer', min: 0, max: 1_000_000, unit: 'MB/s', scopes: GZ,
    description: 'Throughput limit of one compression job; 0 is none.',
  }),
  'backup.validation.task.enabled': def({
    schema: bool(), default: true, type: 'boolean', unit: null, scopes: GZA,
    description: 'Whether backups of offerings with validation are validated.',
  }),
  'backup.validation.interval': def({
    schema: int(1, 24 * 365), default: 24, type: 'integer', min: 1, max: 24 * 365, unit: 'h', scopes: GZ,
    description: 'How often every backup\'s own files are hashed again and compared with their recorded hashes (re-hash).',
  }),
  'backup.validation.max.concurrent.operations': def({
    schema: int(1, 10_000), default: 10, type: 'integer', min: 1, max: 10_000, unit: 'operations', scopes: GZ,
    description: 'Validations running at once in a zone.',
  }),
  'backup.validation.max.concurrent.operations.per.host': def({
    schema: int(1, 1000), default: 1, type: 'integer', min: 1, max: 1000, unit: 'operations', scopes: GZ,
    description: 'Validations running at once on one host.',
  }),
  'backup.validation.boot.default.timeout': def({
    schema: int(1, DAY), default: 240, type: 'integer', min: 1, max: DAY, unit: 's', scopes: GZA,
    description: 'How long a validation waits for the restored VM to boot.',
  }),
  'backup.validation.script.default.timeout': def({
    schema: int(1, DAY), default: 60, type: 'integer', min: 1, max: DAY, unit: 's', scopes: GZA,
    description: 'How long a validation command may run in the restored VM.',
  }),
  'backup.validation.screenshot.default.wait': def({
    schema: int(0, DAY), default: 60, type: 'integer', min: 0, max: DAY, unit: 's', scopes: GZA,
    description: 'Wait after boot before the validation screenshot is taken.',
  }),
  'backup.validation.end.chain.on.fail': def({
    schema: bool(), default: true, type: 'boolean', unit: null, scopes: GZA,
    description: 'Whether a failed validation ends the backup chain, so the next backup is a full.',
  }),
  ...maxBackupSettings(),
} as const;

export type SettingName = keyof typeof SETTINGS;
export type SettingValue<N extends SettingName> = z.output<(typeof SETTINGS)[N]['schema']>;
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

export interface ResolvedSetting<N extends SettingName = SettingName> {
  name: N;
  value: SettingValue<N>;
  /** Where the value came from: the narrowest scope that sets it, or the registry's default. */
  source: SettingScope | 'default';
  /** The zone's or account's id when source is 'zone' or 'account'. */
  scopeId?: string;
}

export interface SettingLookupScope { zoneId?: string | null; accountId?: string | null }

export const isSettingName = (name: string): name is SettingName => Object.prototype.hasOwnProperty.call(SETTINGS, name);

export function settingDefinition<N extends SettingName>(name: N): (typeof SETTINGS)[N] {
  return SETTINGS[name];
}

/** Checks a value for a setting: the typed value, or why it is not acceptable. */
export function parseSettingValue(name: SettingName, raw: unknown): { ok: true; value: unknown } | { ok: false; message: string } {
  const r = (SETTINGS[name].schema as z.ZodType).safeParse(raw);
  return r.success ? { ok: true, value: r.data } : { ok: false, message: r.error.issues[0]?.message ?? 'invalid value' };
}

interface StoredRow { name: string; scope: SettingScope; scope_id: string | null; value: unknown }

/** Picks the narrowest stored value the setting may have at that scope and that still parses. */
function pick<N extends SettingName>(name: N, rows: StoredRow[], scope: SettingLookupScope): ResolvedSetting<N> {
  const d = SETTINGS[name] as SettingDefinition;
  const order: [SettingScope, string | null | undefined][] = [
    ['account', scope.accountId],
    ['zone', scope.zoneId],
    ['global', null],
  ];
  for (const [sc, id] of order) {
    if (!d.scopes.includes(sc)) continue;
    if (sc !== 'global' && !id) continue;
    const row = rows.find((r) => r.name === name && r.scope === sc && (sc === 'global' ? r.scope_id === null : r.scope_id === id));
    if (!row) continue;
    const parsed = d.schema.safeParse(row.value);
    // A value that no longer fits the registry (edited by hand, or a narrowed type) is passed over.
    if (!parsed.success) continue;
    return { name, value: parsed.data as SettingValue<N>, source: sc, ...(sc === 'global' ? {} : { scopeId: id as string }) };
  }
  return { name, value: d.default as SettingValue<N>, source: 'default' };
}

/** The effective values of several settings for a zone and/or account, in one query. */
export async function resolveSettings<N extends SettingName>(
  db: Pool | PoolClient,
  names: readonly N[],
  scope: SettingLookupScope = {},
): Promise<{ [K in N]: ResolvedSetting<K> }> {
  for (const n of names) if (!isSettingName(n)) throw new Error(`unknown setting ${n}`);
  const r = await db.query<StoredRow>(
    `SELECT name, scope, scope_id, value FROM settings
     WHERE name = ANY($1::text[])
       AND (scope = 'global' OR (scope = 'zone' AND scope_id = $2::uuid) OR (scope = 'account' AND scope_id = $3::uuid))`,
    [names, scope.zoneId ?? null, scope.accountId ?? null],
  );
  const out = {} as { [K in N]: ResolvedSetting<K> };
  for (const n of names) (out as Record<string, ResolvedSetting>)[n] = pick(n, r.rows, scope);
  return out;
}

/** The effective value of one setting for a zone and/or account, and where it came from. */
export async function resolveSetting<N extends SettingName>(db: Pool | PoolClient, name: N, scope: SettingLookupScope = {}): Promise<ResolvedSetting<N>> {
  return (await resolveSettings(db, [name], scope))[name];
}
