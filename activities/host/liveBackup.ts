import { rm, writeFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { cancellationSignal, heartbeat, sleep } from './heartbeat';
import { listCheckpoints } from './checkpoints';
import { virsh } from './virsh';

/** libvirt job types (virDomainJobType) and the backup operation (virDomainJobOperation). */
const JOB = { NONE: 0, BOUNDED: 1, UNBOUNDED: 2, COMPLETED: 3, FAILED: 4, CANCELLED: 5 };
const OP_BACKUP = 9;

interface JobInfo { type: number; operation?: number; total?: number; processed?: number; errmsg?: string }

async function jobInfo(domain: string, completed = false): Promise<JobInfo> {
  const out = await virsh(['domjobinfo', domain, '--rawstats', ...(completed ? ['--completed', '--keep-completed'] : [])]);
  const kv = Object.fromEntries(
    out.split('\n').map((l) => l.split(':')).filter((p) => p.length >= 2).map(([k, ...v]) => [k.trim(), v.join(':').trim()]),
  );
  const num = (k: string) => (kv[k] === undefined ? undefined : Number(kv[k]));
  return { type: num('Job type') ?? 0, operation: num('operation'), total: num('disk_total'), processed: num('disk_processed'), errmsg: kv.errmsg };
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;');

/**
 * Starts a push-mode backup of the running domain's disks into dir, with a new checkpoint for the next
 * incremental (none for isolated backups), incremental from parentCheckpoint when given. fullDisks
 * (disks that cannot carry a dirty bitmap, e.g. raw) are copied in full and left out of the checkpoint,
 * which libvirt would otherwise refuse. Returns as soon as the job has started, so a frozen guest can
 * be thawed right away.
 */
export async function startLiveBackup(input: {
  domain: string; dir: string; disks: string[]; fullDisks?: string[]; checkpoint?: string; parentCheckpoint?: string;
}): Promise<{ started: boolean }> {
  const full = new Set(input.fullDisks ?? []);
  const job = await jobInfo(input.domain);
  if (job.type === JOB.UNBOUNDED && job.operation === OP_BACKUP) return { started: true }; // a retry after the job began
  if (input.checkpoint && (await listCheckpoints(input).catch(() => [] as string[])).includes(input.checkpoint)) {
    return { started: true }; // began and maybe finished already: waitLiveBackup reads the outcome
  }
  for (const t of input.disks) await rm(path.join(input.dir, `${t}.qcow2`), { force: true });
  const backupXml =
    `<domainbackup mode='push'>` +
    (input.parentCheckpoint ? `<incremental>${xmlEscape(input.parentCheckpoint)}</incremental>` : '') +
    `<disks>${input.disks
      .map((t) => {
        const mode = input.parentCheckpoint && full.has(t) ? ` backupmode='full'` : '';
        return `<disk name='${xmlEscape(t)}' backup='yes'${mode} type='file'><target file='${xmlEscape(path.join(input.dir, `${t}.qcow2`))}'/><driver type='qcow2'/></disk>`;
      })
      .join('')}</disks></domainbackup>`;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'backflow-job-'));
  try {
    await writeFile(path.join(tmp, 'backup.xml'), backupXml);
    const args = ['backup-begin', input.domain, path.join(tmp, 'backup.xml')];
    if (input.checkpoint) {
      const ckXml = `<domaincheckpoint><name>${xmlEscape(input.checkpoint)}</name><disks>${input.disks
        .map((t) => `<disk name='${xmlEscape(t)}' checkpoint='${full.has(t) ? 'no' : 'bitmap'}'/>`)
        .join('')}</disks></domaincheckpoint>`;
      await writeFile(path.join(tmp, 'checkpoint.xml'), ckXml);
      args.push(path.join(tmp, 'checkpoint.xml'));
    }
    try {
      await virsh(args);
    } catch (e) {
      const msg = (e as Error).message;
      // libvirt refuses an incremental whose checkpoint it no longer has: retrying cannot help.
      if (/checkpoint|bitmap/i.test(msg)) throw ApplicationFailure.nonRetryable(`backup-begin refused: ${msg}`, 'CheckpointUnusable');
      throw e;
    }
    return { started: true };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Follows the domain's backup job to its end, heartbeating progress; aborts it if the activity is cancelled. */
export async function waitLiveBackup(input: { domain: string }): Promise<{ bytes: number }> {
  const cancelled = cancellationSignal();
  for (;;) {
    if (cancelled.aborted) {
      await abortLiveBackup(input);
      throw ApplicationFailure.nonRetryable('backup job aborted: the backup was cancelled', 'Cancelled');
    }
    const job = await jobInfo(input.domain);
    if (job.type === JOB.NONE) break;
    heartbeat({ bytesDone: job.processed ?? 0, bytesTotal: job.total ?? 0 });
    await sleep(500);
  }
  const done = await jobInfo(input.domain, true);
  if (done.operation !== OP_BACKUP) throw new Error(`no backup job found on ${input.domain}`);
  if (done.type !== JOB.COMPLETED) {
    throw ApplicationFailure.nonRetryable(`backup job ${done.type === JOB.CANCELLED ? 'cancelled' : 'failed'}: ${done.errmsg ?? 'no message'}`, 'JobFailed');
  }
  heartbeat({ bytesDone: done.processed ?? 0, bytesTotal: done.total ?? 0 });
  return { bytes: done.processed ?? 0 };
}

export async function abortLiveBackup(input: { domain: string }): Promise<void> {
  const job = await jobInfo(input.domain).catch(() => ({ type: JOB.NONE }) as JobInfo);
  if (job.type !== JOB.NONE && job.operation === OP_BACKUP) await virsh(['domjobabort', input.domain]).catch(() => undefined);
}
