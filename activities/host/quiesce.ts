import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { config } from '../../common/config';
import { fail, Failure } from '../../common/failures';
import { agentCommand, virsh } from './lib/virt/virsh';

/**
 * A marker file per frozen domain holds the freezing backup's token. The guard process thaws only
 * while the marker still holds its token; the thaw activity renames it to `.thawed-<token>` (keeping
 * the frozen time), so a retried thaw answers the same and a late guard does nothing.
 */
const FREEZE_DIR = path.join(config.runDir, 'freeze');
const marker = (domain: string) => path.join(FREEZE_DIR, domain);
const thawedMarker = (domain: string, token: string) => `${marker(domain)}.thawed-${token}`;

async function freezeStatus(domain: string): Promise<string> {
  return agentCommand<string>(domain, 'guest-fsfreeze-status', undefined, 5);
}

/** Freezes the guest's filesystems through its agent, with a detached guard that thaws after guardSeconds. */
export async function freezeGuest(input: { domain: string; token: string; guardSeconds: number }): Promise<{ frozenFilesystems: number; frozenAt: number }> {
  const { domain, token } = input;
  try {
    await agentCommand(domain, 'guest-ping', undefined, 5);
  } catch (e) {
    throw fail.nonRetryable(Failure.NoGuestAgent, `guest agent not responding on ${domain}: quiesce needs a running qemu-guest-agent (${(e as Error).message.trim()})`);
  }
  await mkdir(FREEZE_DIR, { recursive: true });
  // A retry of this very freeze: the guest is frozen for us already.
  const held = await readFile(marker(domain), 'utf8').catch(() => '');
  if (held === token && (await freezeStatus(domain)) === 'frozen') return { frozenFilesystems: -1, frozenAt: (await stat(marker(domain))).mtimeMs };

  await writeFile(marker(domain), token);
  startGuard(domain, token, input.guardSeconds);
  try {
    const n = await agentCommand<number>(domain, 'guest-fsfreeze-freeze', undefined, 30);
    return { frozenFilesystems: n, frozenAt: Date.now() };
  } catch (e) {
    await thawGuest({ domain, token }).catch(() => undefined);
    throw fail.nonRetryable(Failure.FreezeFailed, `could not freeze the filesystems of ${domain}: ${(e as Error).message.trim()}`);
  }
}

/** The guard outlives this process: positional arguments only, so nothing is interpreted by the shell. */
function startGuard(domain: string, token: string, seconds: number) {
  const script =
    'sleep "$1"; if [ "$(cat "$2" 2>/dev/null)" = "$3" ]; then virsh -c "$4" domfsthaw "$5" >/dev/null 2>&1; rm -f "$2"; fi';
  const child = spawn('sh', ['-c', script, 'backflow-thaw-guard', String(seconds), marker(domain), token, config.libvirtUri, domain], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
}

/**
 * Thaws the guest. `byGuard` is true when the guard had already thawed it, i.e. the guest was not
 * frozen all the way to here (the worker was interrupted): the caller must not count the backup as quiesced.
 */
export async function thawGuest(input: { domain: string; token: string }): Promise<{ thawedAt: number; frozenMs: number; byGuard: boolean }> {
  const { domain, token } = input;
  const done = await readFile(thawedMarker(domain, token), 'utf8').catch(() => '');
  if (done) return JSON.parse(done);
  const held = await readFile(marker(domain), 'utf8').catch(() => '');
  const mine = held === token;
  const frozenSince = mine ? (await stat(marker(domain))).mtimeMs : Date.now();
  if ((await freezeStatus(domain).catch(() => 'thawed')) === 'frozen') await agentCommand(domain, 'guest-fsfreeze-thaw', undefined, 30);
  const result = { thawedAt: Date.now(), frozenMs: Math.round(Date.now() - frozenSince), byGuard: !mine };
  if (mine) {
    await writeFile(marker(domain), JSON.stringify(result));
    await rename(marker(domain), thawedMarker(domain, token));
  }
  return result;
}

/** At host worker start: any guest a crashed worker left frozen is thawed now; old markers go. */
export async function thawStaleFreezes(): Promise<string[]> {
  await mkdir(FREEZE_DIR, { recursive: true });
  const thawed: string[] = [];
  for (const name of await readdir(FREEZE_DIR)) {
    const file = path.join(FREEZE_DIR, name);
    if (name.includes('.thawed-')) {
      if (Date.now() - (await stat(file)).mtimeMs > 86_400_000) await rm(file, { force: true });
      continue;
    }
    await virsh(['domfsthaw', name]).catch(() => undefined);
    await rm(file, { force: true });
    thawed.push(name);
  }
  return thawed;
}
