import { z } from 'zod';
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
