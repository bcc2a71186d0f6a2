import { config } from '../../../../common/config';
import { fail, Failure } from '../../../../common/failures';
import { CommandError, run } from '../../exec';
import { withTempFile } from '../files';

/** virsh against this host's libvirt, always with an explicit connection URI (LIBVIRT_URI). */
export function virsh(args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  return run('virsh', ['-c', config.libvirtUri, ...args], opts);
}

/** Sends a QEMU guest agent command; returns the parsed `return` member. */
export async function agentCommand<T = unknown>(domain: string, execute: string, args?: object, timeoutSec = 10): Promise<T> {
  const cmd = JSON.stringify(args ? { execute, arguments: args } : { execute });
  const out = await virsh(['qemu-agent-command', domain, cmd, '--timeout', String(timeoutSec)]);
  return (JSON.parse(out) as { return: T }).return;
}

/** Whether a virsh failure says the domain does not exist (undefined meanwhile, or never was). */
export function isDomainNotFound(e: unknown): boolean {
  return e instanceof CommandError && /failed to get domain|domain not found|no domain with matching/i.test(e.stderr);
}

/**
 * The states in which the domain has a QEMU process (its disks are open, live commands work): the
 * one definition of "running" for every host step.
 */
const RUNNING_STATES = new Set(['running', 'paused', 'in shutdown', 'pmsuspended']);
export const isRunningState = (state: string | null) => state !== null && RUNNING_STATES.has(state);

/** `virsh domstate`: running, paused, shut off, ...; null when libvirt does not know the domain. */
export async function domainState(domain: string): Promise<string | null> {
  try {
    return (await virsh(['domstate', domain])).trim();
  } catch (e) {
    if (isDomainNotFound(e)) return null;
    throw e;
  }
}

/** Whether libvirt knows the domain (name, UUID or id; `virsh domuuid` only takes names and ids). */
export async function domainExists(domain: string): Promise<boolean> {
  return (await domainState(domain)) !== null;
}

export async function domainIsRunningNow(domain: string): Promise<boolean> {
  return isRunningState(await domainState(domain));
}

/** Defines a domain from its XML; libvirt refusing a name or UUID it has already is NameTaken. */
export async function defineDomain(xml: string, refusal: string): Promise<void> {
  await withTempFile('domain.xml', xml, async (file) => {
    try {
      await virsh(['define', file]);
    } catch (e) {
      if (e instanceof CommandError && /already (exists|defined)/i.test(e.stderr)) {
        throw fail.nonRetryable(Failure.NameTaken, `${refusal}: ${e.stderr.trim()}`);
      }
      throw e;
    }
  });
}

/** `virsh <command> <domain> <file>` with `xml` in a private temporary file. */
export function virshWithXml(command: string, domain: string, xml: string, extra: string[] = []): Promise<string> {
  return withTempFile(`${command}.xml`, xml, (file) => virsh([command, domain, file, ...extra]));
}
