import { CancellationScope, defineQuery, isCancellation, setHandler, workflowInfo } from '@temporalio/workflow';
import type { HashPlan, RehashMismatch } from '../activities/control/hashes';
import type { ServiceJobType } from '../common/schemas/serviceJobs';
import { catalog, onHost } from './activities';
import { errorText } from './errors';
import { withSlots } from './slots';
import { withVmLocks } from './vmLock';

export interface HashProgress { phase: string; error?: string }
export interface HashResult { backupId: string; status: 'Hashed' | 'Verified' | 'NotValid' | 'Skipped'; skipped?: string; mismatches?: RehashMismatch[] }
export const hashProgress = defineQuery<HashProgress>('progress');

/** A file rewritten while it was being hashed (merge, compression) is hashed again, this many times at most. */
const MAX_HASH_ROUNDS = 3;

const hashHost = (plan: HashPlan) => onHost(plan.hostTaskQueue, 'hostHash');
const quickHost = (plan: HashPlan) => onHost(plan.hostTaskQueue, 'hostQuick');

async function hashFiles(plan: HashPlan) {
  const { path: repoPath } = await quickHost(plan).mountRepository(plan.repository);
  return { repoPath, ...(await hashHost(plan).hashBackupFiles({ repoPath, files: plan.files })) };
}

const skipped = (backupId: string, why: string): HashResult => ({ backupId, status: 'Skipped', skipped: why });

/**
 * A hash job: planned (nothing to do: Skipped, with why), then run under a validation slot of the zone
 * and host (hashing runs under the validation limits), shown by listBackupServiceJobs as BackupHash or
 * BackupRehash while it runs, with its result when it ends.
 */
async function hashJob(backupId: string, kind: 'hash' | 'rehash', fn: (plan: HashPlan, progress: HashProgress) => Promise<HashResult>): Promise<HashResult> {
  const { workflowId } = workflowInfo();
  const progress: HashProgress = { phase: 'planning' };
  setHandler(hashProgress, () => progress);
  const plan = await catalog.planHash({ backupId, kind });
  if (plan.skip) return skipped(backupId, plan.skip);
  const type: ServiceJobType = kind === 'hash' ? 'BackupHash' : 'BackupRehash';
  progress.phase = 'waiting for a validation slot';
  return withSlots({ resource: 'validation', zoneId: plan.zoneId, hostId: plan.hostId, operation: `${kind} backup` }, async () => {
    await catalog.startServiceJob({ backupId, type, workflowId });
    try {
      const r = await fn(plan, progress);
      const result = r.status === 'NotValid' ? `NotValid: ${r.mismatches!.map((m) => `${m.file} expected ${m.expected} found ${m.found}`).join('; ')}` : r.status;
      await catalog.endServiceJob({ backupId, type, result });
      return r;
    } catch (err) {
      progress.phase = 'failed';
      progress.error = errorText(err);
      await CancellationScope.nonCancellable(() => catalog.endServiceJob({ backupId, type, error: isCancellation(err) ? 'cancelled' : progress.error }));
      throw err;
    }
  });
}

/**
 * The last job of a backup's life after it is taken (workflows/lifecycle.ts): an XXH128 of each of its
 * own files, recorded with the algorithm. The files are read without holding the VM; the hashes are
 * recorded under its lock, and only if no file changed since it was read (a merge or a compression
 * finalize, which hold the VM, rewrote it): then it is read again.
 */
export async function hashBackupWorkflow(input: { backupId: string }): Promise<HashResult> {
  return hashJob(input.backupId, 'hash', async (planned, progress) => {
    let plan = planned;
    for (let round = 1; round <= MAX_HASH_ROUNDS; round++) {
      progress.phase = 'hashing';
      const h = await hashFiles(plan);
      progress.phase = 'recording';
      const recorded = await withVmLocks([plan.vm.id], 'record backup hashes', async () => {
        // Rewritten since it was read (a merge, a compression finalize): these hashes are of other bytes.
        const same = await quickHost(plan).filesUnchanged({ repoPath: h.repoPath, files: h.files });
        if (!same) return false;
        return (await catalog.recordHashes({ backupId: plan.backupId, algorithm: h.algorithm, files: h.files })).recorded;
      });
      if (recorded) {
        progress.phase = 'done';
        return { backupId: plan.backupId, status: 'Hashed' };
      }
      // Rewritten meanwhile, or no longer a backup to hash: planned again.
      plan = await catalog.planHash({ backupId: input.backupId, kind: 'hash' });
      if (plan.skip) return skipped(input.backupId, plan.skip);
    }
    throw new Error(`backup ${input.backupId}'s files kept changing while they were hashed (${MAX_HASH_ROUNDS} rounds)`);
  });
}

/**
 * Re-hash (periodic, or "verify now"): each of the backup's own files hashed again and compared with
 * its recorded hash. A match sets verified_at. A mismatch is read once more under the VM's lock, so a
 * merge or compression finalize rewriting the file meanwhile (both hold the VM and record new hashes or
 * clear them) is never taken for corruption; if it still differs, the backup is NotValid (step rehash)
 * with the file, the expected and the found hash, an alert is raised and its chain ends.
 */
export async function rehashBackupWorkflow(input: { backupId: string }): Promise<HashResult> {
  return hashJob(input.backupId, 'rehash', async (plan, progress) => {
    progress.phase = 'hashing';
    const first = await hashFiles(plan);
    const { mismatches } = await catalog.compareHashes({ backupId: plan.backupId, found: first.files });
    if (!mismatches.length) {
      progress.phase = 'done';
      return { backupId: plan.backupId, status: 'Verified' };
    }
    progress.phase = 'confirming a mismatch';
    return withVmLocks([plan.vm.id], 're-hash backup', async (): Promise<HashResult> => {
      const again = await catalog.planHash({ backupId: input.backupId, kind: 'rehash' });
      if (again.skip) return skipped(input.backupId, again.skip);
      const second = await hashFiles(again);
      const confirmed = (await catalog.compareHashes({ backupId: again.backupId, found: second.files })).mismatches;
      if (!confirmed.length) {
        progress.phase = 'done';
        return { backupId: plan.backupId, status: 'Verified' };
      }
      const output = confirmed.map((m) => `${m.file} (${m.target}): expected xxh128 ${m.expected}, found ${m.found}`).join('\n');
      await catalog.markNotValid({
        backupId: plan.backupId, step: 'rehash', output, endChain: 'always',
        reason: `its files changed since they were hashed: ${confirmed.map((m) => m.file).join(', ')}`,
      });
      progress.phase = 'NotValid';
      return { backupId: plan.backupId, status: 'NotValid', mismatches: confirmed };
    });
  });
}

/**
 * Inside an operation that holds the VM and has just rewritten a backup's file in place (the merge of a
 * deleted parent into it): the backup is hashed again and recorded, if it had hashes before (the caller
 * cleared them with clearHashes before the rewrite, and says how many it cleared).
 */
export async function hashRewrittenBackup(backupId: string, cleared: number): Promise<void> {
  if (!cleared) return;
  const plan = await catalog.planHash({ backupId, kind: 'hash' });
  if (plan.skip) return;
  const h = await hashFiles(plan);
  await catalog.recordHashes({ backupId, algorithm: h.algorithm, files: h.files });
}
