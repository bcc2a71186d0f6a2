import { ApplicationFailure } from '@temporalio/common';

/**
 * Every ApplicationFailure type Backflow raises, in one place, so activities, workflows and retry
 * policies (nonRetryableErrorTypes) name the same strings. Pure: workflows may import it.
 */
export const Failure = {
  // The catalog
  /** A VM, backup or restore the request names is not in the catalog. */
  NotFound: 'NotFound',
  /** The VM is not assigned to a backup offering. */
  NoOffering: 'NoOffering',
  /** The VM's offering has no backup repository to write to. */
  NoRepository: 'NoRepository',
  /** The backup cannot be restored: not BackedUp, or has no files (dummy provider). */
  NotRestorable: 'NotRestorable',
  /** Deleting the backup would orphan a backup that backs onto it; forced=true merges it first. */
  HasDependents: 'HasDependents',
  /** The VM is no longer the calling account's (it changed owner after the API checked). */
  Forbidden: 'Forbidden',
  /** The backup record is not in the state this step expects (e.g. BackingUp). */
  WrongState: 'WrongState',

  // Waiting for a turn (retryable: the step is tried again until the turn comes)
  /** Another operation holds the VM (withVmLocks). */
  VmBusy: 'VmBusy',
  /** Every slot of a counted resource is taken (withSlots). */
  SlotBusy: 'SlotBusy',
  /** A workflow asked for a slot while holding a VM lock: slots come first, then the VM. */
  LockOrder: 'LockOrder',

  // Repository files
  /** A backup file or its chain is missing, unreadable, marked corrupt or fails qemu-img check. */
  CorruptBackup: 'CorruptBackup',
  /** A path given to a restore step is not the one the layout says (or leaves the repository). */
  BadRestorePath: 'BadRestorePath',
  /** The flattened restore copy is gone and there is no volume to fall back on. */
  RestoreCopyMissing: 'RestoreCopyMissing',
  /** The flattened restore copy fails qemu-img check (retryable: the copy is made again). */
  RestoreCheckFailed: 'RestoreCheckFailed',
  /** The repository's id or type is not valid for mounting. */
  InvalidRepository: 'InvalidRepository',
  /** The repository's mount options are not on the allow-list. */
  InvalidMountOptions: 'InvalidMountOptions',
  /** Something else is mounted where the repository belongs. */
  MountPointBusy: 'MountPointBusy',
  /** A local repository's folder is not inside this host's repository roots. */
  RepositoryOutsideRoots: 'RepositoryOutsideRoots',
  /** A running VM's QEMU cannot see the backup folder (mounted after it started, in its own mount namespace). */
  RepositoryNotVisibleToVm: 'RepositoryNotVisibleToVm',

  // Domains and disks
  /** A host step got an argument it refuses (bad name, UUID, format or volume name). */
  BadRequest: 'BadRequest',
  /** libvirt already has a domain by that name or UUID. */
  NameTaken: 'NameTaken',
  /** A new volume's claimed path holds another file when the copy is put there. */
  PathTaken: 'PathTaken',
  /** A disk cannot be restored in the format asked for (qcow2 or raw only). */
  BadFormat: 'BadFormat',
  /** The disk is open for writing by a running QEMU: the VM must be stopped. */
  DiskInUse: 'DiskInUse',
  /** The backup or the domain has no disk with that target. */
  DiskMissing: 'DiskMissing',
  /** The target VM has no disk beside which a new volume could be created. */
  NoStorage: 'NoStorage',
  /** A restore in place needs the VM stopped. */
  VmRunning: 'VmRunning',
  /** The domain stopped while its disks were being pulled: finish offline instead. */
  DomainNotRunning: 'DomainNotRunning',
  /** Another block job runs on the disk (retryable). */
  BlockJobBusy: 'BlockJobBusy',
  /** blockpull keeps ending before the disk is standalone (retryable). */
  PullIncomplete: 'PullIncomplete',
  /** A consolidated disk still has a backing file (retryable). */
  NotConsolidated: 'NotConsolidated',

  // Backups
  /** The checkpoint or bitmap an incremental needs is gone: the next backup must be full. */
  CheckpointUnusable: 'CheckpointUnusable',
  /** The libvirt backup job (or the offline copy) failed or was cancelled by libvirt. */
  JobFailed: 'JobFailed',
  /** The backup step was cancelled. */
  Cancelled: 'Cancelled',
  /** quiesce asked for, but the guest agent does not answer. */
  NoGuestAgent: 'NoGuestAgent',
  /** The guest agent could not freeze the guest's filesystems. */
  FreezeFailed: 'FreezeFailed',
  /** The freeze guard thawed the guest before the backup job started. */
  NotQuiesced: 'NotQuiesced',

  // Compression (issue 12)
  /** The repository has less free space than backup.compression.minimum.free.storage asks for. */
  CompressionNoSpace: 'CompressionNoSpace',
  /** The job ran longer than backup.compression.timeout: its qemu-img was killed. */
  CompressionTimeout: 'CompressionTimeout',
  /** The compressed copy fails qemu-img check or differs from the original. */
  CompressionMismatch: 'CompressionMismatch',
  /** A restore reads the backup's chain: finalize waits (retryable; the wait is not an attempt). */
  RestoreReading: 'RestoreReading',
  /** The compression job failed for good, after its retries; the backup stays readable. */
  CompressionFailed: 'CompressionFailed',

  // Hashing (issue 13)
  /** Hashing a backup file reached its time limit; xxhsum was killed. */
  HashTimeout: 'HashTimeout',
  /** A file changed while it was hashed (rewritten by a merge or a compression): hashed again. */
  FileChanged: 'FileChanged',
  // Validation (issue 13)
  /** The validation VM could not be made or started (UnableToValidate, with the reason). */
  ValidationVmFailed: 'ValidationVmFailed',

  // A whole operation (raised by its workflow, with the cause in the message)
  BackupFailed: 'BackupFailed',
  RestoreFailed: 'RestoreFailed',
  /** The inventory sync returned nothing. */
  NoSyncResult: 'NoSyncResult',
} as const;

export type FailureType = (typeof Failure)[keyof typeof Failure];
export const FAILURE_TYPES = Object.values(Failure) as FailureType[];

/** Raising one: `throw fail.nonRetryable(Failure.CorruptBackup, 'backup file … is missing')`. */
export const fail = {
  nonRetryable: (type: FailureType, message: string, cause?: Error) =>
    ApplicationFailure.create({ type, message, nonRetryable: true, cause }),
  retryable: (type: FailureType, message: string, cause?: Error) =>
    ApplicationFailure.create({ type, message, nonRetryable: false, cause }),
};

/** Whether err, or any error in its chain of causes (activity → application failure), is of that type. */
export function isFailure(err: unknown, type: FailureType): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if ((e as { type?: unknown }).type === type) return true;
  }
  return false;
}
