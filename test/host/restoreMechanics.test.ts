import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  abortRestore,
  ensureDomainDefined,
  finishRestore,
  flattenBackupDisk,
  readBackupDomainXml,
  swapInRestoredDisk,
} from '../../activities/host/restore';
import {
  abortQuickRestoreDisk,
  backingChain,
  consolidateOffline,
  domainIsRunning,
  prepareQuickRestoreDisk,
  pullDisk,
  startDomain,
} from '../../activities/host/quickRestore';
import { attachVolume, defineVmFromBackup, volumePathFor } from '../../activities/host/vmDefinition';
import { REPO } from '../helpers/paths';
import { createTestVm, destroyTestVm, TestVm, TEST_VM_PREFIX, virsh } from '../helpers/vm';

/*
 * The host side of restores on real files and real VMs (no mocks; MockActivityEnvironment only gives
 * the activities a Context so heartbeats and cancellation can be observed). Backup chains are made
 * here with qemu-img/qemu-io in the layout the backup side produces:
 * <repo>/<vmUuid>/<backupId>/vda.qcow2 chained by relative backing paths ../<backupId>/vda.qcow2.
 */

const exec = promisify(execFile);
const MiB = 1024 * 1024;
const ROOT = path.join(REPO, '.cache', 'tmp-restore-test', `run-${randomBytes(4).toString('hex')}`);

const sh = async (cmd: string, args: string[], cwd?: string) => (await exec(cmd, args, { cwd, maxBuffer: 64 * MiB })).stdout;
const qemuIo = (file: string, ...cmds: string[]) => sh('qemu-io', ['-f', 'qcow2', ...cmds.flatMap((c) => ['-c', c]), file]);
const sha256 = (file: string) =>
  new Promise<string>((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex'))).on('error', reject);
  });
async function compare(a: string, b: string): Promise<{ identical: boolean; out: string }> {
  try {
    return { identical: true, out: await sh('qemu-img', ['compare', '-U', a, b]) };
  } catch (e: any) {
    return { identical: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}
async function info(file: string): Promise<any> {
  return JSON.parse(await sh('qemu-img', ['info', '-U', '--output=json', file]));
}
const exists = (p: string) => fs.access(p).then(() => true, () => false);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What each backup point of a chain writes (qemu-io commands), applied in order. */
type Stage = string[];

interface Chain {
  repoPath: string;
  vmUuid: string;
  backupIds: string[];
  /** repository-relative file of each point */
  files: string[];
  /** standalone reference of each point, built independently */
  refs: string[];
}

/**
 * A chain FULL -> INC -> ... in a fresh repository, and for each point a reference: one standalone
 * image that got the same writes, copied after each stage.
 */
async function makeChain(name: string, sizeMiB: number, stages: Stage[]): Promise<Chain> {
  const repoPath = path.join(ROOT, name, 'repo');
  const vmUuid = randomUUID();
  const refDir = path.join(ROOT, name, 'ref');
  await fs.mkdir(refDir, { recursive: true });
  const refWork = path.join(refDir, 'work.qcow2');
  await sh('qemu-img', ['create', '-q', '-f', 'qcow2', refWork, `${sizeMiB}M`]);
  const chain: Chain = { repoPath, vmUuid, backupIds: [], files: [], refs: [] };
  for (const [i, stage] of stages.entries()) {
    const backupId = randomUUID();
    const dir = path.join(repoPath, vmUuid, backupId);
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, 'vda.qcow2');
    if (i === 0) await sh('qemu-img', ['create', '-q', '-f', 'qcow2', file, `${sizeMiB}M`]);
    // Relative backing path, as the backup side writes it; qemu-img resolves it from the image's dir.
    else await sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', `../${chain.backupIds[i - 1]}/vda.qcow2`, '-F', 'qcow2', 'vda.qcow2'], dir);
    await qemuIo(file, ...stage);
    await qemuIo(refWork, ...stage);
    const ref = path.join(refDir, `point${i}.qcow2`);
    await fs.copyFile(refWork, ref);
    await fs.writeFile(path.join(dir, 'domain.xml'), `<domain type='qemu'><name>point${i}</name><uuid>${vmUuid}</uuid></domain>\n`);
    chain.backupIds.push(backupId);
    chain.files.push(path.join(vmUuid, backupId, 'vda.qcow2'));
    chain.refs.push(ref);
  }
  return chain;
}

/** Reads through QEMU itself (HMP qemu-io on the disk's qdev): the VM sees `pattern` there. */
async function guestReadVerify(vm: { name: string }, target: string, off: number, len: number, pattern: number): Promise<void> {
  const log = `/var/log/libvirt/qemu/${vm.name}.log`;
  const before = (await fs.stat(log)).size;
  const qdev = `/machine/peripheral/ua-${target}/virtio-backend`;
  const out = await virsh(['qemu-monitor-command', vm.name, '--hmp', `qemu-io -d ${qdev} "read -P 0x${pattern.toString(16)} ${off} ${len}"`]);
  expect(out.trim()).toBe('');
  let text = '';
  for (let i = 0; i < 50 && !/read \d+\/\d+ bytes|failed/i.test(text); i++) {
    await sleep(100);
    const fh = await fs.open(log, 'r');
    const st = await fh.stat();
    const buf = Buffer.alloc(st.size - before);
    await fh.read(buf, 0, buf.length, before);
    await fh.close();
    text = buf.toString('utf8');
  }
  expect(text).not.toMatch(/verification failed|read failed/i);
  expect(text).toContain(`read ${len}/${len} bytes at offset ${off}`);
}

/** Copies (.x.restore-<id>) and kept old volumes (x.pre-restore-<id>) in a dir. */
const restoreFiles = async (dir: string) => (await fs.readdir(dir)).filter((f) => /\.(pre-)?restore-/.test(f));

describe('restore mechanics on real files and VMs', () => {
  const vms: TestVm[] = [];
  let chain: Chain;

  const newVm = async (opts: Parameters<typeof createTestVm>[0]) => {
    const vm = await createTestVm(opts);
    vms.push(vm);
    return vm;
  };

  beforeAll(async () => {
    await sh('bash', [path.join(REPO, 'scripts/libvirt.sh')]);
    chain = await makeChain('chain', 64, [
      ['write -P 0x11 0 4M', 'write -P 0x12 20M 2M', 'write -P 0x13 40M 1M'],
      ['write -P 0x22 1M 1M', 'write -z 20M 1M', 'write -P 0x23 63M 1M'],
      ['write -P 0x33 3M 2M', 'write -P 0x34 60M 4M', 'write -z 40M 64k'],
    ]);
  });

  afterAll(async () => {
    for (const vm of vms) await destroyTestVm(vm).catch(() => undefined);
    await fs.rm(ROOT, { recursive: true, force: true });
    await fs.rmdir(path.dirname(ROOT)).catch(() => undefined); // only if no other run left anything
  });

  test('(1) each point of FULL -> INC -> INC flattens to a standalone copy equal to an independent reference; swap, finish, abort', async () => {
    // The references really differ, so equality means something.
    expect((await compare(chain.refs[0], chain.refs[1])).identical).toBe(false);
    expect((await compare(chain.refs[1], chain.refs[2])).identical).toBe(false);
    // The chain links by relative paths.
    expect((await info(path.join(chain.repoPath, chain.files[2])))['backing-filename']).toBe(`../${chain.backupIds[1]}/vda.qcow2`);

    const volDir = path.join(ROOT, 'vols1');
    await fs.mkdir(volDir, { recursive: true });
    const vol = path.join(volDir, 'vm-vda.qcow2');
    await sh('qemu-img', ['create', '-q', '-f', 'qcow2', vol, '64M']);
    await qemuIo(vol, 'write -P 0xee 0 8M');
    await fs.chmod(vol, 0o640);
    const volHash = await sha256(vol);

    for (const i of [0, 1, 2]) {
      const env = new MockActivityEnvironment();
      const beats: any[] = [];
      env.on('heartbeat', (d) => beats.push(d));
      const restoreId = `r${i}-${randomBytes(3).toString('hex')}`;
      if (i === 1) {
        // A crashed earlier attempt left a half-written copy: the re-run starts over.
        await fs.writeFile(path.join(volDir, `.vm-vda.qcow2.restore-${restoreId}`), 'garbage');
      }
      const r = (await env.run(flattenBackupDisk, { repoPath: chain.repoPath, file: chain.files[i], targetPath: vol, restoreId })) as { tmpPath: string; virtualSize: number };
      expect(r.tmpPath).toBe(path.join(volDir, `.vm-vda.qcow2.restore-${restoreId}`));
      expect(r.virtualSize).toBe(64 * MiB);
      expect(beats.some((b) => typeof b?.percent === 'number' && b.percent === 100)).toBe(true);
      const cmp = await compare(chain.refs[i], r.tmpPath);
      expect(cmp).toEqual({ identical: true, out: expect.any(String) });
      expect((await info(r.tmpPath))['backing-filename']).toBeUndefined();
      expect(await backingChain({ path: r.tmpPath })).toEqual([]);
      // The copy takes the volume's mode; the volume itself is untouched until the swap.
      expect((await fs.stat(r.tmpPath)).mode & 0o777).toBe(0o640);
      expect(await sha256(vol)).toBe(volHash);
      await fs.rm(r.tmpPath);
    }

    // Swap in point 2; the old volume is kept until finishRestore.
    const rid = `swap-${randomBytes(3).toString('hex')}`;
    const { tmpPath } = await flattenBackupDisk({ repoPath: chain.repoPath, file: chain.files[2], targetPath: vol, restoreId: rid });
    expect(await swapInRestoredDisk({ tmpPath, targetPath: vol, restoreId: rid })).toEqual({ swapped: true });
    expect((await compare(chain.refs[2], vol)).identical).toBe(true);
    expect(await sha256(`${vol}.pre-restore-${rid}`)).toBe(volHash);
    expect(await exists(tmpPath)).toBe(false);
    // Run again after a crash: already swapped, fine, nothing changes.
    expect(await swapInRestoredDisk({ tmpPath, targetPath: vol, restoreId: rid })).toEqual({ swapped: true });
    expect((await compare(chain.refs[2], vol)).identical).toBe(true);
    await finishRestore({ targetPaths: [vol], restoreId: rid });
    expect(await restoreFiles(volDir)).toEqual([]);
    expect((await compare(chain.refs[2], vol)).identical).toBe(true);
    await finishRestore({ targetPaths: [vol], restoreId: rid }); // idempotent

    // abortRestore after a swap puts the old disk back byte for byte.
    const before = await sha256(vol);
    const rid2 = `abort-${randomBytes(3).toString('hex')}`;
    const t2 = await flattenBackupDisk({ repoPath: chain.repoPath, file: chain.files[0], targetPath: vol, restoreId: rid2 });
    await swapInRestoredDisk({ tmpPath: t2.tmpPath, targetPath: vol, restoreId: rid2 });
    expect((await compare(chain.refs[0], vol)).identical).toBe(true);
    const aborted = await abortRestore({ targetPaths: [vol], restoreId: rid2 });
    expect(aborted.restored).toEqual([vol]);
    expect(await sha256(vol)).toBe(before);
    expect(await restoreFiles(volDir)).toEqual([]);
    await abortRestore({ targetPaths: [vol], restoreId: rid2 }); // idempotent
    expect(await sha256(vol)).toBe(before);

    // abortRestore before the swap (copy written, or crashed right after keeping the old volume): old disk stays.
    const rid3 = `abort-${randomBytes(3).toString('hex')}`;
    await flattenBackupDisk({ repoPath: chain.repoPath, file: chain.files[1], targetPath: vol, restoreId: rid3 });
    await fs.link(vol, `${vol}.pre-restore-${rid3}`); // as a swap killed between its two steps leaves it
    await abortRestore({ targetPaths: [vol], restoreId: rid3 });
    expect(await sha256(vol)).toBe(before);
    expect(await restoreFiles(volDir)).toEqual([]);

    // A swap killed between its two steps, run again, completes.
    const rid4 = `swap-${randomBytes(3).toString('hex')}`;
    const t4 = await flattenBackupDisk({ repoPath: chain.repoPath, file: chain.files[1], targetPath: vol, restoreId: rid4 });
    await fs.link(vol, `${vol}.pre-restore-${rid4}`);
    await swapInRestoredDisk({ tmpPath: t4.tmpPath, targetPath: vol, restoreId: rid4 });
    expect((await compare(chain.refs[1], vol)).identical).toBe(true);
    expect(await sha256(`${vol}.pre-restore-${rid4}`)).toBe(before);
    await finishRestore({ targetPaths: [vol], restoreId: rid4 });

    // A new volume (restore to a new file): swapped into place, and removeNew deletes it on abort.
    const newVol = path.join(volDir, 'new-vdb.qcow2');
    const rid5 = `new-${randomBytes(3).toString('hex')}`;
    const t5 = await flattenBackupDisk({ repoPath: chain.repoPath, file: chain.files[2], targetPath: newVol, restoreId: rid5 });
    await swapInRestoredDisk({ tmpPath: t5.tmpPath, targetPath: newVol, restoreId: rid5 });
    await swapInRestoredDisk({ tmpPath: t5.tmpPath, targetPath: newVol, restoreId: rid5 });
    expect((await compare(chain.refs[2], newVol)).identical).toBe(true);
    expect(await abortRestore({ targetPaths: [newVol], restoreId: rid5, removeNew: true })).toEqual({ restored: [], removed: [newVol] });
    expect(await exists(newVol)).toBe(false);
    expect(await restoreFiles(volDir)).toEqual([]);

    expect(await readBackupDomainXml({ repoPath: chain.repoPath, vmUuid: chain.vmUuid, backupId: chain.backupIds[1] })).toContain('<name>point1</name>');
    await expect(readBackupDomainXml({ repoPath: chain.repoPath, vmUuid: chain.vmUuid, backupId: randomUUID() })).rejects.toMatchObject({
      type: 'CorruptBackup',
      nonRetryable: true,
    });
  });

  test('(2) a corrupted, truncated or missing file of the chain: CorruptBackup before anything is written', async () => {
    const c = await makeChain('corrupt', 32, [['write -P 0x61 0 4M'], ['write -P 0x62 8M 4M'], ['write -P 0x63 16M 1M']]);
    const volDir = path.join(ROOT, 'vols2');
    await fs.mkdir(volDir, { recursive: true });
    const vol = path.join(volDir, 'vm-vda.qcow2');
    await sh('qemu-img', ['create', '-q', '-f', 'qcow2', vol, '32M']);
    await qemuIo(vol, 'write -P 0xee 0 1M');
    const volHash = await sha256(vol);
    const base = path.join(c.repoPath, c.files[0]);
    const mid = path.join(c.repoPath, c.files[1]);
    const pristine = path.join(ROOT, 'corrupt', 'pristine.qcow2');
    const pristineMid = path.join(ROOT, 'corrupt', 'pristine-mid.qcow2');
    await fs.copyFile(base, pristine);
    await fs.copyFile(mid, pristineMid);

    const damages: [string, () => Promise<void>, RegExp][] = [
      ['header of the base overwritten', async () => {
        const fh = await fs.open(base, 'r+');
        await fh.write(Buffer.alloc(512, 0xff), 0, 512, 0);
        await fh.close();
      }, /not in qcow2 format|broken/i],
      ['base truncated into its data', () => fs.truncate(base, 2 * MiB), /fails qemu-img check/],
      ['base truncated into its metadata', () => fs.truncate(base, 100 * 1024), /fails qemu-img check/],
      ['middle file missing', () => fs.rm(mid), /No such file|missing/i],
      ['top file missing', () => fs.rm(path.join(c.repoPath, c.files[2])), /missing/i],
    ];
    for (const [what, damage, message] of damages) {
      await damage();
      const restoreId = `bad-${randomBytes(3).toString('hex')}`;
      const err = await flattenBackupDisk({ repoPath: c.repoPath, file: c.files[2], targetPath: vol, restoreId }).then(
        () => null,
        (e) => e,
      );
      expect({ what, type: err?.type, nonRetryable: err?.nonRetryable }).toEqual({ what, type: 'CorruptBackup', nonRetryable: true });
      expect(err.message).toMatch(message);
      expect(await restoreFiles(volDir)).toEqual([]);
      expect(await sha256(vol)).toBe(volHash);
      // Quick restore refuses the same chain, and leaves the volume alone.
      await expect(prepareQuickRestoreDisk({ repoPath: c.repoPath, file: c.files[2], targetPath: vol, restoreId })).rejects.toMatchObject({
        type: 'CorruptBackup',
      });
      expect(await restoreFiles(volDir)).toEqual([]);
      expect(await sha256(vol)).toBe(volHash);
      await fs.copyFile(pristine, base);
      await fs.copyFile(pristineMid, mid);
    }
  });

  test('(3) ensureDomainDefined redefines a VM whose definition is gone, from its XML', async () => {
    const vm = await newVm({ os: false, start: false });
    const xml = await virsh(['dumpxml', '--inactive', '--security-info', vm.name]);
    expect(await ensureDomainDefined({ uuid: vm.uuid, xml })).toEqual({ defined: false });
    await virsh(['undefine', vm.name]);
    await expect(virsh(['domuuid', vm.name])).rejects.toThrow();
    // The XML of another VM is refused.
    await expect(ensureDomainDefined({ uuid: randomUUID(), xml })).rejects.toMatchObject({ type: 'CorruptBackup' });
    expect(await ensureDomainDefined({ uuid: vm.uuid, xml })).toEqual({ defined: true });
    expect((await virsh(['domuuid', vm.name])).trim()).toBe(vm.uuid);
    expect(await ensureDomainDefined({ uuid: vm.uuid, xml })).toEqual({ defined: false });
    expect(await domainIsRunning({ domain: vm.uuid })).toBe(false);
  });

  test('(4) attachVolume attaches at the next free virtio target, live and persistent, with the file\'s data', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 32 });
    const mk = async (name: string, pattern: number) => {
      const p = path.join(vm.dir, name);
      await sh('qemu-img', ['create', '-q', '-f', 'qcow2', p, '16M']);
      await qemuIo(p, `write -P 0x${pattern.toString(16)} 0 2M`, `write -P 0x${(pattern + 1).toString(16)} 15M 1M`);
      const ref = path.join(ROOT, `attach-ref-${name}`);
      await fs.copyFile(p, ref);
      return { p, ref };
    };
    const v1 = await mk('restored-1.qcow2', 0x44);
    const v2 = await mk('restored-2.qcow2', 0x54);
    expect(await attachVolume({ domain: vm.uuid, path: v1.p, format: 'qcow2' })).toEqual({ target: 'vdb' });
    // Run again (worker crashed after attaching): same target, not attached twice.
    expect(await attachVolume({ domain: vm.uuid, path: v1.p, format: 'qcow2' })).toEqual({ target: 'vdb' });
    expect(await attachVolume({ domain: vm.name, path: v2.p, format: 'qcow2' })).toEqual({ target: 'vdc' });

    const live = await virsh(['domblklist', vm.name]);
    const config = await virsh(['domblklist', vm.name, '--inactive']);
    for (const out of [live, config]) {
      expect(out).toMatch(new RegExp(`vdb\\s+${v1.p}`));
      expect(out).toMatch(new RegExp(`vdc\\s+${v2.p}`));
      expect(out.match(/restored-1/g)).toHaveLength(1);
    }
    // The guest's view: QEMU reads the file's data at the new targets.
    await guestReadVerify(vm, 'vdb', 0, 2 * MiB, 0x44);
    await guestReadVerify(vm, 'vdb', 15 * MiB, MiB, 0x45);
    await guestReadVerify(vm, 'vdc', 0, 2 * MiB, 0x54);
    expect((await compare(v1.ref, v1.p)).identical).toBe(true);
    expect((await compare(v2.ref, v2.p)).identical).toBe(true);

    // Stopped VM: persistent only, next free target.
    await virsh(['destroy', vm.name]);
    const v3 = await mk('restored-3.qcow2', 0x64);
    expect(await attachVolume({ domain: vm.uuid, path: v3.p, format: 'qcow2' })).toEqual({ target: 'vdd' });
    expect(await virsh(['domblklist', vm.name, '--inactive'])).toMatch(new RegExp(`vdd\\s+${v3.p}`));
    await virsh(['start', vm.name]);
    await guestReadVerify(vm, 'vdd', 0, 2 * MiB, 0x64);
  });

  test('(5) quick restore of a stopped VM: overlay on the backup, start, live pull; afterwards standalone and equal to the chain', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 64, start: false });
    await qemuIo(vm.diskPath, 'write -P 0xee 0 8M');
    const oldHash = await sha256(vm.diskPath);
    const backupFile = path.join(chain.repoPath, chain.files[2]);

    // Prepared, then given up before the VM started: the old volume is back.
    const ridA = `qa-${randomBytes(3).toString('hex')}`;
    await prepareQuickRestoreDisk({ repoPath: chain.repoPath, file: chain.files[2], targetPath: vm.diskPath, restoreId: ridA });
    expect(await backingChain({ path: vm.diskPath })).toContain(backupFile);
    expect(await abortQuickRestoreDisk({ targetPath: vm.diskPath, restoreId: ridA })).toEqual({ restored: true });
    expect(await sha256(vm.diskPath)).toBe(oldHash);
    expect(await restoreFiles(vm.dir)).toEqual([]);

    const rid = `qb-${randomBytes(3).toString('hex')}`;
    const prep = { repoPath: chain.repoPath, file: chain.files[2], targetPath: vm.diskPath, restoreId: rid };
    expect(await prepareQuickRestoreDisk(prep)).toEqual({ overlayPath: vm.diskPath });
    expect(await prepareQuickRestoreDisk(prep)).toEqual({ overlayPath: vm.diskPath }); // idempotent
    expect(await sha256(`${vm.diskPath}.pre-restore-${rid}`)).toBe(oldHash);
    const ov = await info(vm.diskPath);
    expect(ov['backing-filename']).toBe(backupFile); // absolute; the backup's parents follow by relative paths
    expect(ov['virtual-size']).toBe(64 * MiB);
    const dir2 = path.join(chain.repoPath, chain.vmUuid, chain.backupIds[2]);
    expect(await backingChain({ path: vm.diskPath })).toEqual([
      backupFile,
      `${dir2}/../${chain.backupIds[1]}/vda.qcow2`,
      `${dir2}/../${chain.backupIds[1]}/../${chain.backupIds[0]}/vda.qcow2`,
    ]);

    expect(await domainIsRunning({ domain: vm.uuid })).toBe(false);
    expect(await startDomain({ domain: vm.uuid })).toEqual({ started: true });
    expect(await startDomain({ domain: vm.uuid })).toEqual({ started: false });
    expect(await domainIsRunning({ domain: vm.uuid })).toBe(true);
    // The VM reads the backup's data at once.
    await guestReadVerify(vm, 'vda', 60 * MiB, 4 * MiB, 0x34);
    // While the VM runs on it, the backup can still be flattened (e.g. for a new VM from the same backup).
    const side = path.join(ROOT, 'vols5');
    await fs.mkdir(side, { recursive: true });
    const f = await flattenBackupDisk({ repoPath: chain.repoPath, file: chain.files[2], targetPath: path.join(side, 'x.qcow2'), restoreId: rid });
    expect((await compare(chain.refs[2], f.tmpPath)).identical).toBe(true);

    // A pull already running (as if started by a worker that died) is re-attached to and its bandwidth lifted.
    await virsh(['blockpull', vm.name, 'vda', '--bandwidth', '1']);
    const env = new MockActivityEnvironment();
    const beats: any[] = [];
    env.on('heartbeat', (d) => beats.push(d));
    const r = (await env.run(pullDisk, { domain: vm.uuid, target: 'vda' })) as { bytes: number };
    expect(r.bytes).toBe(64 * MiB);
    expect(beats.length).toBeGreaterThan(0);
    expect(beats.find((b) => b.end === 64 * MiB && typeof b.cur === 'number' && typeof b.percent === 'number')).toBeDefined();
    expect(await backingChain({ path: vm.diskPath })).toEqual([]);
    expect(await virsh(['dumpxml', vm.name])).not.toMatch(/<backingStore[^/]/);
    expect(await domainIsRunning({ domain: vm.uuid })).toBe(true);
    // Compared while the VM still runs: pullDisk has made QEMU flush the pulled clusters' metadata
    // (without that, the file on disk already says "no backing" but reads zeros there).
    expect((await compare(chain.refs[2], vm.diskPath)).identical).toBe(true);
    expect((await compare(f.tmpPath, vm.diskPath)).identical).toBe(true);
    // Done: pulling again is a no-op, offline consolidation too.
    expect((await pullDisk({ domain: vm.uuid, target: 'vda' })).bytes).toBe(64 * MiB);
    await finishRestore({ targetPaths: [vm.diskPath], restoreId: rid });
    expect(await restoreFiles(vm.dir)).toEqual([]);
    await virsh(['destroy', vm.name]);
    expect(await consolidateOffline({ path: vm.diskPath })).toEqual({ bytes: 0 });
    expect((await compare(chain.refs[2], vm.diskPath)).identical).toBe(true);
  });

  test('(6) the VM destroyed during the pull: DomainNotRunning, then offline consolidation gives a standalone equal disk; cancel aborts the job', async () => {
    const c = await makeChain('slow', 64, [['write -P 0x71 0 24M'], ['write -P 0x72 30M 8M', 'write -z 4M 1M']]);
    const vm = await newVm({ os: false, diskSizeMiB: 64, start: false });
    const rid = `qc-${randomBytes(3).toString('hex')}`;
    await prepareQuickRestoreDisk({ repoPath: c.repoPath, file: c.files[1], targetPath: vm.diskPath, restoreId: rid });
    await startDomain({ domain: vm.name });

    const pulling = pullDisk({ domain: vm.uuid, target: 'vda', bandwidthMiB: 1 }).then(
      () => null,
      (e) => e,
    );
    // Wait until the job has copied something, then pull the plug.
    for (let i = 0; i < 100; i++) {
      const out = await virsh(['blockjob', vm.name, 'vda', '--info', '--raw']).catch(() => '');
      if (/cur=[1-9]/.test(out)) break;
      await sleep(200);
    }
    expect(await virsh(['blockjob', vm.name, 'vda', '--info', '--raw'])).toMatch(/bandwidth=1\b/);
    await virsh(['destroy', vm.name]);
    const err = await pulling;
    expect({ type: err?.type, nonRetryable: err?.nonRetryable, message: err?.message }).toEqual({
      type: 'DomainNotRunning',
      nonRetryable: true,
      message: 'domain stopped during consolidation',
    });
    expect((await backingChain({ path: vm.diskPath })).length).toBe(2);
    // Not running at all: the same.
    await expect(pullDisk({ domain: vm.uuid, target: 'vda' })).rejects.toMatchObject({ type: 'DomainNotRunning' });

    const env = new MockActivityEnvironment();
    const beats: any[] = [];
    env.on('heartbeat', (d) => beats.push(d));
    const r = (await env.run(consolidateOffline, { path: vm.diskPath })) as { bytes: number };
    expect(r.bytes).toBe(64 * MiB);
    expect(beats.some((b) => typeof b?.percent === 'number')).toBe(true);
    expect(await backingChain({ path: vm.diskPath })).toEqual([]);
    expect((await compare(c.refs[1], vm.diskPath)).identical).toBe(true);
    expect(await consolidateOffline({ path: vm.diskPath })).toEqual({ bytes: 0 });
    await finishRestore({ targetPaths: [vm.diskPath], restoreId: rid });

    // Cancelled: the job is aborted, the overlay still consistent (backing kept), the VM runs on.
    const rid2 = `qd-${randomBytes(3).toString('hex')}`;
    await prepareQuickRestoreDisk({ repoPath: c.repoPath, file: c.files[1], targetPath: vm.diskPath, restoreId: rid2 });
    await startDomain({ domain: vm.name });
    const cenv = new MockActivityEnvironment();
    const p = cenv.run(pullDisk, { domain: vm.name, target: 'vda', bandwidthMiB: 1 }).then(
      () => null,
      (e) => e,
    );
    await sleep(3000);
    cenv.cancel();
    const cerr = await p;
    expect(cerr).toBeInstanceOf(CancelledFailure);
    expect((await virsh(['blockjob', vm.name, 'vda', '--info', '--raw'])).trim()).toBe('');
    expect(await domainIsRunning({ domain: vm.name })).toBe(true);
    expect((await backingChain({ path: vm.diskPath })).length).toBe(2);
    // ... and a later pull finishes it.
    expect((await pullDisk({ domain: vm.name, target: 'vda' })).bytes).toBe(64 * MiB);
    expect(await backingChain({ path: vm.diskPath })).toEqual([]);
    expect((await compare(c.refs[1], vm.diskPath)).identical).toBe(true);
    await finishRestore({ targetPaths: [vm.diskPath], restoreId: rid2 });
    expect(await restoreFiles(vm.dir)).toEqual([]);
  });

  test('(7) defineVmFromBackup: new name and UUID, disks at the new files, no MAC, disks not restored left out', async () => {
    const src = await newVm({ os: false, diskSizeMiB: 64, start: false, extraDisks: 1 });
    const mac = '52:54:00:aa:bb:cc';
    const xml = (await virsh(['dumpxml', '--inactive', '--security-info', src.name])).replace(
      '</devices>',
      `  <interface type='user'><mac address='${mac}'/><model type='virtio'/></interface>\n  </devices>`,
    );
    const newName = `${TEST_VM_PREFIX}${randomBytes(4).toString('hex')}-clone`;
    const dir = path.join(ROOT, newName);
    await fs.mkdir(dir, { recursive: true });
    const clone: TestVm = { name: newName, uuid: randomUUID(), dir, diskPath: '' };
    clone.diskPath = volumePathFor({ dir, name: newName, target: 'vda' });
    expect(clone.diskPath).toBe(path.join(dir, `${newName}-vda.qcow2`));
    expect(volumePathFor({ dir, name: 'x', target: 'vdb', suffix: 'restored-1234' })).toBe(path.join(dir, 'x-restored-1234-vdb.qcow2'));
    vms.push(clone);

    const rid = `nv-${randomBytes(3).toString('hex')}`;
    const { tmpPath } = await flattenBackupDisk({ repoPath: chain.repoPath, file: chain.files[1], targetPath: clone.diskPath, restoreId: rid });
    await swapInRestoredDisk({ tmpPath, targetPath: clone.diskPath, restoreId: rid });
    const input = { xml, newName, newUuid: clone.uuid, diskMap: { vda: clone.diskPath } };
    expect(await defineVmFromBackup(input)).toEqual({ uuid: clone.uuid, name: newName, droppedTargets: ['vdb'] });
    expect(await defineVmFromBackup(input)).toEqual({ uuid: clone.uuid, name: newName, droppedTargets: ['vdb'] }); // again: same VM

    const def = await virsh(['dumpxml', '--inactive', newName]);
    expect((await virsh(['domuuid', newName])).trim()).toBe(clone.uuid);
    expect(def).not.toContain(src.uuid);
    expect(def).not.toContain(src.diskPath);
    expect(def).not.toContain(mac);
    expect(def).toMatch(/<mac address='52:54:00:[0-9a-f:]{8}'\/>/);
    const blk = await virsh(['domblklist', newName, '--inactive']);
    expect(blk).toMatch(new RegExp(`vda\\s+${clone.diskPath}`));
    expect(blk).not.toMatch(/vdb/);
    // The original is untouched.
    expect((await virsh(['domuuid', src.name])).trim()).toBe(src.uuid);
    expect(await virsh(['domblklist', src.name, '--inactive'])).toMatch(new RegExp(`vda\\s+${src.diskPath}`));
    // Another VM of that name, or a disk the XML lacks: refused.
    await expect(defineVmFromBackup({ ...input, newUuid: randomUUID() })).rejects.toMatchObject({ type: 'NameTaken' });
    await expect(defineVmFromBackup({ ...input, newName: `${newName}x`, diskMap: { vdz: clone.diskPath } })).rejects.toMatchObject({
      type: 'DiskMissing',
    });
    // It boots from the restored disk (the no-OS guest just runs).
    await virsh(['start', newName]);
    await guestReadVerify(clone, 'vda', 1 * MiB, 1 * MiB, 0x22);
  });

  test('(8) quick volume restore: an overlay on the backup attached to a running VM is pulled live into a standalone volume', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 32 });
    const newPath = volumePathFor({ dir: vm.dir, name: vm.name, target: 'vda', suffix: 'restored-abcd1234' });
    const rid = `qv-${randomBytes(3).toString('hex')}`;
    expect(await prepareQuickRestoreDisk({ repoPath: chain.repoPath, file: chain.files[1], targetPath: newPath, restoreId: rid })).toEqual({
      overlayPath: newPath,
    });
    expect(await exists(`${newPath}.pre-restore-${rid}`)).toBe(false); // nothing was there to keep
    const { target } = await attachVolume({ domain: vm.uuid, path: newPath, format: 'qcow2' });
    expect(target).toBe('vdb');
    await guestReadVerify(vm, 'vdb', 63 * MiB, MiB, 0x23);
    expect((await pullDisk({ domain: vm.uuid, target, bandwidthMiB: 50 })).bytes).toBe(64 * MiB);
    expect(await backingChain({ path: newPath })).toEqual([]);
    expect((await compare(chain.refs[1], newPath)).identical).toBe(true);
    await guestReadVerify(vm, 'vdb', 1 * MiB, MiB, 0x22);
    await finishRestore({ targetPaths: [newPath], restoreId: rid });
    expect(await restoreFiles(vm.dir)).toEqual([]);

    // Not attached yet when the restore fails: removeNew deletes the new overlay.
    const other = volumePathFor({ dir: vm.dir, name: vm.name, target: 'vda', suffix: 'restored-ffff0000' });
    const rid2 = `qw-${randomBytes(3).toString('hex')}`;
    await prepareQuickRestoreDisk({ repoPath: chain.repoPath, file: chain.files[0], targetPath: other, restoreId: rid2 });
    expect(await abortRestore({ targetPaths: [other], restoreId: rid2, removeNew: true })).toEqual({ restored: [], removed: [other] });
    expect(await exists(other)).toBe(false);
    // ... but an attached one in use by the VM is refused rather than pulled from under it.
    await expect(abortRestore({ targetPaths: [newPath], restoreId: rid, removeNew: true })).rejects.toMatchObject({ type: 'DiskInUse' });
    expect(await exists(newPath)).toBe(true);
  });
});
