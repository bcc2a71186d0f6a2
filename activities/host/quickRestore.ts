import { ApplicationFailure } from '@temporalio/common';
import { XMLParser } from 'fast-xml-parser';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CommandError, run, runWithProgress } from './exec';
import { activityContext, heartbeat, sleepCancellable, throwIfCancelled } from './heartbeat';
import {
  assertNotInUse,
  backupFilePath,
  copyOwnership,
  exists,
  fsyncDir,
  fsyncFile,
  keepOldVolume,
  preRestorePath,
  putBackOldVolume,
  qemuImgChain,
  qemuImgInfo,
  QemuImgInfo,
  restoreFormat,
  RestoreFormat,
  restoreTmpPath,
  verifyBackupChain,
  writeFlatCopy,
} from './restore';
import { virsh } from './virsh';

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
  const src = backupFilePath(input.repoPath, input.file);
  const targetPath = path.resolve(input.targetPath);
  const tmp = restoreTmpPath(targetPath, input.restoreId);
  const pre = preRestorePath(targetPath, input.restoreId);
  const [top] = await verifyBackupChain(src);
  const format = restoreFormat(input.format);
  if (format !== 'qcow2') return restoreWhole(src, targetPath, input.restoreId, format);

  if (await exists(targetPath)) {
    const info = await qemuImgInfo(targetPath).catch(() => null);
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
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', src, '-F', top.format, tmp, String(top['virtual-size'])]);
    await copyOwnership((await exists(pre)) ? pre : targetPath, tmp);
    await fsyncFile(tmp);
    await fs.rename(tmp, targetPath);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  await fsyncDir(path.dirname(targetPath));
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
  await keepOldVolume(targetPath, pre);
  await copyOwnership((await exists(pre)) ? pre : targetPath, tmp);
  await fs.rename(tmp, targetPath);
  await fsyncDir(path.dirname(targetPath));
  return { overlayPath: targetPath };
}

/** The VM never started from its overlays: the old volume goes back in place of the overlay. */
export async function abortQuickRestoreDisk(input: { targetPath: string; restoreId: string }): Promise<{ restored: boolean }> {
  return { restored: (await putBackOldVolume(input.targetPath, input.restoreId, false)) === 'restored' };
}

/** virsh start; a VM already running is fine. */
export async function startDomain(input: { domain: string }): Promise<{ started: boolean }> {
  if (await domainIsRunning(input)) return { started: false };
  try {
    await virsh(['start', input.domain]);
  } catch (e) {
    if (e instanceof CommandError && /already (active|running)/i.test(e.stderr)) return { started: false };
    throw e;
  }
  return { started: true };
}

/** Running or paused (a QEMU process exists); an unknown domain is not running. */
export async function domainIsRunning(input: { domain: string }): Promise<boolean> {
  const state = await domainStateOrNull(input.domain);
  return state !== null && RUNNING_STATES.has(state);
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
          throw ApplicationFailure.retryable(`disk ${target} of ${domain} is busy with another block job (${job.type})`, 'BlockJobBusy');
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
        const header = await qemuImgInfo(disk.path);
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
              throw ApplicationFailure.retryable(`blockpull of ${target} on ${domain} keeps ending before completion`, 'PullIncomplete');
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
  const info = await qemuImgInfo(input.path);
  if (!info['backing-filename']) return { bytes: 0 };
  await runWithProgress('qemu-img', ['rebase', '-p', '-f', info.format, '-b', '', input.path], {
    progress: (percent) => ({ phase: 'consolidating', percent }),
  });
  await fsyncFile(input.path);
  const after = await qemuImgInfo(input.path);
  if (after['backing-filename']) throw ApplicationFailure.retryable(`${input.path} still has backing file ${after['backing-filename']}`, 'NotConsolidated');
  return { bytes: info['virtual-size'] };
}

/** The backing files under a volume (none once it is consolidated), as qemu-img resolves them. */
export async function backingChain(input: { path: string }): Promise<string[]> {
  return (await qemuImgChain(input.path)).slice(1).map((i) => i.filename);
}

// ---------------------------------------------------------------------------------------------

const RUNNING_STATES = new Set(['running', 'paused', 'in shutdown', 'pmsuspended']);

const xmlParser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (n) => n === 'disk' });

function backingOf(info: QemuImgInfo, file: string): string | null {
  const b = info['full-backing-filename'] ?? info['backing-filename'];
  return b ? path.resolve(path.dirname(file), b) : null;
}

async function domainStateOrNull(domain: string): Promise<string | null> {
  try {
    return (await virsh(['domstate', domain])).trim();
  } catch (e) {
    if (e instanceof CommandError && /failed to get domain|domain not found|no domain with matching/i.test(e.stderr)) return null;
    throw e;
  }
}

async function throwIfStopped(domain: string): Promise<void> {
  if (!(await domainIsRunning({ domain }))) {
    throw ApplicationFailure.nonRetryable('domain stopped during consolidation', 'DomainNotRunning');
  }
}

/** Runs a live-domain command; if it fails because the domain is gone, that is DomainNotRunning. */
async function onDomain<T>(domain: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ApplicationFailure) throw e;
    await throwIfStopped(domain);
    throw e;
  }
}

interface BlockJob { type: string; bandwidth: number; cur: number; end: number }

/** `virsh blockjob --info --raw --bytes`: empty output when the disk has no job. */
async function blockJobInfo(domain: string, target: string): Promise<BlockJob | null> {
  const out = await virsh(['blockjob', domain, target, '--info', '--raw', '--bytes']);
  const kv = Object.fromEntries(
    out
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  if (!kv.type) return null;
  return { type: kv.type, bandwidth: Number(kv.bandwidth ?? 0), cur: Number(kv.cur ?? 0), end: Number(kv.end ?? 0) };
}

/** The disk as the running domain has it: its file, and its backing file if libvirt still shows one. */
async function liveDisk(domain: string, target: string): Promise<{ path: string; backing: string | null }> {
  const xml = await virsh(['dumpxml', domain]);
  const disks = (xmlParser.parse(xml).domain?.devices?.disk ?? []) as {
    source?: { file?: string; dev?: string };
    target?: { dev?: string };
    backingStore?: { source?: { file?: string; dev?: string } } | string;
  }[];
  const disk = disks.find((d) => d.target?.dev === target);
  const file = disk?.source?.file ?? disk?.source?.dev;
  if (!disk || !file) throw ApplicationFailure.nonRetryable(`domain ${domain} has no disk ${target}`, 'DiskMissing');
  const bs = disk.backingStore;
  const backing = bs && typeof bs === 'object' && bs.source ? (bs.source.file ?? bs.source.dev ?? 'yes') : null;
  return { path: file, backing };
}

/**
 * Makes the pulled data durable. When the stream job completes, QEMU has already written the qcow2
 * header without the backing file, but the L2 tables of the pulled clusters may still sit in its
 * metadata cache: until QEMU flushes, the file on disk reads as zeros there (seen with QEMU 7.2; a
 * host crash then would lose the disk). No guest may flush soon (an idle guest never does), and
 * libvirt has no flush call, but pausing the VM flushes every block device (vm_stop -> bdrv_flush_all):
 * so the VM is paused and resumed at once (milliseconds). A marker file says the pause is ours, so a
 * run after a crash inside that window resumes the VM; a VM paused by someone else is left alone.
 */
async function flushDisk(domain: string, diskPath: string): Promise<void> {
  const marker = path.join(path.dirname(diskPath), `.${path.basename(diskPath)}.pull-flush-pause`);
  const state = await domainStateOrNull(domain);
  const ours = await exists(marker);
  if (state !== 'running' && !(state === 'paused' && ours)) {
    if (ours) await fs.rm(marker, { force: true });
    return;
  }
  await fs.writeFile(marker, `${domain}\n`);
  try {
    if (state === 'running') await virsh(['suspend', domain]);
  } finally {
    // Resume whatever happened (the suspend may have failed half-way); a failure to resume is thrown.
    let lastErr: unknown;
    for (let i = 0; i < 5; i++) {
      try {
        if ((await domainStateOrNull(domain)) === 'paused') await virsh(['resume', domain]);
        lastErr = undefined;
        break;
      } catch (e) {
        lastErr = e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    if (lastErr) throw lastErr;
    await fs.rm(marker, { force: true });
  }
}

async function startPull(domain: string, target: string, bandwidthMiB: number): Promise<void> {
  const args = ['blockpull', domain, target];
  if (bandwidthMiB > 0) args.push('--bandwidth', String(bandwidthMiB));
  try {
    await virsh(args);
  } catch (e) {
    if (e instanceof CommandError && /already in active block job/i.test(e.stderr)) return; // re-attach on the next poll
    await throwIfStopped(domain);
    throw e;
  }
}
