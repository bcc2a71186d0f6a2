import { data, type Api } from './client';
import type { Snapshot } from './progress';
import type { components } from './api/schema';

type Backup = components['schemas']['Backup'];
type Restore = components['schemas']['Restore'];

const BACKUP_RUNNING = ['Allocated', 'BackingUp'];
const RESTORE_RUNNING = ['Running', 'Consolidating'];

/** A backup as the bar shows it: its workflow's phase and the bytes libvirt's (or QEMU's) job reported. */
export function backupSnapshot(b: Backup): Snapshot {
  const p = b.progress;
  if (BACKUP_RUNNING.includes(b.status)) return { phase: p?.phase ?? b.status, bytesDone: p?.bytesDone, bytesTotal: p?.bytesTotal, percent: p?.percent };
  if (b.status === 'BackedUp') return { phase: 'backed up', done: true };
  return { phase: b.status, failed: `backup ${b.id} ${b.status}: ${b.error ?? 'no reason recorded'}` };
}

/** A restore: its phase, and qemu-img's percentage (copies) or the pull's bytes (quick restore's consolidation). */
export function restoreSnapshot(r: Restore): Snapshot {
  const p = r.progress as (Restore['progress'] & { cur?: number; end?: number }) | undefined;
  if (RESTORE_RUNNING.includes(r.status)) {
    const phase = [p?.phase ?? r.phase ?? r.status, p?.disk].filter(Boolean).join(' ');
    return { phase, bytesDone: p?.bytesDone ?? p?.cur, bytesTotal: p?.bytesTotal ?? p?.end, percent: p?.percent };
  }
  if (r.status === 'Succeeded') return { phase: 'restored', done: true };
  return { phase: r.status, failed: `restore ${r.id} ${r.status}: ${r.error ?? 'no reason recorded'}` };
}

export const getBackup = (api: Api, id: string) => data(api.GET('/v1/backups/{id}', { params: { path: { id } } }));
export const getRestore = (api: Api, id: string) => data(api.GET('/v1/restores/{id}', { params: { path: { id } } }));

/** How long a just-started operation may be unknown to the catalog: its workflow records it in its first step. */
const RECORDING_GRACE_MS = 10 * 60_000;

/** Snapshots of a started operation; "starting" while its GET still answers 404 because the workflow has not recorded it yet. */
function watching<T>(get: () => Promise<{ data?: T; error?: unknown; response: Response }>, snapshot: (row: T) => Snapshot) {
  const since = Date.now();
  return async (): Promise<Snapshot> => {
    const r = await get();
    if (r.response.status === 404 && Date.now() - since < RECORDING_GRACE_MS) return { phase: 'starting' };
    return snapshot(await data(Promise.resolve(r)));
  };
}

export const watchBackup = (api: Api, id: string) => watching(() => api.GET('/v1/backups/{id}', { params: { path: { id } } }), backupSnapshot);
export const watchRestore = (api: Api, id: string) => watching(() => api.GET('/v1/restores/{id}', { params: { path: { id } } }), restoreSnapshot);
