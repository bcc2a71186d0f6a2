import { spawn } from 'node:child_process';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { fail, Failure } from '../../../common/failures';
import { HASH_ALGORITHM } from '../../../common/schemas/validation';
import { activityContext, heartbeat } from '../heartbeat';

/*
 * The one place that hashes a file: XXH128 (xxHash3, 128 bits) with Debian's `xxhsum -H2` (package
 * xxhash, installed by scripts/libvirt.sh), which reads the file itself with SIMD code, faster than the
 * disk; Node only watches. xxhsum runs under setpriv --pdeathsig KILL, so it dies with this worker, and
 * is killed on cancellation and at the deadline.
 */

export const ALGORITHM = HASH_ALGORITHM;

/** What identifies a file's bytes without reading them: a rename gives a new inode, a write a new mtime. */
export interface FileStamp { ino: number; size: number; mtimeMs: number; ctimeMs: number }

export async function fileStamp(file: string): Promise<FileStamp> {
  const s = await stat(file);
  return { ino: s.ino, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs };
}

export const sameStamp = (a: FileStamp, b: FileStamp) => a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;

export interface FileHash { hash: string; sizeBytes: number; stamp: FileStamp }

/** How far xxhsum has read the file: the position of its descriptor for it (/proc/<pid>/fdinfo). */
async function readPosition(pid: number, file: string): Promise<number> {
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
    if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) !== file) continue;
    const m = /^pos:\s+(\d+)/m.exec(await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => ''));
    if (m) return Number(m[1]);
  }
  return 0;
}

/**
 * XXH128 of a file, streamed by xxhsum; heartbeats `progress(bytesRead, size)` every 5 s. Fails with
 * HashTimeout at `deadline` (ms since the epoch; by default the activity's own start-to-close), and
 * retryably when the file changed while it was read (its stamp before and after differ).
 */
export async function hashFile(file: string, opts: { deadline?: number; progress?: (done: number, size: number) => unknown } = {}): Promise<FileHash> {
  const ctx = activityContext();
  const signal = ctx?.cancellationSignal;
  const deadline = opts.deadline ?? (ctx?.info.startToCloseTimeoutMs ? Date.now() + ctx.info.startToCloseTimeoutMs - 5_000 : Infinity);
  const before = await fileStamp(file);
  const hash = await new Promise<string>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('cancelled'));
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'xxhsum', '-H2', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timedOut = false;
    const beat = async () => {
      const done = child.pid ? await readPosition(child.pid, file) : 0;
      heartbeat(opts.progress ? opts.progress(done, before.size) : { done, size: before.size });
    };
    void beat();
    const beats = setInterval(() => void beat(), 5_000);
    const kill = () => child.kill('SIGKILL');
    const timer = Number.isFinite(deadline) ? setTimeout(() => { timedOut = true; kill(); }, Math.max(0, deadline - Date.now())) : undefined;
    signal?.addEventListener('abort', kill, { once: true });
    child.stdout.setEncoding('utf8').on('data', (c: string) => void (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => void (err = (err + c).slice(-4096)));
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearInterval(beats);
      clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
      if (signal?.aborted) return reject(signal.reason ?? new Error('cancelled'));
      if (timedOut) return reject(fail.nonRetryable(Failure.HashTimeout, `hashing ${file} reached its time limit: xxhsum was killed`));
      // xxhsum prints "<32 hex digits>  <file>"; a path with a backslash or newline is prefixed with "\".
      const m = /^\\?([0-9a-f]{32}) /.exec(out);
      if (code === 0 && m) return resolve(m[1]);
      reject(new Error(`xxhsum -H2 ${file} failed (${code ?? sig}): ${err.replace(/\s+/g, ' ').trim() || out.trim() || 'no output'}`));
    });
  });
  const after = await fileStamp(file);
  if (!sameStamp(before, after)) throw fail.retryable(Failure.FileChanged, `${file} changed while it was hashed`);
  return { hash, sizeBytes: after.size, stamp: after };
}
