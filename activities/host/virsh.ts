import { run } from './exec';

export const LIBVIRT_URI = process.env.LIBVIRT_URI ?? 'qemu:///system';

/** virsh against this host's libvirt, always with an explicit connection URI. */
export function virsh(args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  return run('virsh', ['-c', LIBVIRT_URI, ...args], opts);
}

/** Sends a QEMU guest agent command; returns the parsed `return` member. */
export async function agentCommand<T = unknown>(domain: string, execute: string, args?: object, timeoutSec = 10): Promise<T> {
  const cmd = JSON.stringify(args ? { execute, arguments: args } : { execute });
  const out = await virsh(['qemu-agent-command', domain, cmd, '--timeout', String(timeoutSec)]);
  return (JSON.parse(out) as { return: T }).return;
}
