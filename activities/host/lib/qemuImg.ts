import { spawn } from 'node:child_process';
import { CommandError, run } from '../exec';
import { activityContext, heartbeat, withHeartbeat } from '../heartbeat';

/*
 * The one place that runs qemu-img. Every call names the image's format (-f): a raw disk is never
 * probed (its bytes are the guest's, and could look like a qcow2 header). Use as `qemuImg.info(...)`.
 */

export interface ImageInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  'format-specific'?: { type?: string; data?: { corrupt?: boolean; bitmaps?: { name: string; flags: string[] }[] } };
}

/**
 * qemu-img info. shared (default): -U, so an image a running VM holds can be read (only its header
 * is); shared false takes the lock, which fails while a QEMU holds the image for writing.
 */
export async function info(file: string, format: string, opts: { shared?: boolean } = {}): Promise<ImageInfo> {
  const args = ['info', '--output=json', ...(opts.shared === false ? [] : ['-U']), '-f', format, file];
  return JSON.parse(await run('qemu-img', args)) as ImageInfo;
}

/** The image and every backing file under it, top first (the backing files' formats from their headers). */
export async function chain(file: string, format: string): Promise<ImageInfo[]> {
  return JSON.parse(await run('qemu-img', ['info', '-U', '--backing-chain', '--output=json', '-f', format, file])) as ImageInfo[];
}

/** Names of the persistent bitmaps in a qcow2's header; an 'in-use' one was not saved cleanly (skipped unless asked). */
export async function bitmapNames(file: string, opts: { includeInUse?: boolean } = {}): Promise<string[]> {
  const bitmaps = (await info(file, 'qcow2'))['format-specific']?.data?.bitmaps ?? [];
  return bitmaps.filter((b) => opts.includeInUse || !b.flags.includes('in-use')).map((b) => b.name);
}

export async function bitmap(file: string, action: 'add' | 'remove', name: string): Promise<void> {
  await run('qemu-img', ['bitmap', `--${action}`, '-f', 'qcow2', file, name]);
}

/**
 * qemu-img check: null when the image is fine, else what is wrong. The one rule for its exit codes:
 * 0 fine; 3 (leaked clusters) is accepted, since leaks only waste space and never change what the
 * image reads (a backup with leaks restores the same bytes, so failing its commit for them would lose
 * a good backup); 63 (the format cannot be checked, e.g. raw) is accepted; 2 (corruption) and any other
 * failure is a problem. heartbeat: details sent every 10 s meanwhile (a long check says nothing).
 */
export async function check(file: string, format: string, opts: { heartbeat?: unknown } = {}): Promise<string | null> {
  const go = () => run('qemu-img', ['check', '-U', '-f', format, file]);
  try {
    await (opts.heartbeat === undefined ? go() : withHeartbeat(opts.heartbeat, go));
    return null;
  } catch (e) {
    if (!(e instanceof CommandError)) throw e;
    if (e.code === 3 || e.code === 63) return null;
    const lines = e.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
    const shown = lines.slice(0, 3).join('; ') + (lines.length > 3 ? `; ... (${lines.length} messages)` : '');
    return e.code === 2 ? `corrupted: ${shown}` : shown || `qemu-img check exited with ${e.code}`;
  }
}

type Progress = (percent: number) => unknown;

/** A copy of src (in srcFormat) as a new standalone image dst in dstFormat, heartbeating progress. */
export async function convert(input: { src: string; srcFormat: string; dst: string; dstFormat: string; progress?: Progress; fast?: boolean }): Promise<void> {
  const args = (extra: string[]) => ['convert', '-p', ...extra, '-f', input.srcFormat, '-O', input.dstFormat, input.src, input.dst];
  if (!input.fast) return void (await runWithProgress(args([]), input.progress));
  try {
    await runWithProgress(args(FAST_COPY), input.progress);
  } catch (e) {
    // A file system without O_DIRECT (tmpfs, some FUSE mounts): the same parallel copy through the page cache.
    if (!(e instanceof CommandError && /O_DIRECT|Invalid argument|cache mode/i.test(e.stderr))) throw e;
    await runWithProgress(args(['-m', '8', '-W']), input.progress);
  }
}

/**
 * The fastest durable copy on the machines measured (issue 15): 8 requests in flight, written out of
 * order, direct I/O on both sides (no page-cache copy, and the data is on disk when qemu-img exits).
 */
export const FAST_COPY = ['-m', '8', '-W', '-t', 'none', '-T', 'none'];

/**
 * Points a qcow2 at another backing file ('' for none). unsafe (-u): only the header changes, the
 * backing path may be relative to the image; safe: the data the image stops getting from its old
 * backing chain is copied in first (with progress).
 */
export async function rebase(input: { file: string; backing: string; unsafe?: boolean; progress?: Progress }): Promise<void> {
  const backingFormat = input.backing ? ['-F', 'qcow2'] : [];
  const args = ['rebase', ...(input.unsafe ? ['-u'] : ['-p']), '-f', 'qcow2', ...backingFormat, '-b', input.backing, input.file];
  if (input.unsafe) await run('qemu-img', args);
  else await runWithProgress(args, input.progress);
}

/** A new empty qcow2 of `size` bytes, or an overlay on `backing` (absolute, or relative to the new file). */
export async function create(input: { file: string; size: number; backing?: { path: string; format: string } }): Promise<void> {
  const backing = input.backing ? ['-b', input.backing.path, '-F', input.backing.format] : [];
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', ...backing, input.file, String(input.size)]);
}

/** Whether two images read the same guest bytes (qemu-img compare: 0 same, 1 different, else an error). */
export async function compare(a: { path: string; format: string }, b: { path: string; format: string }): Promise<boolean> {
  try {
    await run('qemu-img', ['compare', '-U', '-f', a.format, '-F', b.format, a.path, b.path]);
    return true;
  } catch (e) {
    if (e instanceof CommandError && e.code === 1) return false;
    throw e;
  }
}

/**
 * Runs qemu-img with -p, heartbeating the parsed `(NN.NN/100%)` progress (and every 10 s even when it
 * does not move); on cancellation qemu-img is killed and the cancellation thrown.
 */
function runWithProgress(args: string[], progress?: Progress): Promise<{ stdout: string }> {
  const signal = activityContext()?.cancellationSignal;
  const details = (p: number) => (progress ? progress(p) : { percent: p });
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('cancelled'));
    const child = spawn('qemu-img', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let percent = 0;
    let stdout = '';
    let stderr = '';
    let pending = '';
    const beat = () => heartbeat(details(percent));
    beat();
    const timer = setInterval(beat, 10_000);
    const onAbort = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const re = /\((\d+(?:\.\d+)?)\/100%\)/g;
      let m: RegExpExecArray | null;
      let last = -1;
      while ((m = re.exec(pending))) last = Number(m[1]);
      if (last >= 0 && last !== percent) {
        percent = last;
        beat();
      }
      const cut = Math.max(pending.lastIndexOf('\r'), pending.lastIndexOf('\n'));
      if (cut >= 0) {
        stdout = (stdout + pending.slice(0, cut + 1)).slice(-4096);
        pending = pending.slice(cut + 1);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-16384);
    });
    const done = (err?: Error) => {
      clearInterval(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve({ stdout: stdout + pending });
    };
    child.on('error', (e) => done(e));
    child.on('close', (code, sig) => {
      if (signal?.aborted) return done(signal.reason ?? new Error('cancelled'));
      if (code === 0) return done();
      done(new CommandError(`qemu-img ${args.join(' ')}`, stderr, code ?? sig));
    });
  });
}
