import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { VALIDATION_VM_PREFIX } from '../../common/layout';
import { CACHE } from './paths';
import { virsh } from './vm';

/**
 * A validation folder of the test file's own (BACKFLOW_VALIDATION_DIR, for the in-process host worker;
 * pass it to a process host worker too), so its host's sweep of leftovers never meets another test
 * file's validation VMs on this shared libvirt.
 */
export function ownValidationDir(): string {
  const dir = path.join(CACHE, `validation-${process.pid}`);
  process.env.BACKFLOW_VALIDATION_DIR = dir;
  return dir;
}

/** The validation VMs with overlays in dir, and the validation folders in dir: both empty once a job has ended. */
export async function validationLeftovers(dir: string): Promise<string[]> {
  const vms: string[] = [];
  for (const name of (await virsh(['list', '--all', '--name'])).split('\n').map((s) => s.trim()).filter((s) => s.startsWith(VALIDATION_VM_PREFIX))) {
    if ((await virsh(['domblklist', name]).catch(() => '')).includes(`${dir}/`)) vms.push(name);
  }
  const dirs = existsSync(dir) ? readdirSync(dir).filter((s) => s.startsWith(VALIDATION_VM_PREFIX)).map((d) => `dir:${d}`) : [];
  return [...vms, ...dirs];
}
