import { z } from 'zod';
import type { ServiceJobSite } from './serviceJobs';
import { Uuid } from './primitives';

/** A backup's validation, beside its status (a NotValid backup still has its files). */
export const ValidationStatus = z.enum(['Pending', 'Validating', 'Valid', 'NotValid', 'UnableToValidate']);
export type ValidationStatus = z.infer<typeof ValidationStatus>;

/** Where a NotValid came from: a step of the validation VM, or a re-hash that found other bytes. */
export const ValidationStep = z.enum(['wait_for_boot', 'execute_command', 'screenshot', 'rehash']);
export type ValidationStepName = z.infer<typeof ValidationStep>;

/** The content hash Backflow records per backup file. */
export const HASH_ALGORITHM = 'xxh128' as const;

/** What unattended work raises for an operator to look at. */
export const AlertType = z.enum(['BackupNotValid', 'BackupUnableToValidate', 'BackupHashMismatch']);
export type AlertType = z.infer<typeof AlertType>;

export interface Alert {
  type: AlertType;
  zoneId: string | null;
  accountId: string | null;
  vmId: string | null;
  backupId: string | null;
  message: string;
  details?: Record<string, unknown>;
}

/** GET /v1/alerts: filters; users see their own account's alerts only. */
export const ListAlertsQuery = z
  .object({
    type: AlertType.optional(),
    zoneId: Uuid.optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    page: z.coerce.number().int().min(1).default(1),
    pageSize: z.coerce.number().int().min(1).max(500).default(50),
  })
  .strict();

// --- A VM's validation settings (CloudStack VM details backupValidationCommand...) -------------

/** Strict base64 (padded), as backupValidationCommandExpectedResult is given. */
const Base64 = z
  .string()
  .max(65_536)
  .refine((s) => s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s), { message: 'must be base64 (A-Z a-z 0-9 + /, padded with =)' });
const Seconds = (max: number) => z.number().int().min(1).max(max);

/** The timeouts only a root admin may set (a user setting one gets 403 naming the field). */
export const ADMIN_ONLY_VALIDATION_SETTINGS = ['commandTimeout', 'screenshotWait', 'bootTimeout'] as const;

/**
 * PUT /v1/vms/:id/validation-settings: the fields given are set (null clears one, so its default
 * applies again); the others stay as they were.
 */
export const VmValidationSettingsBody = z
  .strictObject({
    /** backupValidationCommand: the program run in the validation VM through the guest agent. */
    command: z.string().min(1).max(4096).nullable().optional(),
    /** backupValidationCommandArguments. */
    arguments: z.array(z.string().max(4096)).max(64).nullable().optional(),
    /** backupValidationCommandExpectedResult: the command's standard output, base64; unset: exit code 0 is enough. */
    expectedResult: Base64.nullable().optional(),
    /** backupValidationCommandTimeout (s). Admin only. */
    commandTimeout: Seconds(86_400).nullable().optional(),
    /** backupValidationScreenshotWait (s, 0 allowed). Admin only. */
    screenshotWait: z.number().int().min(0).max(86_400).nullable().optional(),
    /** backupValidationBootTimeout (s). Admin only. */
    bootTimeout: Seconds(86_400).nullable().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'nothing to update' });
export type VmValidationSettingsBody = z.infer<typeof VmValidationSettingsBody>;

/** What a validation needs from the VM's settings, with the defaults applied. */
export interface EffectiveValidationSettings {
  command: string | null;
  arguments: string[];
  /** base64, or null: the exit code decides. */
  expectedResult: string | null;
  commandTimeout: number;
  screenshotWait: number;
  bootTimeout: number;
}

/** Everything a validation workflow needs, read from the catalog at its start (skip: gone, not BackedUp, validated already, the offering does not validate). */
export interface ValidationPlan extends ServiceJobSite {
  /** The backup's files by target (relative to the repository root). */
  disks: { target: string; file: string }[];
  steps: ('wait_for_boot' | 'execute_command' | 'screenshot')[];
  settings: EffectiveValidationSettings;
}

/** A step's result as the host saw it: passed, or failed with what it printed (a NotValid). */
export interface StepOutcome { passed: boolean; output: string; reason?: string }
