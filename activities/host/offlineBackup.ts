import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { fail, Failure } from '../../common/failures';
import { diskFileName, joinPath } from '../../common/layout';
import { listCheckpoints } from './checkpoints';
import { cancellationSignal, heartbeat, sleep } from './heartbeat';
import { withTempDir } from './lib/files';
import * as qemuImg from './lib/qemuImg';
import { xmlEscape } from './lib/virt/domainXml';
import { virshWithXml } from './lib/virt/virsh';
import { Qmp } from './qmp';

/** Every bitmap of the disk, an 'in-use' one too (a retry must find the one it made). */
const bitmapNames = (file: string) => qemuImg.bitmapNames(file, { includeInUse: true });

/**
 * Backs up a stopped domain from its files, without starting it. Full: a copy with qemu-img convert,
 * after a persistent bitmap named after the new checkpoint was added to each disk. Incremental: only
 * the clusters marked in the parent checkpoint's bitmap are copied (a qemu-storage-daemon backup job
 * with sync=bitmap), and the new bitmap is added in the same transaction. libvirt, which cannot make
 * checkpoints of a stopped domain, then learns of the new one by redefinition, so the next backup can
 * be incremental whether the VM runs then or not.
 */
export async function offlineBackup(input: {
  domain: string; dir: string; disks: OfflineDisk[]; checkpoint?: string; parentCheckpoint?: string;
}): Promise<{ bytes: number }> {
  let bytes = 0;
  for (const d of input.disks) {
    const out = joinPath(input.dir, diskFileName(d.target));
    await rm(out, { force: true });
    if (d.full) {
      // Cannot carry a bitmap (raw...): a whole copy, read in its own format (never probed).
      const format = d.format ?? 'raw';
      await qemuImg.convert({ src: d.path, srcFormat: format, dst: out, dstFormat: 'qcow2', fast: true });
      bytes += (await qemuImg.info(d.path, format))['virtual-size'];
      continue;
    }
    // A retry after the new bitmap was already made: make it again with this attempt's copy.
    if (input.checkpoint && (await bitmapNames(d.path)).includes(input.checkpoint)) await qemuImg.bitmap(d.path, 'remove', input.checkpoint);
    if (input.parentCheckpoint) bytes += await copyDirtyClusters(d.path, out, input.parentCheckpoint, input.checkpoint);
    else {
      if (input.checkpoint) await qemuImg.bitmap(d.path, 'add', input.checkpoint);
      await qemuImg.convert({ src: d.path, srcFormat: 'qcow2', dst: out, dstFormat: 'qcow2', fast: true });
      bytes += (await qemuImg.info(d.path, 'qcow2'))['virtual-size'];
    }
  }
  if (input.checkpoint && !(await listCheckpoints(input).catch(() => [] as string[])).includes(input.checkpoint)) {
    await redefineCheckpoint(input.domain, input.checkpoint, input.disks);
  }
  return { bytes };
}

/** A disk of a stopped domain; full: copied whole, outside the checkpoint (it cannot carry a bitmap). */
interface OfflineDisk { target: string; path: string; format?: string; full?: boolean }

async function redefineCheckpoint(domain: string, name: string, disks: OfflineDisk[]) {
  const xml =
    `<domaincheckpoint><name>${xmlEscape(name)}</name><creationTime>${Math.floor(Date.now() / 1000)}</creationTime><disks>` +
    disks
      .map((d) => (d.full ? `<disk name='${xmlEscape(d.target)}' checkpoint='no'/>` : `<disk name='${xmlEscape(d.target)}' checkpoint='bitmap' bitmap='${xmlEscape(name)}'/>`))
      .join('') +
    `</disks></domaincheckpoint>`;
  await virshWithXml('checkpoint-create', domain, xml, ['--redefine']);
}

/** Copies the clusters dirty in `bitmap` into a new qcow2 at dest; adds `newBitmap` atomically with the job start. */
async function copyDirtyClusters(src: string, dest: string, bitmap: string, newBitmap?: string): Promise<number> {
  if (!(await bitmapNames(src)).includes(bitmap)) {
    throw fail.nonRetryable(Failure.CheckpointUnusable, `${src} has no bitmap ${bitmap}: the next backup must be full`);
  }
  await qemuImg.create({ file: dest, size: (await qemuImg.info(src, 'qcow2'))['virtual-size'] });
  return withTempDir((tmp) => runBackupJob(src, dest, joinPath(tmp, 'qmp.sock'), bitmap, newBitmap));
}

/** A qemu-storage-daemon backup job (sync=bitmap) from src into dest, controlled over QMP at sock. */
async function runBackupJob(src: string, dest: string, sock: string, bitmap: string, newBitmap?: string): Promise<number> {
  const qsd = spawn('qemu-storage-daemon', [
    '--blockdev', JSON.stringify({ driver: 'qcow2', 'node-name': 'src', file: { driver: 'file', filename: src } }),
    '--blockdev', JSON.stringify({ driver: 'qcow2', 'node-name': 'tgt', file: { driver: 'file', filename: dest } }),
    '--chardev', `socket,path=${sock},server=on,wait=off,id=qmp0`,
    '--monitor', 'chardev=qmp0',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  qsd.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => qsd.on('exit', (code) => r(code)));
  let concluded = false;
  let qmp: Qmp | undefined;
  try {
    qmp = await Qmp.connect(sock, (m) => {
      if (m.event === 'JOB_STATUS_CHANGE' && (m.data as { status?: string })?.status === 'concluded') concluded = true;
    });
    const actions: object[] = [];
    if (newBitmap) actions.push({ type: 'block-dirty-bitmap-add', data: { node: 'src', name: newBitmap, persistent: true } });
    actions.push({ type: 'blockdev-backup', data: { device: 'src', target: 'tgt', sync: 'bitmap', bitmap, 'bitmap-mode': 'never', 'job-id': 'bf', 'auto-dismiss': false } });
    await qmp.execute('transaction', { actions });
    const cancelled = cancellationSignal();
    let done = 0;
    while (!concluded) {
      if (cancelled.aborted) {
        await qmp.execute('job-cancel', { id: 'bf' }).catch(() => undefined);
        throw fail.nonRetryable(Failure.Cancelled, 'offline backup cancelled');
      }
      const jobs = await qmp.execute<{ id: string; 'current-progress': number; 'total-progress': number; status: string; error?: string }[]>('query-jobs');
      const job = jobs.find((j) => j.id === 'bf');
      if (job) {
        done = job['current-progress'];
        heartbeat({ bytesDone: done, bytesTotal: job['total-progress'] });
        if (job.status === 'concluded') concluded = true;
      }
      if (!concluded) await sleep(300);
    }
    const job = (await qmp.execute<{ id: string; error?: string; 'current-progress': number }[]>('query-jobs')).find((j) => j.id === 'bf');
    if (job?.error) throw new Error(`offline backup job failed: ${job.error}`);
    done = job?.['current-progress'] ?? done;
    await qmp.execute('job-dismiss', { id: 'bf' });
    // quit closes the images, which is when QEMU stores the new persistent bitmap in the qcow2.
    await qmp.execute('quit').catch(() => undefined);
    const code = await exited;
    if (code !== 0) throw new Error(`qemu-storage-daemon exited with ${code}: ${stderr.trim()}`);
    return done;
  } finally {
    qmp?.close();
    if (qsd.exitCode === null && qsd.signalCode === null) qsd.kill('SIGKILL');
  }
}
