import { z } from 'zod';
import { QueryFlag } from './primitives';
import { RepositoryType } from './repositories';

export const CreateBackupSchema = z
  .object({
    vmId: z.guid(),
    name: z.string().min(1).max(255).optional(),
    description: z.string().max(4096).optional(),
    quiesce: z.boolean().default(false),
    /** A full backup outside the running chain: nothing depends on it, the chain goes on after it. */
    isolated: z.boolean().default(false),
    /** Client request id: the same id for the same VM always yields the same backup. */
    requestId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'letters, digits and . _ : - (1 to 128)').optional(),
  })
  .strict();
export type CreateBackupRequest = z.infer<typeof CreateBackupSchema>;

export const BackupWorkflowInputSchema = CreateBackupSchema.extend({
  backupId: z.guid(),
  accountId: z.guid().nullable(),
  /** Set on runs of a backup schedule: recorded on the backup, and that schedule's retention follows. */
  scheduleId: z.guid().optional(),
});
export type BackupWorkflowInput = z.infer<typeof BackupWorkflowInputSchema>;
/** How the workflow is started: a schedule's runs carry no backupId, the workflow allocates one per run. */
export const BackupStartSchema = BackupWorkflowInputSchema.partial({ backupId: true });
export type BackupStart = z.infer<typeof BackupStartSchema>;

export const BackupStatus = z.enum(['Allocated', 'BackingUp', 'BackedUp', 'Failed', 'Error', 'Expunged', 'Missing']);
export const BackupType = z.enum(['FULL', 'INCREMENTAL']);

export const ListBackupsQuery = z.object({
  vmId: z.guid().optional(),
  zoneId: z.guid().optional(),
  offeringId: z.guid().optional(),
  status: BackupStatus.optional(),
  type: BackupType.optional(),
  page: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(500).default(50),
});

export const DeleteBackupQuery = z.object({ forced: QueryFlag });

/** Where the repository is and how a host reaches it. */
export const RepositoryRefSchema = z.object({
  id: z.guid(),
  type: RepositoryType,
  address: z.string(),
  mountOptions: z.string(),
});
export type RepositoryRef = z.infer<typeof RepositoryRefSchema>;

export interface BackupDiskRecord {
  target: string; file: string; sourcePath: string; sizeBytes: number; virtualSize: number;
  /** The disk's format on the VM (raw, qcow2...), so a restore can give it back in that format. */
  sourceFormat?: string;
  /** Why this disk was copied in full (the whole backup was full, or the disk cannot carry a dirty bitmap). */
  fullReason?: string | null;
}

/**
 * How one disk of a VM is backed up. Only a qcow2 can carry the persistent dirty bitmap a checkpoint
 * needs; any other disk (raw...) is left out of the checkpoint and copied in full every backup, with
 * no parent, while the VM's other disks go on with their incrementals.
 */
export interface DiskBackupPlan { target: string; path: string; format: string; incremental: boolean; fullReason?: string }

/** What a backup workflow needs to know, read from the catalog in one activity. */
export interface BackupPlan {
  backupId: string;
  vm: { id: string; name: string; zoneId: string; zoneName: string; hostId: string };
  hostTaskQueue: string;
  provider: 'dummy' | 'nas' | 'kboss';
  repository: RepositoryRef | null;
  chainSize: number;
  freezeGuardSeconds: number;
  status: string;
}

export interface ChainDecision {
  type: 'FULL' | 'INCREMENTAL';
  parent?: { id: string; checkpoint: string; chainId: string; chainPosition: number };
  fullReason?: string;
}
