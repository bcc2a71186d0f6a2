import path from 'node:path';
import { fail, Failure } from '../../common/failures';
import { repositoryFile } from '../../common/layout';
import type { RepositoryRef } from '../../common/schemas/backups';
import * as qemuImg from './lib/qemuImg';
import { parseDomainXml } from './lib/virt/domainXml';
import { domainState, isRunningState, virsh } from './lib/virt/virsh';
import { putBackOldVolume } from './lib/volumes';
import { mountRepository } from './mount';
import { prepareQuickRestoreDisk, startStoppedDomain } from './quickRestore';
import { ensureDomainDefined, readBackupDomainXml } from './restore';

/*
 * Quick restore's way to a running VM in one host activity (issue 15): mount, the backup's domain XML,
 * define if gone, the disks, one overlay per disk, start. One round trip instead of eight, so the VM
 * runs within about a second of the request. Every step is idempotent, so a retry (a worker that died
 * half way) finishes the job; a VM already running from this backup's overlays is a retry that started it.
 */

/** A disk of the VM and the backup file it gets back (its format on the VM: a raw disk restores as raw). */
export interface QuickRestoreTarget { target: string; file: string; path: string; format: string }

export async function startQuickRestore(input: {
  repository: RepositoryRef;
  vmUuid: string;
  /** The backup's own VM and id (its folder in the repository). */
  backupVmUuid: string;
  backupId: string;
  restoreId: string;
  disks: { target: string; file: string }[];
}): Promise<{ repoPath: string; disks: QuickRestoreTarget[]; started: boolean }> {
  const { path: repoPath } = await mountRepository(input.repository);
  let state = await domainState(input.vmUuid);
  if (state === null) {
    const xml = await readBackupDomainXml({ repoPath, vmUuid: input.backupVmUuid, backupId: input.backupId });
    await ensureDomainDefined({ uuid: input.vmUuid, xml });
    state = await domainState(input.vmUuid);
  }
  const dom = parseDomainXml(await virsh(['dumpxml', '--inactive', input.vmUuid]));
  const disks = input.disks.map((d): QuickRestoreTarget => {
    const disk = dom.disks.find((x) => x.target === d.target);
    if (!disk) throw fail.nonRetryable(Failure.DiskMissing, `VM ${dom.name} has no disk ${d.target} any more`);
    return { target: d.target, file: d.file, path: disk.path, format: disk.format };
  });
  if (isRunningState(state)) {
    if (await runsFromOverlays(repoPath, disks)) return { repoPath, disks, started: false };
    throw fail.nonRetryable(Failure.VmRunning, `VM ${dom.name} is ${state}: stop it before restoring in place`);
  }
  if (state !== 'shut off') throw fail.nonRetryable(Failure.VmRunning, `VM ${dom.name} is ${state}: stop it before restoring in place`);
  // Independent files: checked and overlaid side by side (qemu-img check of each chain is the longest part).
  // All settled before a failure is thrown, so a retry never overlaps a disk still being prepared.
  const prepared = await Promise.allSettled(
    disks.map((d) => prepareQuickRestoreDisk({ repoPath, file: d.file, targetPath: d.path, restoreId: input.restoreId, format: d.format })),
  );
  const failed = prepared.find((p): p is PromiseRejectedResult => p.status === 'rejected');
  if (failed) throw failed.reason;
  const { started } = await startStoppedDomain(input.vmUuid);
  return { repoPath, disks, started };
}

/** Whether every qcow2 disk is an overlay on its backup file (a raw one was restored whole before the start). */
async function runsFromOverlays(repoPath: string, disks: QuickRestoreTarget[]): Promise<boolean> {
  for (const d of disks.filter((x) => x.format === 'qcow2')) {
    const info = await qemuImg.info(d.path, 'qcow2').catch(() => null);
    const b = info?.['full-backing-filename'] ?? info?.['backing-filename'];
    if (!b || path.resolve(path.dirname(d.path), b) !== repositoryFile(path.resolve(repoPath), d.file)) return false;
  }
  return true;
}

/**
 * The VM never started from its overlays: each listed disk's old volume goes back in place of the
 * overlay. A VM that runs is left alone (it started, so there is no way back); an unknown one had nothing made.
 */
export async function abortQuickRestore(input: { vmUuid: string; targets: string[]; restoreId: string }): Promise<{ restored: string[] }> {
  const state = await domainState(input.vmUuid);
  if (state === null || isRunningState(state)) return { restored: [] };
  const dom = parseDomainXml(await virsh(['dumpxml', '--inactive', input.vmUuid]));
  const restored: string[] = [];
  for (const d of dom.disks.filter((x) => input.targets.includes(x.target))) {
    if ((await putBackOldVolume(path.resolve(d.path), input.restoreId, false)) === 'restored') restored.push(d.target);
  }
  return { restored };
}
