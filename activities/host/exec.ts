import { execFile, spawn } from 'node:child_process';
import { activityContext, heartbeat } from './heartbeat';

/** Error from a host command, carrying the command and its stderr so workflow failures read clearly. */
export class CommandError extends Error {
  constructor(readonly cmd: string, readonly stderr: string, readonly code: number | string | null) {
    super(`${cmd} failed (${code}): ${stderr.trim() || 'no output'}`);
    this.name = 'CommandError';
  }
}

/** Runs a program without a shell (arguments are never interpreted), returning stdout. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 0, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
          reject(new CommandError(`${cmd} ${args.join(' ')}`, stderr || err.message, code));
        } else resolve(stdout);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/**
 * Runs a qemu-img command with -p, heartbeating the parsed `(NN.NN/100%)` progress (and every 10 s even
 * when it does not move); on cancellation the command is killed and the cancellation thrown.
 */
export function runWithProgress(
  cmd: string,
  args: string[],
  opts: { progress?: (percent: number) => unknown } = {},
): Promise<{ stdout: string }> {
  const signal = activityContext()?.cancellationSignal;
  const details = (p: number) => (opts.progress ? opts.progress(p) : { percent: p });
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('cancelled'));
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
      done(new CommandError(`${cmd} ${args.join(' ')}`, stderr, code ?? sig));
    });
  });
}

