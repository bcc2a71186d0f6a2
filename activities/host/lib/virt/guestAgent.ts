import { randomInt } from 'node:crypto';
import { agentCommand } from './virsh';

/*
 * The QEMU guest agent of a domain, through `virsh qemu-agent-command`: is it there (guest-ping, then
 * guest-sync so the channel carries no stale answer), and running a program in the guest (guest-exec,
 * guest-exec-status) with its output captured.
 */

/** Whether the agent answers a ping and then echoes a fresh guest-sync id (within timeoutSec each). */
export async function agentAnswers(domain: string, timeoutSec = 5): Promise<boolean> {
  try {
    await agentCommand(domain, 'guest-ping', undefined, timeoutSec);
    const id = randomInt(1, 2 ** 31 - 1);
    return (await agentCommand<number>(domain, 'guest-sync', { id }, timeoutSec)) === id;
  } catch {
    return false;
  }
}

/** Starts `path args...` in the guest with stdout and stderr captured; its guest pid. */
export async function guestExec(domain: string, path: string, args: string[]): Promise<number> {
  return (await agentCommand<{ pid: number }>(domain, 'guest-exec', { path, arg: args, 'capture-output': true }, 30)).pid;
}

export interface GuestExecStatus { exited: boolean; exitCode: number | null; signal: number | null; stdout: Buffer; stderr: Buffer; truncated: boolean }

/** guest-exec-status of a program started by guestExec (its output is only given once, when it has exited). */
export async function guestExecStatus(domain: string, pid: number): Promise<GuestExecStatus> {
  const r = await agentCommand<{
    exited: boolean; exitcode?: number; signal?: number; 'out-data'?: string; 'err-data'?: string; 'out-truncated'?: boolean; 'err-truncated'?: boolean;
  }>(domain, 'guest-exec-status', { pid }, 10);
  return {
    exited: r.exited,
    exitCode: r.exitcode ?? null,
    signal: r.signal ?? null,
    stdout: Buffer.from(r['out-data'] ?? '', 'base64'),
    stderr: Buffer.from(r['err-data'] ?? '', 'base64'),
    truncated: !!(r['out-truncated'] || r['err-truncated']),
  };
}
