import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { config } from '../../common/config';
import { fail, Failure } from '../../common/failures';
import {
  joinPath, repositoryFile, validationBackupId, validationOverlayPath, validationScreenshotFile, validationScreenshotPath,
  validationVmName, validationWorkDir, VALIDATION_VM_PREFIX,
} from '../../common/layout';
import type { StepOutcome } from '../../common/schemas/validation';
import { heartbeat, sleepCancellable, throwIfCancelled } from './heartbeat';
import { fsyncDir, renameDurably } from './lib/files';
import * as qemuImg from './lib/qemuImg';
import { agentAnswers, guestExec, guestExecStatus } from './lib/virt/guestAgent';
import { screenshotPng } from './lib/virt/screenshot';
import { domainDisks } from './lib/virt/domainXml';
import { validationDomainXml } from './lib/virt/validationDomain';
import { domainState, isDomainNotFound, isRunningState, virsh } from './lib/virt/virsh';
import { readBackupDomainXml } from './restore';

/*
 * Validation of a backup in a throwaway VM on its host: a transient domain `bfval-<backup id>` made from
 * the backup's saved domain XML, whose disks are qcow2 overlays (in `<validation dir>/bfval-<backup id>/`)
 * backed by the backup's files in the repository, which QEMU opens read-only: nothing is copied and the
 * backup is never written. A transient domain leaves no definition behind once destroyed.
 */

const root = () => path.resolve(config.validationDir);
/** A leftover younger than this may be a validation just being made (its catalog row read a moment before): left alone. */
const LEFTOVER_MIN_AGE_MS = 120_000;
const tail = (s: string, n = 4000) => (s.length > n ? `...${s.slice(-n)}` : s);

async function consoleTail(backupId: string): Promise<string> {
  const text = await fs.readFile(joinPath(validationWorkDir(root(), backupId), 'console.log'), 'utf8').catch(() => '');
  return tail(text.trim(), 2000);
}

/** Destroys a validation domain (transient: gone then; a persistent one is undefined too). */
async function removeDomain(name: string): Promise<boolean> {
  const state = await domainState(name);
  if (state === null) return false;
  if (state !== 'shut off') await virsh(['destroy', name]).catch((e) => (isDomainNotFound(e) || /not running/i.test(String(e)) ? undefined : Promise.reject(e)));
  if ((await domainState(name)) !== null) await virsh(['undefine', name, '--nvram']).catch((e) => (isDomainNotFound(e) ? undefined : Promise.reject(e)));
  return true;
}

/**
 * Makes and starts the validation VM of a backup. Run again (a retry, or a leftover of a crashed run),
 * it first removes what an earlier attempt left. Fails (ValidationVmFailed) with libvirt's or qemu-img's
 * reason when the VM cannot be made: the backup is then UnableToValidate.
 */
export async function createValidationVm(input: {
  repoPath: string; vmUuid: string; backupId: string; disks: { target: string; file: string }[]; needsDisplay: boolean;
}): Promise<{ name: string; workDir: string }> {
  const name = validationVmName(input.backupId);
  const workDir = validationWorkDir(root(), input.backupId);
  await destroyValidationVm({ backupId: input.backupId });
  try {
    const xml = await readBackupDomainXml(input);
    await fs.mkdir(workDir, { recursive: true, mode: 0o700 });
    const overlays: Record<string, string> = {};
    for (const d of input.disks) {
      const src = repositoryFile(path.resolve(input.repoPath), d.file);
      const info = await qemuImg.info(src, 'qcow2');
      const overlay = validationOverlayPath(root(), input.backupId, d.target);
      // The backing file by its absolute path; QEMU opens it (and its parents) read-only.
      await qemuImg.create({ file: overlay, size: info['virtual-size'], backing: { path: src, format: 'qcow2' } });
      overlays[d.target] = overlay;
    }
    const domainXml = validationDomainXml({
      xml, name, uuid: randomUUID(), overlays, consoleLog: joinPath(workDir, 'console.log'), needsDisplay: input.needsDisplay,
    });
    await fs.writeFile(joinPath(workDir, 'domain.xml'), domainXml, { mode: 0o600 });
    // Transient, so nothing stays defined once it is destroyed; started after the repository was
    // mounted, so this QEMU's mount namespace has it. virsh's message says why it could not start.
    await virsh(['create', joinPath(workDir, 'domain.xml')], { timeoutMs: 120_000 });
  } catch (e) {
    await destroyValidationVm({ backupId: input.backupId }).catch(() => undefined);
    throw fail.nonRetryable(Failure.ValidationVmFailed, `the validation VM ${name} could not be made: ${(e as Error).message.trim()}`);
  }
  return { name, workDir };
}

/** wait_for_boot: the guest agent answers within timeoutSeconds (ping, then a fresh sync). */
export async function waitForValidationBoot(input: { backupId: string; timeoutSeconds: number }): Promise<StepOutcome> {
  const name = validationVmName(input.backupId);
  const deadline = Date.now() + input.timeoutSeconds * 1000;
  for (let tries = 1; ; tries++) {
    throwIfCancelled();
    heartbeat({ step: 'wait_for_boot', tries });
    const state = await domainState(name);
    if (!isRunningState(state)) {
      return { passed: false, reason: `the validation VM stopped while booting (${state ?? 'gone'})`, output: await consoleTail(input.backupId) };
    }
    if (await agentAnswers(name, 5)) return { passed: true, output: `the guest agent answered after ${tries} tries` };
    if (Date.now() >= deadline) break;
    await sleepCancellable(2000);
  }
  return {
    passed: false,
    reason: `the guest agent did not answer within the boot timeout of ${input.timeoutSeconds} s`,
    output: await consoleTail(input.backupId),
  };
}

/** The output a command printed compared with the expected one, a trailing line end aside. */
const sameOutput = (a: Buffer, b: Buffer) => a.toString('latin1').replace(/\r?\n$/, '') === b.toString('latin1').replace(/\r?\n$/, '');

/**
 * execute_command: runs the command in the guest through its agent, waits up to timeoutSeconds, and
 * compares its standard output with expectedResult (base64), or, without one, its exit code with 0.
 */
export async function runValidationCommand(input: {
  backupId: string; command: string; arguments: string[]; expectedResult: string | null; timeoutSeconds: number;
}): Promise<StepOutcome> {
  const name = validationVmName(input.backupId);
  const shown = [input.command, ...input.arguments].join(' ');
  let pid: number;
  try {
    pid = await guestExec(name, input.command, input.arguments);
  } catch (e) {
    return { passed: false, reason: `the guest could not run ${shown}`, output: tail((e as Error).message.trim()) };
  }
  const deadline = Date.now() + input.timeoutSeconds * 1000;
  for (;;) {
    throwIfCancelled();
    heartbeat({ step: 'execute_command', pid });
    const st = await guestExecStatus(name, pid).catch((e: Error) => e);
    if (st instanceof Error) return { passed: false, reason: `the guest agent stopped answering while ${shown} ran`, output: tail(st.message.trim()) };
    if (st.exited) {
      const stdout = st.stdout.toString('utf8');
      const output = tail(`${stdout}${st.stderr.length ? `\n[stderr]\n${st.stderr.toString('utf8')}` : ''}\n[exit code ${st.exitCode ?? `signal ${st.signal}`}]`);
      if (input.expectedResult !== null) {
        const expected = Buffer.from(input.expectedResult, 'base64');
        if (sameOutput(st.stdout, expected)) return { passed: true, output };
        return { passed: false, output, reason: `${shown} printed ${JSON.stringify(tail(stdout, 200))}, not the expected ${JSON.stringify(tail(expected.toString('utf8'), 200))}` };
      }
      if (st.exitCode === 0) return { passed: true, output };
      return { passed: false, output, reason: `${shown} exited with ${st.exitCode ?? `signal ${st.signal}`}, not 0` };
    }
    if (Date.now() >= deadline) return { passed: false, output: '', reason: `${shown} did not finish within the command timeout of ${input.timeoutSeconds} s` };
    await sleepCancellable(1000);
  }
}

/**
 * screenshot: after waitSeconds, the validation VM's screen as a PNG, written beside the backup's files
 * (a new file, renamed into place; no backup file is touched) and returned for the catalog.
 */
export async function takeValidationScreenshot(input: {
  repoPath: string; vmUuid: string; backupId: string; waitSeconds: number;
}): Promise<StepOutcome & { file?: string; pngBase64?: string }> {
  const name = validationVmName(input.backupId);
  for (let left = input.waitSeconds * 1000; left > 0; left -= 10_000) {
    heartbeat({ step: 'screenshot', waitingMs: left });
    await sleepCancellable(Math.min(left, 10_000));
  }
  let png: Buffer;
  try {
    png = await screenshotPng(name);
  } catch (e) {
    return { passed: false, reason: 'the screenshot could not be taken', output: tail((e as Error).message.trim()) };
  }
  const dest = validationScreenshotPath(path.resolve(input.repoPath), input.vmUuid, input.backupId);
  const tmp = `${dest}.tmp-${process.pid}`;
  await fs.writeFile(tmp, png, { mode: 0o640 });
  await renameDurably(tmp, dest);
  return { passed: true, output: `${png.length} bytes of PNG`, file: validationScreenshotFile(input.vmUuid, input.backupId), pngBase64: png.toString('base64') };
}

/** Destroys the backup's validation VM and removes its overlays and folder; nothing there: nothing to do. */
export async function destroyValidationVm(input: { backupId: string }): Promise<{ removedVm: boolean }> {
  const removedVm = await removeDomain(validationVmName(input.backupId));
  await fs.rm(validationWorkDir(root(), input.backupId), { recursive: true, force: true });
  return { removedVm };
}

/** Whether a bfval-* domain is one of this host's: its disks are overlays in this host's validation folder. */
async function ownDomain(name: string): Promise<boolean> {
  const xml = await virsh(['dumpxml', name]).catch((e) => (isDomainNotFound(e) ? '' : Promise.reject(e)));
  return !!xml && domainDisks(xml).some((d) => d.file?.startsWith(`${root()}/`));
}

/**
 * What a crashed worker or an interrupted workflow left: every `bfval-*` domain with its overlays in this
 * host's validation folder, and every `bfval-*` folder there, whose backup is not in keepBackupIds (the
 * validations running now), unless made in the last two minutes (one being made right now).
 */
export async function removeValidationLeftovers(input: { keepBackupIds: string[] }): Promise<{ removed: string[] }> {
  const keep = new Set(input.keepBackupIds);
  const removed: string[] = [];
  const young = async (backupId: string) => {
    const st = await fs.stat(validationWorkDir(root(), backupId)).catch(() => null);
    return !!st && Date.now() - st.mtimeMs < LEFTOVER_MIN_AGE_MS;
  };
  const names = (await virsh(['list', '--all', '--name'])).split('\n').map((s) => s.trim()).filter((s) => s.startsWith(VALIDATION_VM_PREFIX));
  const domains = new Set<string>();
  for (const n of names) if (await ownDomain(n)) domains.add(n);
  const dirs = (await fs.readdir(root()).catch(() => [] as string[])).filter((s) => s.startsWith(VALIDATION_VM_PREFIX));
  for (const n of new Set([...domains, ...dirs])) {
    const backupId = validationBackupId(n);
    // Only names this code makes (bfval-<a backup id>); anything else is not ours to remove.
    if (!backupId || !/^[0-9a-f-]{36}$/i.test(backupId) || keep.has(backupId) || (await young(backupId))) continue;
    await destroyValidationVm({ backupId });
    removed.push(n);
  }
  if (removed.length) await fsyncDir(root()).catch(() => undefined);
  return { removed };
}
