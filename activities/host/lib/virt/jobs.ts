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
