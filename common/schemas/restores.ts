import { z } from 'zod';
import type { RepositoryRef } from './backups';

const RequestId = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'letters, digits and . _ : - (1 to 128)');

/** Restore from a NotValid backup (or one whose chain a re-hash found changed) anyway; recorded on the restore. */
const Force = z.boolean().default(false);

/** restoreBackup: every disk of the VM back to the backup's point, in place (or by quick restore). */
export const RestoreBackupSchema = z.object({ quickRestore: z.boolean().default(false), requestId: RequestId.optional(), force: Force }).strict();

/** restoreVolumeFromBackupAndAttachToVM. */
export const RestoreVolumeSchema = z
  .object({
    volumeTarget: z.string().regex(/^[a-z]{2,3}[a-z]{1,2}$/, 'a disk target such as vda'),
    vmId: z.guid(),
    quickRestore: z.boolean().default(false),
    requestId: RequestId.optional(),
    force: Force,
  })
  .strict();

/** createVMFromBackup. */
export const CreateVmFromBackupSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits, . _ - (1 to 63)'),
    requestId: RequestId.optional(),
    force: Force,
  })
  .strict();

export const RestoreMode = z.enum(['in_place', 'quick', 'volume', 'new_vm']);
export type RestoreModeT = z.infer<typeof RestoreMode>;

export const ListRestoresQuery = z.object({
  backupId: z.guid().optional(),
  vmId: z.guid().optional(),
  status: z.enum(['Running', 'Consolidating', 'Succeeded', 'Failed']).optional(),
  page: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(500).default(50),
});

export interface RestoreWorkflowInput {
  restoreId: string;
  backupId: string;
  mode: RestoreModeT;
  quick: boolean;
  targetVmId?: string;
  volumeTarget?: string;
  newVmName?: string;
  accountId: string | null;
  /** A user's account: the target VM must be theirs when the restore starts (null or absent: a root admin). */
  callerAccountId?: string | null;
  requestId?: string;
  /** The caller forces a restore of a NotValid backup (the restore records it); without it such a restore is refused. */
  force?: boolean;
}

/** Where createVMFromBackup puts the new VM's disks: beside the source VM's, on its host. */
export interface NewVmFiles {
  hostTaskQueue: string;
  /** Each new disk's path and the format it is written in (a raw disk stays raw). */
  files: { target: string; path: string; format: 'raw' | 'qcow2' }[];
  /** The restore's status if it was recorded already (the same requestId again), else null. */
  restoreStatus: string | null;
}

/** Whether the new VM's name and disk paths were free on the host, and are now this restore's. */
export type NewVmClaim = { claimed: true } | { claimed: false; taken: string };

export interface RestorePlanVm { id: string; name: string; hostId: string; hostTaskQueue: string }
export interface RestorePlan {
  restoreId: string;
  status: string;
  /** Live consolidation bandwidth (MiB/s), 0 for none. */
  pullRateLimitMiB: number;
  backup: { id: string; vmId: string; accountId: string | null; createdAt: string };
  /** sourceFormat: the disk's format on the VM when it was backed up (qcow2 for backups older than that record). */
  disks: { target: string; file: string; sourcePath: string; virtualSize: number; sourceFormat: string }[];
  repository: RepositoryRef;
  sourceVm: RestorePlanVm;
  /** The VM that receives the data: the source VM, or another one for volume restores. */
  targetVm: RestorePlanVm;
}
