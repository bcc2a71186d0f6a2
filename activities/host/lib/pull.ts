import { promises as fs } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { fail, Failure } from '../../../common/failures';
import { baseName, dirName, joinPath } from '../../../common/layout';
import { CommandError } from '../exec';
import { sleep } from '../heartbeat';
import { exists } from './files';
import { domainDisks } from './virt/domainXml';
import { domainIsRunningNow, domainState, virsh } from './virt/virsh';

/* The pieces of a live blockpull (quick restore's consolidation) that talk to libvirt. */

export async function throwIfStopped(domain: string): Promise<void> {
  if (!(await domainIsRunningNow(domain))) throw fail.nonRetryable(Failure.DomainNotRunning, 'domain stopped during consolidation');
}

/** Runs a live-domain command; if it fails because the domain is gone, that is DomainNotRunning. */
export async function onDomain<T>(domain: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ApplicationFailure) throw e;
    await throwIfStopped(domain);
    throw e;
  }
}

/** The disk as the running domain has it: its file, and its backing file if libvirt still shows one. */
export async function liveDisk(domain: string, target: string): Promise<{ path: string; backing: string | null }> {
  const disk = domainDisks(await virsh(['dumpxml', domain])).find((d) => d.target === target);
  if (!disk?.file) throw fail.nonRetryable(Failure.DiskMissing, `domain ${domain} has no disk ${target}`);
  return { path: disk.file, backing: disk.backing };
}

export async function startPull(domain: string, target: string, bandwidthMiB: number): Promise<void> {
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

/**
 * Makes the pulled data durable. When the stream job completes, QEMU has already written the qcow2
 * header without the backing file, but the L2 tables of the pulled clusters may still sit in its
 * metadata cache: until QEMU flushes, the file on disk reads as zeros there (seen with QEMU 7.2; a
 * host crash then would lose the disk). No guest may flush soon (an idle guest never does), and
 * libvirt has no flush call, but pausing the VM flushes every block device (vm_stop -> bdrv_flush_all):
 * so the VM is paused and resumed at once (milliseconds). A marker file says the pause is ours, so a
 * run after a crash inside that window resumes the VM; a VM paused by someone else is left alone.
 */
export async function flushDisk(domain: string, diskPath: string): Promise<void> {
  const marker = joinPath(dirName(diskPath), `.${baseName(diskPath)}.pull-flush-pause`);
  const state = await domainState(domain);
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
        if ((await domainState(domain)) === 'paused') await virsh(['resume', domain]);
        lastErr = undefined;
        break;
      } catch (e) {
        lastErr = e;
        await sleep(500);
      }
    }
    if (lastErr) throw lastErr;
    await fs.rm(marker, { force: true });
  }
}
