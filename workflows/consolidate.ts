import { sleep } from '@temporalio/workflow';
import { fail, Failure, isFailure } from '../common/failures';
import { errorText } from './errors';
import type { Host } from './restoreCommon';

/**
 * Quick restore's second half: pull every byte from the repository into the VM's own overlays. While
 * the VM runs that is a live blockpull; if it is stopped, or stops or crashes meanwhile, the same
 * disk is finished offline. Either way no disk is left backed by a repository file.
 */
export async function consolidateDisks(
  host: Host, long: Host, domain: string, disks: { target: string; path: string; format?: string }[], bandwidthMiB: number, onDisk: (t: string) => void,
) {
  for (const d of disks) {
    // A raw volume was restored whole before the VM started; it has no backing file to pull, and is
    // never probed as an image (its bytes are the guest's).
    if (d.format && d.format !== 'qcow2') continue;
    onDisk(d.target);
    let pulledLive = false;
    if (await host.domainIsRunning({ domain })) {
      try {
        await long.pullDisk({ domain, target: d.target, bandwidthMiB });
        pulledLive = true;
      } catch (err) {
        if (!isFailure(err, Failure.DomainNotRunning)) throw err;
      }
    }
    if (!pulledLive) await long.consolidateOffline({ path: d.path });
    const chain = await host.backingChain({ path: d.path });
    if (chain.length) throw fail.retryable(Failure.NotConsolidated, `disk ${d.target} still has backing files: ${chain.join(', ')}`);
  }
}

/**
 * Once a VM runs from the backup there is no way back, only forward: consolidation is tried again
 * (a minute apart, for hours) rather than given up, so the VM does not stay on repository files.
 */
export async function consolidateUntilDone(progress: { error?: string }, consolidate: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await consolidate();
      progress.error = undefined;
      return;
    } catch (err) {
      if (attempt >= 240) throw err;
      progress.error = `consolidation attempt ${attempt} failed, retrying: ${errorText(err)}`;
      await sleep('1 minute');
    }
  }
}
