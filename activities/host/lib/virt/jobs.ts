import { spawn } from 'node:child_process';
import { config } from '../../../../common/config';
import { virsh } from './virsh';

/*
 * libvirt's two kinds of jobs, as virsh reports them: a disk's block job (blockpull, ...) and the
 * domain's job (a backup, ...).
 */

export interface BlockJob { type: string; bandwidth: number; cur: number; end: number }

/** `virsh blockjob --info --raw --bytes`: null when the disk has no job. */
export async function blockJobInfo(domain: string, target: string): Promise<BlockJob | null> {
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

/** libvirt job types (virDomainJobType) and the backup operation (virDomainJobOperation). */
export const JOB = { NONE: 0, BOUNDED: 1, UNBOUNDED: 2, COMPLETED: 3, FAILED: 4, CANCELLED: 5 };
export const OP_BACKUP = 9;

export interface JobInfo { type: number; operation?: number; total?: number; processed?: number; errmsg?: string }

/** `virsh domjobinfo --rawstats`: the running job, or with completed the last one (kept for a re-read). */
export async function domainJobInfo(domain: string, completed = false): Promise<JobInfo> {
  const out = await virsh(['domjobinfo', domain, '--rawstats', ...(completed ? ['--completed', '--keep-completed'] : [])]);
  const kv = Object.fromEntries(
    out.split('\n').map((l) => l.split(':')).filter((p) => p.length >= 2).map(([k, ...v]) => [k.trim(), v.join(':').trim()]),
  );
  const num = (k: string) => (kv[k] === undefined ? undefined : Number(kv[k]));
  return { type: num('Job type') ?? 0, operation: num('operation'), total: num('disk_total'), processed: num('disk_processed'), errmsg: kv.errmsg };
}

/**
 * Waits until the domain has no job left: woken by libvirt's job-completed event (a `virsh event --loop`
 * listener for this domain), and re-checked on a backoff (50 ms doubling to 5 s) that covers the
 * listener's own connection time, where an event could be missed, and reports progress meanwhile.
 * Returns false if the signal aborted first.
 */
export async function waitDomainJobEnd(domain: string, onProgress: (job: JobInfo) => void, signal: AbortSignal): Promise<boolean> {
  const listener = spawn('virsh', ['-c', config.libvirtUri, 'event', '--domain', domain, '--event', 'job-completed', '--loop'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let wake = () => {};
  listener.stdout.on('data', () => wake());
  listener.on('error', () => undefined); // no listener: the backoff alone finds the end
  try {
    for (let delay = 50; ; delay = Math.min(delay * 2, 5000)) {
      if (signal.aborted) return false;
      const job = await domainJobInfo(domain);
      if (job.type === JOB.NONE) return true;
      onProgress(job);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, delay);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    listener.kill();
  }
}
