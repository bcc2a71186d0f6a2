import { z } from 'zod';
import { RepositoryRefSchema } from './backups';
import { CompressionLibrary } from './offerings';

/** What a service job does to a backup: compress (two phases), validate in a throwaway VM, hash once, re-hash. */
export const ServiceJobType = z.enum(['StartCompression', 'FinalizeCompression', 'BackupValidation', 'BackupHash', 'BackupRehash']);
export type ServiceJobType = z.infer<typeof ServiceJobType>;

/** A backup's compression, beside its status (a backup stays BackedUp, and readable, throughout). */
export const CompressionStatus = z.enum(['Pending', 'Compressing', 'FinalizingCompression', 'Compressed', 'CompressionError']);
export type CompressionStatus = z.infer<typeof CompressionStatus>;

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');

/** listBackupServiceJobs' filters. */
export const ListServiceJobsQuery = z
  .object({
    id: z.guid().optional(),
    backupId: z.guid().optional(),
    hostId: z.guid().optional(),
    zoneId: z.guid().optional(),
    type: ServiceJobType.optional(),
    executing: bool.optional(),
    /** true: only jobs waiting for a later attempt (a scheduled date); false: only the others. */
    scheduled: bool.optional(),
    page: z.coerce.number().int().min(1).default(1),
    pageSize: z.coerce.number().int().min(1).max(500).default(50),
  })
  .strict();

/** Starts compression of the backups that are due (offering compresses, not compressed yet, task enabled). */
export const CompressDueSchema = z.object({ zoneId: z.guid().optional() }).strict();

/** What every service job's plan starts with: the backup, where it is, and why there is nothing to do (or null). */
export interface ServiceJobSite {
  backupId: string;
  skip: string | null;
  vm: { id: string; name: string };
  hostId: string;
  zoneId: string;
  hostTaskQueue: string;
  repository: z.infer<typeof RepositoryRefSchema>;
}

/** Everything a compression workflow needs, read from the catalog at its start (skip: not BackedUp, compressed already...). */
export interface CompressionPlan extends ServiceJobSite {
  targets: string[];
  sizeBytes: number;
  library: z.infer<typeof CompressionLibrary>;
  compressionStatus: CompressionStatus | null;
  /** The attempts already made by earlier runs (a new run after a worker restart goes on counting). */
  attempts: number;
  settings: {
    maxRetries: number; retryIntervalMinutes: number; timeoutSeconds: number; minimumFreeFactor: number; coroutines: number; rateLimitMB: number;
  };
}

/** The service job a backup needs next (compress, then validate, then hash), with what its workflow id and search attributes need. */
export interface NextServiceJob { kind: 'compress' | 'validate' | 'hash'; backupId: string; vmId: string; vmName: string; hostId: string; zone: string }
