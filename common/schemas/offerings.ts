import { z } from 'zod';
import { PROVIDERS } from '../settings';
import { Uuid } from './primitives';

/** Backup offerings: imported from a provider, or (kboss) created with their features. */

export const Provider = z.enum(PROVIDERS);
export const CompressionLibrary = z.enum(['zstd', 'zlib']);
export const ValidationStep = z.enum(['wait_for_boot', 'execute_command', 'screenshot']);

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
  compress: boolean; compressionLibrary: z.infer<typeof CompressionLibrary> | null; validate: boolean; validationSteps: string[];
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

/** What names a new offering and where it is. */
const NewOffering = { name: OfferingName, description: Description.optional(), zoneId: Uuid };
/** Who may use a new offering: by default everyone, with user-driven backups. */
const NewAudience = {
  allowUserDrivenBackups: z.boolean().default(true),
  isPublic: z.boolean().default(true),
  domainIds: z.array(Uuid).max(100).default([]),
};

/** createBackupOffering: a kboss offering with its features. */
export const CreateOfferingSchema = z
  .object({
    ...NewOffering,
    repositoryId: Uuid,
    ...NewAudience,
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
    ...NewOffering,
    externalId: z.string().min(1).max(255).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : -'),
    ...NewAudience,
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
