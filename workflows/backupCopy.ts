import { CancellationScope } from '@temporalio/workflow';
import { carriesBitmap } from '../common/diskFormats';
import { fail, Failure } from '../common/failures';
import type { ChainDecision, DiskBackupPlan } from '../common/schemas/backups';
import type { DomainInfo } from '../common/schemas/inventory';
import type { HostSteps } from './activities';

export interface CopyInput {
  host: HostSteps;
  backupId: string;
  dom: DomainInfo;
  /** Per disk: incremental, or copied in full (a disk that cannot carry a dirty bitmap). */
  disks: DiskBackupPlan[];
  dir: string;
  chain: ChainDecision;
  /** The checkpoint this backup leaves for the next incremental; null for isolated and nas backups. */
  checkpoint: string | null;
  quiesce: boolean;
  freezeGuardSeconds: number;
}

/**
 * Running VM: push-mode libvirt backup. With quiesce, the guest is frozen just before the job starts
 * and thawed as soon as it has started; the thaw runs on every path, cancellation included.
 */
export async function copyRunningVm(c: CopyInput): Promise<{ quiesced: boolean; freezeMs: number | null }> {
  const job = {
    domain: c.dom.uuid,
    dir: c.dir,
    disks: c.disks.map((d) => d.target),
    // Copied in full and left out of the checkpoint: the disks that cannot carry a bitmap.
    fullDisks: c.disks.filter((d) => !carriesBitmap(d.format)).map((d) => d.target),
    checkpoint: c.checkpoint ?? undefined,
    parentCheckpoint: c.chain.parent?.checkpoint,
  };
  // Nothing to thaw between start and end: one activity (issue 15, fewer round trips).
  if (!c.quiesce) {
    await c.host.runLiveBackup(job);
    return { quiesced: false, freezeMs: null };
  }
  const token = c.backupId;
  await c.host.freezeGuest({ domain: c.dom.uuid, token, guardSeconds: c.freezeGuardSeconds });
  let thaw: { frozenMs: number | null; byGuard: boolean };
  try {
    await c.host.startLiveBackup(job);
  } finally {
    thaw = await CancellationScope.nonCancellable(() => c.host.thawGuest({ domain: c.dom.uuid, token }));
  }
  if (thaw.byGuard) {
    // The guard thawed the guest before the job started (the worker was interrupted): not quiesced.
    await CancellationScope.nonCancellable(() => c.host.abortLiveBackup({ domain: c.dom.uuid }));
    throw fail.nonRetryable(Failure.NotQuiesced, 'the guest was thawed by the freeze guard before the backup job started, so it would not be quiesced');
  }
  await c.host.waitLiveBackup({ domain: c.dom.uuid });
  return { quiesced: true, freezeMs: thaw.frozenMs };
}

/** Stopped VM: copied from its files, incrementals from the qcow2's persistent dirty bitmap. */
export async function copyStoppedVm(c: CopyInput): Promise<{ quiesced: boolean; freezeMs: number | null }> {
  await c.host.offlineBackup({
    domain: c.dom.uuid,
    dir: c.dir,
    disks: c.disks.map((d) => ({ target: d.target, path: d.path, format: d.format, full: !carriesBitmap(d.format) })),
    checkpoint: c.checkpoint ?? undefined,
    parentCheckpoint: c.chain.parent?.checkpoint,
  });
  return { quiesced: false, freezeMs: null };
}
