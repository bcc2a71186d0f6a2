import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { backupVia, enrol, setupKbossZone, settle, type KbossZone } from '../test/helpers/backups';
import { CACHE } from '../test/helpers/paths';
import { startStack, type Stack } from '../test/helpers/stack';
import { createTestVm, destroyTestVm, guestWrite, virsh, type TestVm } from '../test/helpers/vm';
import { allocatedBytes, dropCaches, exec, MiB, peakRssMiB, percentile, rawRead, sha256File, timed } from './measure';
import { bareBackupBegin, cpSync, cpUnsynced, durableCopy, virtnbdbackup, virtnbdDataFiles, virtnbdrestore } from './peers';
import { historySteps } from './history';
import { compressionBench } from './compression';
import { runHashingBenchmark } from './hashing';
import { writeReport, type MainFigures, type Results } from './report';

/** only 'compression': just the compression part (and the stack, zone and VMs it needs); 'hashing': section 9, no stack. */
export interface BenchOptions { diskGiB: number; quickSizesGiB: number[]; smallVms: number; smoke: boolean; outDir: string; only?: 'compression' | 'hashing' }

/**
 * Backflow through its API, next to virtnbdbackup/virtnbdrestore and a raw copy, on the same data in
 * the same run. virtnbdbackup runs on a twin VM (an identical copy of the disk, receiving the same
 * writes), so neither tool's checkpoints disturb the other's chain.
 */
export async function runBenchmark(opts: BenchOptions): Promise<{ results: Results; markdown: string; files: { md: string; png?: string } }> {
  if (opts.only === 'hashing') return runHashingBenchmark(opts);
  const work = await mkdtemp(path.join(CACHE, 'bench-'));
  const vms: TestVm[] = [];
  const s = await startStack({ hostWorker: 'process' });
  try {
    const kb = await setupKbossZone(s);
    const loadAtStart = os.loadavg()[0];
    const r: Results = { opts, machine: await machine(), started: new Date().toISOString(), finished: '' };
    const diskMiB = Math.round(opts.diskGiB * 1024);
    if (opts.only !== 'compression') Object.assign(r, await mainFigures(s, kb, opts, diskMiB, work, vms));

    // 8. Compression jobs (zstd, zlib) against zstd -T0 and gzip; restore from compressed vs uncompressed.
    r.compression = await compressionBench(s, kb, diskMiB, work, vms);
    r.finished = new Date().toISOString();
    r.load = [loadAtStart, os.loadavg()[0]];

    await mkdir(opts.outDir, { recursive: true });
    const { markdown, files: out } = await writeReport(r, opts.outDir);
    kb.cleanup();
    return { results: r, markdown, files: out };
  } finally {
    for (const vm of vms) await destroyTestVm(vm).catch(() => undefined);
    await s.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** Sections 1-7: backups, restores, overhead, many VMs, hashing and memory. */
async function mainFigures(s: Stack, kb: KbossZone, opts: BenchOptions, diskMiB: number, work: string, vms: TestVm[]): Promise<MainFigures> {
  const r = {} as MainFigures;
  // 1. Full backup of incompressible data, running, against the yardsticks: each from a cold page cache.
  const [vm, twin] = await randomVms(diskMiB, 2, work, vms);
  await enrol(s, vm.uuid, kb.offeringId);
  const limits = await yardsticks(vm.diskPath, work);
  await dropCaches();
  const bfFull = await timed(() => backupVia(s, { vmId: vm.uuid }));
  const vnbDir = path.join(work, 'virtnbd');
  await dropCaches();
  const vnbFull = await virtnbdbackup(twin.name, 'full', vnbDir);
  r.full = { bytes: diskMiB * MiB, backflow: bfFull.seconds, virtnbdbackup: vnbFull, ...limits, status: bfFull.value.status };

  // 2. Incrementals after 1% and 10% of the disk was rewritten (the same writes on both VMs).
  r.incs = [];
  let latest = bfFull.value;
  for (const pct of [1, 10]) {
    const written = await rewrite([vm, twin], diskMiB, pct);
    const bf = await timed(() => backupVia(s, { vmId: vm.uuid }));
    latest = bf.value;
    const vnb = await virtnbdbackup(twin.name, 'inc', vnbDir);
    const vnbFiles = await virtnbdDataFiles(vnbDir, 'inc');
    r.incs.push({
      pct, written, backflow: bf.seconds, backflowBytes: bf.value.sizeBytes, type: bf.value.type,
      virtnbdbackup: vnb, virtnbdBytes: await allocatedBytes(vnbFiles.slice(-1)),
    });
  }

  // 3. Full restore of the newest point (the chain flattened), against virtnbdrestore and the yardsticks
  // (copies of the full backup's file: what a restore of one file at least has to write).
  await virsh(['destroy', vm.name]);
  await s.api('POST', `/v1/hosts/${s.facts.id}/sync`);
  await dropCaches();
  const bfRestore = await timed(async () => {
    const started = await s.api('POST', `/v1/backups/${latest.id}/restore`, { body: {} });
    if (started.status !== 202) throw new Error(`restore refused: ${JSON.stringify(started.body)}`);
    await settle(s, started.body.workflowId);
    return (await s.api('GET', `/v1/restores/${started.body.restoreId}`)).body;
  });
  await dropCaches();
  const vnbRestore = await virtnbdrestore(vnbDir, path.join(work, 'virtnbd-restored'));
  await rm(path.join(work, 'virtnbd-restored'), { recursive: true, force: true });
  const backupFile = path.join(kb.repoPath, bfFull.value.disks[0].file);
  const restoreLimits = await yardsticks(backupFile, work);
  r.restore = { backflow: bfRestore.seconds, status: bfRestore.value.status, virtnbdrestore: vnbRestore, durable: restoreLimits.durable, cpSync: restoreLimits.cpSync };

  // 1b. Full backup of the stopped VM (its restored disk: the same amount of random data), isolated so it
  // is a full; virtnbdbackup backs up the stopped twin (offline, through qemu-nbd).
  await virsh(['destroy', twin.name]);
  const stoppedLimits = await yardsticks(vm.diskPath, work);
  await dropCaches();
  const bfStopped = await timed(() => backupVia(s, { vmId: vm.uuid, isolated: true }));
  await dropCaches();
  const vnbStopped = await virtnbdbackup(twin.name, 'copy', path.join(work, 'virtnbd-stopped')).catch(() => NaN);
  r.fullStopped = { backflow: bfStopped.seconds, virtnbdbackup: vnbStopped, durable: stoppedLimits.durable, status: bfStopped.value.status, type: bfStopped.value.type };

  // 4. Quick restore: time from the request to the VM running, by disk size, with the steps; then consolidation.
  r.quick = [];
  for (const gib of opts.quickSizesGiB) r.quick.push(await quickRestore(s, kb, Math.round(gib * 1024), work, vms));

  // 5. Control-plane overhead on a small disk, with the backup's steps from its history; many small VMs at once.
  const small = await createTestVm({ os: false, diskSizeMiB: 64 });
  vms.push(small);
  await enrol(s, small.uuid, kb.offeringId);
  const bf64 = await timed(() => backupVia(s, { vmId: small.uuid, isolated: true }));
  const bare64 = await bareBackupBegin(small.name, path.join(work, 'bare.qcow2'));
  r.overhead = { backflow64: bf64.seconds, bare64, perGiBFull: bfFull.seconds / opts.diskGiB, steps: await historySteps(s.client, bf64.value.workflowId) };
  r.many = await manyAtOnce(s, kb, opts.smallVms, vms);

  // 6. Hashing against a pure sequential read of the same files.
  const files = [backupFile];
  await dropCaches();
  const read = await timed(async () => { for (const f of files) await rawRead(f); });
  await dropCaches();
  const hash = await timed(async () => { for (const f of files) await sha256File(f); });
  r.hash = { bytes: await allocatedBytes(files), rawRead: read.seconds, sha256: hash.seconds };

  // 7. Peak memory: the API and control worker share this process; the host worker is its own.
  const hostPid = s.hostWorkerPid();
  r.rss = { apiAndControl: peakRssMiB('self'), hostWorker: hostPid ? peakRssMiB(hostPid) : NaN };
  return r;
}

/** The yardsticks for copying `src` into the same folder as the backups, each from a cold page cache. */
async function yardsticks(src: string, work: string): Promise<{ durable: number; cpSync: number; cp: number; read: number }> {
  const dest = path.join(work, 'yardstick.qcow2');
  const once = async (copy: (a: string, b: string) => Promise<number>) => {
    await dropCaches();
    const seconds = await copy(src, dest);
    await rm(dest, { force: true });
    return seconds;
  };
  await dropCaches();
  const read = (await timed(() => rawRead(src))).seconds;
  return { read, durable: await once(durableCopy), cpSync: await once(cpSync), cp: await once(cpUnsynced) };
}

/** VMs with identical disks of random (incompressible) data, started; dataMiB (default all) of it at the start, the rest sparse. */
async function randomVms(sizeMiB: number, count: number, work: string, vms: TestVm[], dataMiB = sizeMiB): Promise<TestVm[]> {
  const rawFile = path.join(work, 'random.raw');
  await exec('dd', ['if=/dev/urandom', `of=${rawFile}`, 'bs=1M', `count=${dataMiB}`, 'status=none']);
  const made: TestVm[] = [];
  for (let i = 0; i < count; i++) {
    const vm = await createTestVm({ os: false, diskSizeMiB: sizeMiB, start: false });
    vms.push(vm);
    await exec('qemu-img', ['convert', '-O', 'qcow2', rawFile, vm.diskPath]);
    if (dataMiB < sizeMiB) await exec('qemu-img', ['resize', '-q', '-f', 'qcow2', vm.diskPath, `${sizeMiB}M`]);
    await virsh(['start', vm.name]);
    made.push(vm);
  }
  await rm(rawFile);
  return made;
}

/** Rewrites pct% of the disk on every VM, in 8 spread-out runs; returns the bytes written per VM. */
async function rewrite(vms: TestVm[], diskMiB: number, pct: number): Promise<number> {
  const total = Math.max(1, Math.round((diskMiB * pct) / 100));
  const runs = Math.min(8, total);
  const each = Math.floor(total / runs);
  for (const vm of vms) {
    for (let i = 0; i < runs; i++) {
      const offsetMiB = Math.floor((i * diskMiB) / runs);
      await guestWrite(vm, offsetMiB * MiB, each * MiB, 0x10 + pct);
    }
  }
  return runs * each * MiB;
}

/** Disks above 8 GiB hold data in their first GiB only (sparse after it), as the issue allows for 32 GiB. */
const quickDataMiB = (sizeMiB: number) => (sizeMiB > 8192 ? 1024 : sizeMiB);

async function quickRestore(s: Stack, kb: KbossZone, sizeMiB: number, work: string, vms: TestVm[]) {
  const [vm] = await randomVms(sizeMiB, 1, work, vms, quickDataMiB(sizeMiB));
  await enrol(s, vm.uuid, kb.offeringId);
  const b = await backupVia(s, { vmId: vm.uuid });
  await virsh(['destroy', vm.name]);
  await s.api('POST', `/v1/hosts/${s.facts.id}/sync`);
  const requested = Date.now();
  const started = await s.api('POST', `/v1/backups/${b.id}/restore`, { body: { quickRestore: true } });
  const answered = Date.now() - requested;
  if (started.status !== 202) throw new Error(`quick restore refused: ${JSON.stringify(started.body)}`);
  // Running is what libvirt says, polled from here; the catalog's runningAt confirms it.
  let runningAt = 0;
  while (!runningAt) {
    const state = (await virsh(['domstate', vm.name]).catch(() => '')).trim();
    if (state === 'running') runningAt = Date.now();
    else await new Promise((res) => setTimeout(res, 20));
    if (Date.now() - requested > 600_000) throw new Error('quick restore never ran the VM');
  }
  await settle(s, started.body.workflowId);
  const done = (await s.api('GET', `/v1/restores/${started.body.restoreId}`)).body;
  // The steps up to the start, measured from the request.
  const steps = await historySteps(s.client, started.body.workflowId, { from: requested, until: runningAt });
  return {
    sizeMiB, dataMiB: quickDataMiB(sizeMiB), toRunning: (runningAt - requested) / 1000, answeredMs: answered, steps,
    consolidation: (Date.parse(done.finishedAt) - runningAt) / 1000, status: done.status,
  };
}

export async function manyAtOnce(s: Stack, kb: KbossZone, n: number, vms: TestVm[]) {
  const small: TestVm[] = [];
  for (let i = 0; i < n; i++) {
    const vm = await createTestVm({ os: false, diskSizeMiB: 16 });
    vms.push(vm);
    small.push(vm);
    await guestWrite(vm, 0, MiB, 0x60);
  }
  await s.api('POST', `/v1/hosts/${s.facts.id}/sync`);
  for (const vm of small) await s.api('POST', `/v1/vms/${vm.uuid}/backup-offering`, { body: { offeringId: kb.offeringId } });
  const t0 = Date.now();
  const each = await Promise.all(
    small.map(async (vm) => {
      const t = Date.now();
      const b = await backupVia(s, { vmId: vm.uuid });
      return { seconds: (Date.now() - t) / 1000, ok: b.status === 'BackedUp' };
    }),
  );
  const total = (Date.now() - t0) / 1000;
  const secs = each.map((e) => e.seconds);
  // Afterwards no VM may be paused (frozen) or still have a libvirt job.
  let leftBehind = 0;
  for (const vm of small) {
    const state = (await virsh(['domstate', vm.name])).trim();
    const job = await virsh(['domjobinfo', vm.name, '--rawstats']);
    if (state !== 'running' || !/Job type:\s*0/.test(job)) leftBehind++;
  }
  const hostPid = s.hostWorkerPid();
  return {
    n, succeeded: each.filter((e) => e.ok).length, total, p50: percentile(secs, 50), p95: percentile(secs, 95), leftBehind,
    hostWorkerPeakMiB: hostPid ? peakRssMiB(hostPid) : NaN,
  };
}

export async function machine() {
  const cpu = (await exec('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"])).stdout.trim();
  const qemu = (await exec('qemu-img', ['--version'])).stdout.split('\n')[0];
  const libvirt = (await exec('virsh', ['--version'])).stdout.trim();
  return {
    host: os.hostname(), cpus: os.cpus().length, cpu, memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), qemu, libvirt,
    kvm: await exec('test', ['-e', '/dev/kvm']).then(() => true, () => false),
  };
}
