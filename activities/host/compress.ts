import { spawn } from 'node:child_process';
import { readdir, readFile, rename, rm, statfs } from 'node:fs/promises';
import { backupDir, backupDiskPath, compressingPath } from '../../common/layout';
import { fail, Failure } from '../../common/failures';
import { activityContext, heartbeat, sleep } from './heartbeat';
import { allocatedBytes, exists, fsyncPath } from './lib/files';
import * as qemuImg from './lib/qemuImg';

/**
 * Compression of a backup's files (issue 12), in two steps so a backup is never unreadable: each disk
 * is written compressed into `<disk>.qcow2.compressing` beside it (same relative backing file), checked
 * and compared with the original; only finalize renames the copies over the originals. Every qemu-img
 * runs under setpriv --pdeathsig KILL, so it dies with this worker, and is killed on cancellation and
 * at the job's deadline; a retry first kills any qemu-img still writing one of this backup's copies.
 */

export interface CompressInput {
  repoPath: string; vmUuid: string; backupId: string; targets: string[];
  library: 'zstd' | 'zlib'; coroutines: number; rateLimitMB: number;
  /** The job's time limit: every qemu-img of it is killed when it is reached. */
  timeoutSeconds: number;
  /** Free space asked for, in bytes (the backup's size times backup.compression.minimum.free.storage). */
  minimumFreeBytes: number;
}
export interface CompressedDisk { target: string; uncompressedBytes: number; compressedBytes: number }

const tmpOf = (i: { repoPath: string; vmUuid: string; backupId: string }, target: string) =>
  compressingPath(backupDiskPath(i.repoPath, i.vmUuid, i.backupId, target));

/** Pids of the processes whose command line has this exact argument (a copy's path). */
async function processesUsing(arg: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    const cmd = await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '');
    if (cmd.split('\0').includes(arg)) out.push(Number(d));
  }
  return out;
}

/** Kills every process still writing or reading the copy, and waits until none is left. */
async function killUsers(tmp: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const pids = await processesUsing(tmp);
    if (!pids.length) return;
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
    await sleep(100);
  }
  throw new Error(`a process still uses ${tmp}`);
}

/** Removes the copies and anything still writing them: the originals are never touched. */
export async function discardCompression(input: { repoPath: string; vmUuid: string; backupId: string; targets: string[] }): Promise<void> {
  for (const t of input.targets) {
    const tmp = tmpOf(input, t);
    await killUsers(tmp);
    await rm(tmp, { force: true });
  }
}

/**
 * Runs qemu-img, killed (and waited for) on cancellation or at the deadline; heartbeats its progress.
 * Killed at the deadline it fails with CompressionTimeout. Not lib/qemuImg's runner: this one needs the
 * deadline and setpriv --pdeathsig, so a compression never outlives its job or its worker.
 */
function killableQemuImg(args: string[], deadline: number, progress: (p: number) => unknown): Promise<void> {
  const signal = activityContext()?.cancellationSignal;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('cancelled'));
    if (Date.now() >= deadline) return reject(fail.nonRetryable(Failure.CompressionTimeout, 'the compression job reached its time limit'));
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'qemu-img', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let percent = 0;
    let timedOut = false;
    const beat = () => heartbeat(progress(percent));
    beat();
    const beats = setInterval(beat, 5_000);
    const kill = () => child.kill('SIGKILL');
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, deadline - Date.now());
    signal?.addEventListener('abort', kill, { once: true });
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      const all = [...c.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)];
      if (all.length) percent = Number(all[all.length - 1][1]);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => void (stderr = (stderr + c).slice(-8192)));
    child.on('close', (code, sig) => {
      clearInterval(beats);
      clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
      if (signal?.aborted) return reject(signal.reason ?? new Error('cancelled'));
      if (timedOut) return reject(fail.nonRetryable(Failure.CompressionTimeout, `the compression job reached its time limit: qemu-img ${args[0]} was killed`));
      if (code === 0) return resolve();
      reject(Object.assign(new Error(`qemu-img ${args.join(' ')} failed (${code ?? sig}): ${stderr.trim() || 'no output'}`), { code }));
    });
    child.on('error', reject);
  });
}

/** Phase 1: the free-space check, then each disk written compressed beside it, checked and compared. */
export async function compressBackupDisks(input: CompressInput): Promise<{ disks: CompressedDisk[]; library: 'zstd' | 'zlib' }> {
  const deadline = Date.now() + input.timeoutSeconds * 1000;
  // A previous attempt's copies (and a qemu-img orphaned by a crashed worker) go first.
  await discardCompression(input);
  const fs = await statfs(input.repoPath);
  const free = fs.bavail * fs.bsize;
  if (free < input.minimumFreeBytes) {
    throw fail.nonRetryable(Failure.CompressionNoSpace, `the repository has ${free} bytes free, the compression needs ${input.minimumFreeBytes} (backup.compression.minimum.free.storage)`);
  }
  let library = input.library;
  const out: CompressedDisk[] = [];
  try {
    for (const [i, target] of input.targets.entries()) {
      const orig = backupDiskPath(input.repoPath, input.vmUuid, input.backupId, target);
      const tmp = compressingPath(orig);
      const backing = (await qemuImg.info(orig, 'qcow2'))['backing-filename'];
      const convert = (lib: string) => [
        'convert', '-p', '-f', 'qcow2', '-O', 'qcow2', '-c', '-o', `compression_type=${lib}`, '-m', String(input.coroutines),
        ...(input.rateLimitMB > 0 ? ['-r', `${input.rateLimitMB}M`] : []),
        // The same relative path: it resolves from the copy's folder, which is the original's.
        ...(backing ? ['-B', backing, '-F', 'qcow2'] : []),
        orig, tmp,
      ];
      const progress = (step: string) => (p: number) => ({ disk: target, step, percent: p, disks: input.targets.length, index: i });
      try {
        await killableQemuImg(convert(library), deadline, progress('compressing'));
      } catch (e) {
        // zlib where this qemu cannot write zstd.
        if (library !== 'zstd' || !/compression.type|zstd/i.test((e as Error).message)) throw e;
        library = 'zlib';
        await rm(tmp, { force: true });
        await killableQemuImg(convert(library), deadline, progress('compressing'));
      }
      const bad = await qemuImg.check(tmp, 'qcow2', { heartbeat: { disk: target, step: 'checking' } });
      if (bad) throw fail.nonRetryable(Failure.CompressionMismatch, `the compressed copy of ${target} fails qemu-img check: ${bad}`);
      try {
        await killableQemuImg(['compare', '-p', '-f', 'qcow2', '-F', 'qcow2', orig, tmp], deadline, progress('comparing'));
      } catch (e) {
        if ((e as { code?: number }).code !== 1) throw e;
        throw fail.nonRetryable(Failure.CompressionMismatch, `the compressed copy of ${target} differs from the original`);
      }
      await fsyncPath(tmp);
      out.push({ target, uncompressedBytes: await allocatedBytes(orig), compressedBytes: await allocatedBytes(tmp) });
    }
    return { disks: out, library };
  } catch (e) {
    await discardCompression(input);
    throw e;
  }
}

/**
 * Phase 2: each checked copy replaces its original (rename, atomic); a disk renamed already by an
 * earlier try is left as it is. The copy must still back onto what the original backs onto (a delete
 * with merge may have rebased the original meanwhile): if not, nothing is renamed.
 */
export async function finalizeCompression(input: { repoPath: string; vmUuid: string; backupId: string; targets: string[] }): Promise<{ disks: { target: string; sizeBytes: number }[] }> {
  const pending = [];
  for (const t of input.targets) {
    const orig = backupDiskPath(input.repoPath, input.vmUuid, input.backupId, t);
    const tmp = compressingPath(orig);
    if (!(await exists(tmp))) continue;
    const [a, b] = [await qemuImg.info(orig, 'qcow2'), await qemuImg.info(tmp, 'qcow2')];
    if ((a['backing-filename'] ?? '') !== (b['backing-filename'] ?? '')) {
      throw fail.nonRetryable(Failure.CompressionMismatch, `${t}: the original now backs onto ${a['backing-filename'] ?? 'nothing'}, the copy onto ${b['backing-filename'] ?? 'nothing'}`);
    }
    const bad = await qemuImg.check(tmp, 'qcow2');
    if (bad) throw fail.nonRetryable(Failure.CompressionMismatch, `the compressed copy of ${t} fails qemu-img check: ${bad}`);
    pending.push({ orig, tmp });
  }
  for (const p of pending) await rename(p.tmp, p.orig);
  if (pending.length) await fsyncPath(backupDir(input.repoPath, input.vmUuid, input.backupId));
  const disks = [];
  for (const t of input.targets) disks.push({ target: t, sizeBytes: await allocatedBytes(backupDiskPath(input.repoPath, input.vmUuid, input.backupId, t)) });
  return { disks };
}
