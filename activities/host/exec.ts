import { execFile } from 'node:child_process';

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
