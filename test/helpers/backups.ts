import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { CACHE } from './paths';
import { apiOk as ok, type Stack } from './stack';

const exec = promisify(execFile);

export interface KbossZone { zoneId: string; repoId: string; repoPath: string; offeringId: string; cleanup: () => void }

/** The test host's zone set up for kboss through the API: framework on, a local repository, an offering. */
export async function setupKbossZone(s: Stack, offering: Record<string, unknown> = {}): Promise<KbossZone> {
  const zoneId = (await s.pool.query(`SELECT zone_id FROM hosts WHERE id = $1`, [s.facts.id])).rows[0].zone_id;
  await ok(s, 'PUT', '/v1/settings/backup.framework.enabled', { scope: 'zone', scopeId: zoneId, value: true });
  await ok(s, 'PUT', '/v1/settings/backup.framework.provider.plugin', { scope: 'zone', scopeId: zoneId, value: 'kboss' });
  const repoPath = path.join(CACHE, `test-repo-${randomBytes(4).toString('hex')}`);
  mkdirSync(repoPath, { recursive: true });
  const repo = await ok(s, 'POST', '/v1/backup-repositories', { name: `local-${path.basename(repoPath)}`, zoneId, type: 'local', address: repoPath });
  const off = await ok(s, 'POST', '/v1/backup-offerings', {
    name: `kboss-${path.basename(repoPath)}`, zoneId, repositoryId: repo.id, allowQuickRestore: true, ...offering,
  });
  return { zoneId, repoId: repo.id, repoPath, offeringId: off.id, cleanup: () => rmSync(repoPath, { recursive: true, force: true }) };
}

/** Syncs the host so the catalog knows the VM, then assigns it to the offering. */
export async function enrol(s: Stack, vmUuid: string, offeringId: string): Promise<void> {
  await ok(s, 'POST', `/v1/hosts/${s.facts.id}/sync`);
  await ok(s, 'POST', `/v1/vms/${vmUuid}/backup-offering`, { offeringId });
}

/** createBackup through the API, then waits for its workflow and returns the catalog's record. */
export async function backupVia(s: Stack, body: Record<string, unknown>): Promise<any> {
  const started = await ok(s, 'POST', '/v1/backups', body);
  try {
    await s.client.workflow.getHandle(started.workflowId).result();
  } catch {
    /* the record says how it failed */
  }
  return ok(s, 'GET', `/v1/backups/${started.backupId}`);
}

/** Waits for any workflow started by the API to finish. */
export async function settle(s: Stack, workflowId: string): Promise<unknown> {
  return s.client.workflow.getHandle(workflowId).result();
}

export async function qemuImgCompare(a: string, b: string): Promise<{ identical: boolean; out: string }> {
  try {
    const { stdout } = await exec('qemu-img', ['compare', '-U', a, b]);
    return { identical: true, out: stdout };
  } catch (e: any) {
    return { identical: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** A standalone copy of a disk (the reference a backup is compared with); -U since the VM may hold it. */
export async function snapshotDisk(src: string, dest: string): Promise<void> {
  await exec('qemu-img', ['convert', '-U', '-O', 'qcow2', src, dest]);
}

/** Offline write into a stopped VM's disk. */
export async function offlineWrite(disk: string, offset: number, length: number, pattern: number): Promise<void> {
  await exec('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x${pattern.toString(16)} ${offset} ${length}`, disk]);
}

/** SHA-256 of a whole file, to show a file did not change. */
export function sha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex'))).on('error', reject);
  });
}
