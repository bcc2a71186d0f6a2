import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './paths';
import { createTestVm, destroyTestVm, type TestVm, virsh } from './vm';

/*
 * For the host side of restores on real files and real VMs: backup chains made here with qemu-img/qemu-io
 * in the layout the backup side produces, <repo>/<vmUuid>/<backupId>/vda.qcow2 chained by relative backing
 * paths ../<backupId>/vda.qcow2, each point with an independently built reference.
 */

const exec = promisify(execFile);
export const MiB = 1024 * 1024;
/** This test file's scratch directory (each test file loads its own copy of this module). */
export const ROOT = path.join(REPO, '.cache', 'tmp-restore-test', `run-${randomBytes(4).toString('hex')}`);

export const sh = async (cmd: string, args: string[], cwd?: string) => (await exec(cmd, args, { cwd, maxBuffer: 64 * MiB })).stdout;
export const qemuIo = (file: string, ...cmds: string[]) => sh('qemu-io', ['-f', 'qcow2', ...cmds.flatMap((c) => ['-c', c]), file]);
export async function info(file: string): Promise<any> {
  return JSON.parse(await sh('qemu-img', ['info', '-U', '--output=json', file]));
}
export const exists = (p: string) => fs.access(p).then(() => true, () => false);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What each backup point of a chain writes (qemu-io commands), applied in order. */
export type Stage = string[];

export interface Chain {
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
export async function makeChain(name: string, sizeMiB: number, stages: Stage[]): Promise<Chain> {
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
export async function guestReadVerify(vm: { name: string }, target: string, off: number, len: number, pattern: number): Promise<void> {
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
export const restoreFiles = async (dir: string) => (await fs.readdir(dir)).filter((f) => /\.(pre-)?restore-/.test(f));

export interface RestoreWorld {
  /** FULL -> INC -> INC, 64 MiB, made in beforeAll. */
  chain: Chain;
  /** VMs destroyed in afterAll. */
  vms: TestVm[];
  newVm: (opts: Parameters<typeof createTestVm>[0]) => Promise<TestVm>;
}

/** Registers the set-up every restore-mechanics file shares: libvirt up, the standard chain; and the clean-up. */
export function restoreWorld(): RestoreWorld {
  const w = { vms: [] as TestVm[] } as RestoreWorld;
  w.newVm = async (opts) => {
    const vm = await createTestVm(opts);
    w.vms.push(vm);
    return vm;
  };
  beforeAll(async () => {
    await sh('bash', [path.join(REPO, 'scripts/libvirt.sh')]);
    w.chain = await makeChain('chain', 64, [
      ['write -P 0x11 0 4M', 'write -P 0x12 20M 2M', 'write -P 0x13 40M 1M'],
      ['write -P 0x22 1M 1M', 'write -z 20M 1M', 'write -P 0x23 63M 1M'],
      ['write -P 0x33 3M 2M', 'write -P 0x34 60M 4M', 'write -z 40M 64k'],
    ]);
  });
  afterAll(async () => {
    for (const vm of w.vms) await destroyTestVm(vm).catch(() => undefined);
    await fs.rm(ROOT, { recursive: true, force: true });
    await fs.rmdir(path.dirname(ROOT)).catch(() => undefined); // only if no other run left anything
  });
  return w;
}
