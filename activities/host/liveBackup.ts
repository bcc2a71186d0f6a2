import { rm, writeFile } from 'node:fs/promises';
import { diskFileName, joinPath } from '../../common/layout';
import { fail, Failure } from '../../common/failures';
import { cancellationSignal, heartbeat } from './heartbeat';
import { listCheckpoints } from './checkpoints';
import { withTempDir } from './lib/files';
import { domainJobInfo as jobInfo, JOB, JobInfo, OP_BACKUP, waitDomainJobEnd } from './lib/virt/jobs';
import { xmlEscape } from './lib/virt/domainXml';
import { virsh } from './lib/virt/virsh';

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
  const fileOf = (t: string) => joinPath(input.dir, diskFileName(t));
  for (const t of input.disks) await rm(fileOf(t), { force: true });
  const backupXml =
    `<domainbackup mode='push'>` +
    (input.parentCheckpoint ? `<incremental>${xmlEscape(input.parentCheckpoint)}</incremental>` : '') +
    `<disks>${input.disks
      .map((t) => {
        const mode = input.parentCheckpoint && full.has(t) ? ` backupmode='full'` : '';
        return `<disk name='${xmlEscape(t)}' backup='yes'${mode} type='file'><target file='${xmlEscape(fileOf(t))}'/><driver type='qcow2'/></disk>`;
      })
      .join('')}</disks></domainbackup>`;
  await withTempDir(async (tmp) => {
    await writeFile(joinPath(tmp, 'backup.xml'), backupXml);
    const args = ['backup-begin', input.domain, joinPath(tmp, 'backup.xml')];
    if (input.checkpoint) {
      const ckXml = `<domaincheckpoint><name>${xmlEscape(input.checkpoint)}</name><disks>${input.disks
        .map((t) => `<disk name='${xmlEscape(t)}' checkpoint='${full.has(t) ? 'no' : 'bitmap'}'/>`)
        .join('')}</disks></domaincheckpoint>`;
      await writeFile(joinPath(tmp, 'checkpoint.xml'), ckXml);
      args.push(joinPath(tmp, 'checkpoint.xml'));
    }
    try {
      await virsh(args);
    } catch (e) {
      const msg = (e as Error).message;
      // libvirt refuses an incremental whose checkpoint it no longer has: retrying cannot help.
      if (/checkpoint|bitmap/i.test(msg)) throw fail.nonRetryable(Failure.CheckpointUnusable, `backup-begin refused: ${msg}`);
      throw e;
    }
  });
  return { started: true };
}

/** Follows the domain's backup job to its end, heartbeating progress; aborts it if the activity is cancelled. */
export async function waitLiveBackup(input: { domain: string }): Promise<{ bytes: number }> {
  const cancelled = cancellationSignal();
  // Woken by libvirt's job-completed event rather than polled (issue 15: the wait was most of a small backup's overhead).
  const ended = await waitDomainJobEnd(input.domain, (job) => heartbeat({ bytesDone: job.processed ?? 0, bytesTotal: job.total ?? 0 }), cancelled);
  if (!ended) {
    await abortLiveBackup(input);
    throw fail.nonRetryable(Failure.Cancelled, 'backup job aborted: the backup was cancelled');
  }
  const done = await jobInfo(input.domain, true);
  if (done.operation !== OP_BACKUP) throw new Error(`no backup job found on ${input.domain}`);
  if (done.type !== JOB.COMPLETED) {
    throw fail.nonRetryable(Failure.JobFailed, `backup job ${done.type === JOB.CANCELLED ? 'cancelled' : 'failed'}: ${done.errmsg ?? 'no message'}`);
  }
  heartbeat({ bytesDone: done.processed ?? 0, bytesTotal: done.total ?? 0 });
  return { bytes: done.processed ?? 0 };
}

export async function abortLiveBackup(input: { domain: string }): Promise<void> {
  const job = await jobInfo(input.domain).catch(() => ({ type: JOB.NONE }) as JobInfo);
  if (job.type !== JOB.NONE && job.operation === OP_BACKUP) await virsh(['domjobabort', input.domain]).catch(() => undefined);
}

/** Start and wait in one activity, for a backup that does not quiesce (nothing to thaw in between): one round trip less. */
export async function runLiveBackup(input: Parameters<typeof startLiveBackup>[0]): Promise<{ bytes: number }> {
  await startLiveBackup(input);
  return waitLiveBackup({ domain: input.domain });
}
