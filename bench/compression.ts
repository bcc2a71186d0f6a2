import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { backupVia, enrol, offlineWrite, qemuImgCompare, settle, type KbossZone } from '../test/helpers/backups';
import type { Stack } from '../test/helpers/stack';
import { createTestVm, type TestVm } from '../test/helpers/vm';
import { dropCaches, exec, MiB, timed } from './measure';

export type DataKind = 'compressible' | 'incompressible';
export type Library = 'zstd' | 'zlib';

export interface CompressionJob {
  library: Library; status: string; attempts: number;
  uncompressedBytes: number; bytes: number; ratio: number;
  /** StartCompression's start to FinalizeCompression's end (the job's start to Compressed), and phase 1 alone. */
  seconds: number; phase1Seconds: number; mibps: number;
}
export interface PeerCompression { tool: string; seconds: number; rawBytes: number; bytes: number; ratio: number; mibps: number }
export interface RestoreRun { seconds: number; status: string; identical: boolean }
export interface CompressionData {
  kind: DataKind; rawBytes: number; jobs: CompressionJob[]; peers: PeerCompression[];
  restore: { compressed: RestoreRun & { library: Library }; uncompressed: RestoreRun };
}
export interface CompressionResults { diskMiB: number; coroutines: number; data: CompressionData[] }

const LIBRARIES: Library[] = ['zstd', 'zlib'];

/**
 * Compression through Backflow's API on the real stack: for a compressible and an incompressible disk,
 * the compression job of a backup with zstd and with zlib, beside `zstd -T0` and `gzip` of the same raw
 * data; then a full in-place restore from the compressed backup against one from an uncompressed backup
 * of the same disk, each checked with qemu-img compare. One VM per (data, offering), all with the same
 * data, so every backup is a FULL of the same bytes.
 */
export async function compressionBench(s: Stack, kb: KbossZone, diskMiB: number, work: string, vms: TestVm[]): Promise<CompressionResults> {
  const offerings: Record<Library, string> = { zstd: '', zlib: '' };
  for (const lib of LIBRARIES) offerings[lib] = (await ok(s, 'POST', '/v1/backup-offerings', {
    name: `bench-compress-${lib}-${path.basename(work)}`, zoneId: kb.zoneId, repositoryId: kb.repoId, compress: true, compressionLibrary: lib,
  })).id;
  const coroutines = (await ok(s, 'GET', `/v1/settings/backup.compression.coroutines?zoneId=${kb.zoneId}`)).value as number;
  const data: CompressionData[] = [];
  for (const kind of ['compressible', 'incompressible'] as DataKind[]) {
    const source = path.join(work, `${kind}.raw`);
    if (kind === 'compressible') await textExt4(source, diskMiB, path.join(work, 'text-tree'));
    else await exec('dd', ['if=/dev/urandom', `of=${source}`, 'bs=1M', `count=${diskMiB}`, 'status=none']);
    const vm: Record<Library | 'plain', TestVm> = {} as never;
    for (const which of [...LIBRARIES, 'plain'] as const) {
      const v = await createTestVm({ os: false, diskSizeMiB: diskMiB, start: false });
      vms.push(v);
      await exec('qemu-img', ['convert', '-O', 'qcow2', source, v.diskPath]);
      await enrol(s, v.uuid, which === 'plain' ? kb.offeringId : offerings[which]);
      vm[which] = v;
    }
    await rm(source);
    // "The same raw data" the peers read: the VM's disk exported raw, which is also the restores' reference.
    const raw = path.join(work, `${kind}-export.raw`);
    await exec('qemu-img', ['convert', '-U', '-O', 'raw', vm.plain.diskPath, raw]);
    const rawBytes = (await stat(raw)).size;

    const jobs: CompressionJob[] = [];
    const backups: Partial<Record<Library | 'plain', any>> = {};
    for (const lib of LIBRARIES) {
      const b = await backupVia(s, { vmId: vm[lib].uuid });
      if (b.status !== 'BackedUp') throw new Error(`backup of ${kind} for ${lib} ended ${b.status}`);
      await settle(s, `compress-${b.vmName}-${b.id}`).catch(() => undefined);
      backups[lib] = await ok(s, 'GET', `/v1/backups/${b.id}`);
      jobs.push(await jobFigures(s, backups[lib], lib));
    }
    backups.plain = await backupVia(s, { vmId: vm.plain.uuid });
    if (backups.plain.status !== 'BackedUp') throw new Error(`uncompressed backup of ${kind} ended ${backups.plain.status}`);

    const peers: PeerCompression[] = [];
    const out = path.join(work, `${kind}.out`);
    for (const [tool, cmd] of [
      ['zstd -T0', `zstd -T0 -q -f -o '${out}' '${raw}'`],
      ['gzip', `gzip -c '${raw}' > '${out}'`],
    ] as const) {
      await dropCaches();
      const { seconds } = await timed(() => exec('sh', ['-c', cmd]));
      const bytes = (await stat(out)).size;
      await rm(out);
      peers.push({ tool, seconds, rawBytes, bytes, ratio: bytes / rawBytes, mibps: rawBytes / MiB / seconds });
    }

    const restore = {
      compressed: { library: 'zstd' as Library, ...(await restoreInPlace(s, vm.zstd, backups.zstd, raw)) },
      uncompressed: await restoreInPlace(s, vm.plain, backups.plain, raw),
    };
    await rm(raw);
    data.push({ kind, rawBytes, jobs, peers, restore });
  }
  return { diskMiB, coroutines, data };
}

async function ok(s: Stack, method: string, url: string, body?: unknown): Promise<any> {
  const r = await s.api(method, url, { body });
  if (r.status >= 300) throw new Error(`${method} ${url} -> ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** The job's figures from listBackupServiceJobs (the catalog rows its workflow keeps current). */
async function jobFigures(s: Stack, b: any, library: Library): Promise<CompressionJob> {
  const items: any[] = (await ok(s, 'GET', `/v1/backup-service-jobs?backupId=${b.id}`)).items;
  const start = items.find((j) => j.type === 'StartCompression');
  const fin = items.find((j) => j.type === 'FinalizeCompression');
  const t = (x: string | null | undefined) => (x ? Date.parse(x) : NaN);
  const seconds = (t(fin?.endedAt) - t(start?.startedAt)) / 1000;
  const uncompressedBytes = Number(b.uncompressedSize);
  return {
    library, status: b.compressionStatus, attempts: Number(start?.attempts),
    uncompressedBytes, bytes: Number(b.sizeBytes), ratio: Number(b.sizeBytes) / uncompressedBytes,
    seconds, phase1Seconds: (t(start?.endedAt) - t(start?.startedAt)) / 1000, mibps: uncompressedBytes / MiB / seconds,
  };
}

/** A full in-place restore through the API, timed from a cold cache, then the disk compared with the reference. */
async function restoreInPlace(s: Stack, vm: TestVm, b: any, reference: string): Promise<RestoreRun> {
  // Spoil the disk first, so a restore that did nothing cannot compare equal.
  await offlineWrite(vm.diskPath, 0, Math.min(8 * MiB, Math.floor((await virtualSize(vm.diskPath)) / 2)), 0xee);
  await dropCaches();
  const run = await timed(async () => {
    const started = await s.api('POST', `/v1/backups/${b.id}/restore`, { body: {} });
    if (started.status !== 202) throw new Error(`restore refused: ${JSON.stringify(started.body)}`);
    await settle(s, started.body.workflowId).catch(() => undefined);
    return (await ok(s, 'GET', `/v1/restores/${started.body.restoreId}`)).status as string;
  });
  const cmp = await qemuImgCompare(reference, vm.diskPath);
  return { seconds: run.seconds, status: run.value, identical: cmp.identical };
}

async function virtualSize(file: string): Promise<number> {
  return JSON.parse((await exec('qemu-img', ['info', '-U', '--output=json', file])).stdout)['virtual-size'];
}

/**
 * An ext4 image of diskMiB filled to ~80% with text files: lines of words drawn at random from the
 * system's licence texts, so the text compresses like prose but does not repeat at any distance (a
 * repeated block would favour whole-stream compressors over qcow2's per-cluster compression).
 */
async function textExt4(image: string, diskMiB: number, tree: string): Promise<void> {
  const words = await vocabulary();
  await mkdir(tree, { recursive: true });
  const total = Math.floor(diskMiB * 0.8) * MiB;
  const fileBytes = Math.min(4 * MiB, Math.max(64 * 1024, Math.floor(total / 64)));
  let seed = 0x9e3779b9;
  const next = () => {
    seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
    return seed;
  };
  for (let written = 0, n = 0; written < total; n++) {
    const dir = path.join(tree, `d${Math.floor(n / 100)}`);
    await mkdir(dir, { recursive: true });
    const buf = Buffer.alloc(Math.min(fileBytes, total - written));
    let at = 0;
    let col = 0;
    while (at < buf.length) {
      const w = words[next() % words.length];
      const sep = col + w.length > 72 ? '\n' : ' ';
      col = sep === '\n' ? 0 : col + w.length + 1;
      at += buf.write(w + sep, at);
    }
    const fh = await open(path.join(dir, `f${n}.txt`), 'w');
    await fh.write(buf);
    await fh.close();
    written += buf.length;
  }
  await exec('mkfs.ext4', ['-q', '-F', '-d', tree, image, `${diskMiB}M`]);
  await rm(tree, { recursive: true, force: true });
}

async function vocabulary(): Promise<string[]> {
  const dir = '/usr/share/common-licenses';
  const words = new Set<string>();
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    const text = await readFile(path.join(dir, f), 'utf8').catch(() => '');
    for (const w of text.split(/\s+/)) if (/^[\x21-\x7e]{1,19}$/.test(w)) words.add(w); // ASCII: a buffer write never stalls on a split character
  }
  if (words.size < 100) throw new Error(`too few words for the text disk in ${dir} (${words.size})`);
  return [...words];
}
