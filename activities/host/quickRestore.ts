import { ApplicationFailure } from '@temporalio/common';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fail, Failure } from '../../common/failures';
import { preRestorePath, repositoryFile, restoreTmpPath } from '../../common/layout';
import { CommandError } from './exec';
import { activityContext, heartbeat, sleepCancellable, throwIfCancelled } from './heartbeat';
import { restoreFormat, RestoreFormat, verifyBackupChain, writeFlatCopy } from './lib/backupChain';
import { copyOwnership, exists, fsyncFile, renameDurably } from './lib/files';
import { flushDisk, liveDisk, onDomain, startPull, throwIfStopped } from './lib/pull';
import * as qemuImg from './lib/qemuImg';
import { blockJobInfo } from './lib/virt/jobs';
import { domainIsRunningNow, virsh } from './lib/virt/virsh';
import { assertNotInUse, keepOldVolume, putBackOldVolume, replaceVolume } from './lib/volumes';

/*
 * Quick restore: each volume becomes a qcow2 overlay whose backing file is the backup in the
 * repository (absolute path; the backup's own parents follow by their relative backing paths), the VM
 * starts at once, and the data is pulled into the overlay while it runs (blockpull), or offline
 * (qemu-img rebase -b "") if it is stopped. The old volume is kept as `<volume>.pre-restore-<restoreId>`
 * until finishRestore (restore.ts), or put back by abortQuickRestoreDisk if the VM never started.
 */

const MiB = 1024 * 1024;

/**
 * Moves the volume aside (kept as `<targetPath>.pre-restore-<restoreId>`) and creates at targetPath an
 * overlay on the backup file. Idempotent: a volume that already is an overlay on this backup is left.
 */
export async function prepareQuickRestoreDisk(input: {
  repoPath: string;
  file: string;
  targetPath: string;
  restoreId: string;
  /** The volume's format on the VM; anything but qcow2 cannot be an overlay and is restored whole. */
  format?: string;
}): Promise<{ overlayPath: string }> {
  const src = repositoryFile(path.resolve(input.repoPath), input.file);
  const targetPath = path.resolve(input.targetPath);
  const tmp = restoreTmpPath(targetPath, input.restoreId);
  const pre = preRestorePath(targetPath, input.restoreId);
  const [top] = await verifyBackupChain(src);
  const format = restoreFormat(input.format);
  if (format !== 'qcow2') return restoreWhole(src, targetPath, input.restoreId, format);

  if (await exists(targetPath)) {
    const info = await qemuImg.info(targetPath, 'qcow2').catch(() => null);
    if (info && backingOf(info, targetPath) === src) {
      await fs.rm(tmp, { force: true });
      return { overlayPath: targetPath };
    }
    await assertNotInUse(targetPath);
    await keepOldVolume(targetPath, pre);
  }
  await fs.mkdir(path.dirname(targetPath), { recursive: true });
  await fs.rm(tmp, { force: true });
  try {
    await qemuImg.create({ file: tmp, size: top['virtual-size'], backing: { path: src, format: top.format } });
    await copyOwnership((await exists(pre)) ? pre : targetPath, tmp);
    await fsyncFile(tmp);
    await renameDurably(tmp, targetPath);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  return { overlayPath: targetPath };
}

/**
 * A volume QEMU opens as raw cannot be a copy-on-write overlay: it is restored whole (kept old volume,
 * flattened copy, swap) before the VM starts, so it needs no consolidation. Idempotent: swapped already
 * (old volume kept, no copy left) is done.
 */
async function restoreWhole(src: string, targetPath: string, restoreId: string, format: RestoreFormat): Promise<{ overlayPath: string }> {
  const tmp = restoreTmpPath(targetPath, restoreId);
  const pre = preRestorePath(targetPath, restoreId);
  if ((await exists(pre)) && !(await exists(tmp))) return { overlayPath: targetPath };
  await assertNotInUse(targetPath);
  await writeFlatCopy(src, tmp, targetPath, format);
  await replaceVolume(tmp, targetPath, restoreId);
  return { overlayPath: targetPath };
}

/** The VM never started from its overlays: the old volume goes back in place of the overlay. */
export async function abortQuickRestoreDisk(input: { targetPath: string; restoreId: string }): Promise<{ restored: boolean }> {
  return { restored: (await putBackOldVolume(path.resolve(input.targetPath), input.restoreId, false)) === 'restored' };
}

/** virsh start; a VM already running is fine. */
export async function startDomain(input: { domain: string }): Promise<{ started: boolean }> {
  if (await domainIsRunning(input)) return { started: false };
  return startStoppedDomain(input.domain);
}

/** virsh start of a domain just seen stopped (no second look); one that started meanwhile is fine. */
export async function startStoppedDomain(domain: string): Promise<{ started: boolean }> {
  try {
    await virsh(['start', domain]);
  } catch (e) {
    if (e instanceof CommandError && /already (active|running)/i.test(e.stderr)) return { started: false };
    throw e;
  }
  return { started: true };
}

/** Running or paused (a QEMU process exists); an unknown domain is not running. */
export async function domainIsRunning(input: { domain: string }): Promise<boolean> {
  return domainIsRunningNow(input.domain);
}

/**
 * Live consolidation of one disk: `virsh blockpull` (a block-stream job in QEMU, which drops the backing
 * file when it completes), polled every second with heartbeats {cur, end, percent}. Returns once no job
 * is left and the disk has no backing file. A pull already running (the worker restarted) is re-attached
 * to. The domain stopping meanwhile: DomainNotRunning (non-retryable; finish with consolidateOffline).
 * Cancelled: the job is aborted (what was pulled stays; the overlay is consistent either way).
 */
export async function pullDisk(input: { domain: string; target: string; bandwidthMiB?: number }): Promise<{ bytes: number }> {
  const { domain, target } = input;
  const bandwidthMiB = input.bandwidthMiB && input.bandwidthMiB > 0 ? Math.ceil(input.bandwidthMiB) : 0;
  const signal = activityContext()?.cancellationSignal;
  let end = 0;
  let starts = 0;
  let idleSince: number | null = null;
  let settledSince: number | null = null;
  try {
    for (;;) {
      throwIfCancelled();
      const job = await onDomain(domain, () => blockJobInfo(domain, target));
      if (job) {
        idleSince = null;
        if (!/pull/i.test(job.type)) {
          throw fail.retryable(Failure.BlockJobBusy, `disk ${target} of ${domain} is busy with another block job (${job.type})`);
        }
        if (job.bandwidth !== bandwidthMiB * MiB) {
          await onDomain(domain, () => virsh(['blockjob', domain, target, '--bandwidth', String(bandwidthMiB)])).catch((e) => {
            if (e instanceof ApplicationFailure) throw e;
            /* the job may have just ended */
          });
        }
        end = job.end;
        heartbeat({ cur: job.cur, end: job.end, percent: job.end ? Math.floor((job.cur / job.end) * 1000) / 10 : 0 });
      } else {
        const disk = await onDomain(domain, () => liveDisk(domain, target));
        const header = await qemuImg.info(disk.path, 'qcow2');
        if (!header['backing-filename']) {
          // The overlay is standalone. Let libvirt catch up (it closes the backing files), then done.
          settledSince ??= Date.now();
          if (!disk.backing || !(await domainIsRunning({ domain })) || Date.now() - settledSince > 30_000) {
            await flushDisk(domain, disk.path);
            heartbeat({ cur: end || header['virtual-size'], end: end || header['virtual-size'], percent: 100 });
            return { bytes: end || header['virtual-size'] };
          }
        } else {
          await throwIfStopped(domain);
          // No job but still a backing file: not started yet, or a job that ended without completing
          // (aborted by someone, or failed). A finished job may take a moment to show in the header.
          if (starts === 0 || (idleSince !== null && Date.now() - idleSince > 5_000)) {
            if (starts >= 5) {
              throw fail.retryable(Failure.PullIncomplete, `blockpull of ${target} on ${domain} keeps ending before completion`);
            }
            await startPull(domain, target, bandwidthMiB);
            starts++;
            idleSince = null;
          } else idleSince ??= Date.now();
          heartbeat({ cur: 0, end, percent: 0 });
        }
      }
      await sleepCancellable(1000);
    }
  } catch (e) {
    if (signal?.aborted) {
      await virsh(['blockjob', domain, target, '--abort']).catch(() => undefined);
    }
    throw e;
  }
}

/**
 * Offline consolidation of a stopped VM's overlay: every byte the overlay lacks is copied from the backing
 * chain and the backing file dropped (`qemu-img rebase -b ""`, safe mode). Nothing to do if it has no
 * backing file. Interrupted, it is simply run again (what was copied equals the backing data).
 */
export async function consolidateOffline(input: { path: string }): Promise<{ bytes: number }> {
  const info = await qemuImg.info(input.path, 'qcow2');
  if (!info['backing-filename']) return { bytes: 0 };
  await qemuImg.rebase({ file: input.path, backing: '', progress: (percent) => ({ phase: 'consolidating', percent }) });
  await fsyncFile(input.path);
  const after = await qemuImg.info(input.path, 'qcow2');
  if (after['backing-filename']) throw fail.retryable(Failure.NotConsolidated, `${input.path} still has backing file ${after['backing-filename']}`);
  return { bytes: info['virtual-size'] };
}

/** The backing files under a volume (none once it is consolidated), as qemu-img resolves them. */
export async function backingChain(input: { path: string }): Promise<string[]> {
  return (await qemuImg.chain(input.path, 'qcow2')).slice(1).map((i) => i.filename);
}

/** The backing file a qcow2 header names, resolved against the image's folder. */
function backingOf(info: qemuImg.ImageInfo, file: string): string | null {
  const b = info['full-backing-filename'] ?? info['backing-filename'];
  return b ? path.resolve(path.dirname(file), b) : null;
}
