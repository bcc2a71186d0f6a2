import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export const exec = promisify(execFile);
export const MiB = 1024 * 1024;

/** Wall-clock seconds of fn, with its result. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, value };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Peak resident memory (VmHWM) of a process, in MiB; the kernel keeps the peak for us. */
export function peakRssMiB(pid: number | 'self'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** SHA-256 of a file streamed through Node's crypto: the hashing Backflow's re-hash would do. */
export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * MiB })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A raw sequential read of a file, the limit hashing is held against. */
export async function rawRead(file: string): Promise<void> {
  await exec('dd', [`if=${file}`, 'of=/dev/null', 'bs=4M', 'status=none']);
}

/** Drops the page cache so each read starts cold (root only; ignored where not allowed). */
export async function dropCaches(): Promise<void> {
  await exec('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']).catch(() => undefined);
}

/** Bytes the files really take on disk. */
export async function allocatedBytes(paths: string[]): Promise<number> {
  let total = 0;
  for (const p of paths) total += Number((await exec('du', ['-sB1', p])).stdout.split(/\s/)[0]);
  return total;
}
