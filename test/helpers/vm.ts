import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CACHE } from './paths';

/**
 * Throwaway libvirt VMs for tests. Every domain is named `bftest-<random>` and keeps its files in
 * `$BACKFLOW_CACHE/vms/<name>/`: vda.qcow2 (vdb.qcow2, ...), domain.xml and console.log (the serial
 * console, ttyS0). Needs scripts/libvirt.sh (libvirtd running) and, for os:true, scripts/build-guest.sh.
 */
export interface TestVm {
  name: string;
  uuid: string;
  dir: string;
  /** qcow2 of vda */
  diskPath: string;
}

export interface TestVmOptions {
  /** true: boot the tiny guest (kernel+initrd direct boot, data disk = copy of the template, guest agent channel); false (default): no OS, just a qcow2 disk of diskSizeMiB */
  os?: boolean;
  /** default 64 (for os:false); for os:true the template size (a larger value grows the qcow2, not the ext4 in it) */
  diskSizeMiB?: number;
  /** include the org.qemu.guest_agent.0 virtio channel (default: same as os) */
  agent?: boolean;
  /** default true */
  start?: boolean;
  /** extra empty qcow2 disks vdb, vdc... of diskSizeMiB each (default 0) */
  extraDisks?: number;
}

export const TEST_VM_PREFIX = 'bftest-';
export const LIBVIRT_URI = 'qemu:///system';
export const GUEST_DIR = path.join(CACHE, 'guest');
export const VMS_DIR = path.join(CACHE, 'vms');
/** The line the tiny guest prints on its console once /data is mounted and qemu-ga started. */
export const GUEST_READY_MARKER = 'BACKFLOW-GUEST-READY';

function exec(cmd: string, args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${(stderr || '').trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Runs `virsh -c qemu:///system ARGS`, returns stdout; throws with stderr on failure. */
export function virsh(args: string[]): Promise<string> {
  return exec('virsh', ['-c', LIBVIRT_URI, ...args]);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const xmlEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');

/** vda, vdb, ... */
const targetName = (i: number) => `vd${String.fromCharCode(97 + i)}`;

/** libvirt user alias of a disk, so its qdev id is known: /machine/peripheral/ua-<target>/virtio-backend. */
const diskAlias = (target: string) => `ua-${target}`;

/** Path of the serial console log (ttyS0) of a test VM. */
export function consoleLogPath(vm: TestVm): string {
  return path.join(vm.dir, 'console.log');
}

/** The guest's console so far ('' if nothing yet). */
export async function readConsole(vm: TestVm): Promise<string> {
  return fs.readFile(consoleLogPath(vm), 'utf8').catch(() => '');
}

/** The disk file of a target (vda, vdb, ...) of a test VM. */
export function diskPathOf(vm: TestVm, target = 'vda'): string {
  return path.join(vm.dir, `${target}.qcow2`);
}

function domainXml(p: {
  name: string;
  dir: string;
  disks: { target: string; file: string }[];
  os: boolean;
  agent: boolean;
}): string {
  const osXml = p.os
    ? `<os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${xmlEscape(path.join(GUEST_DIR, 'vmlinuz'))}</kernel>
    <initrd>${xmlEscape(path.join(GUEST_DIR, 'initrd.img'))}</initrd>
    <cmdline>console=ttyS0 quiet</cmdline>
  </os>`
    : `<os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
  </os>`;
  const disks = p.disks
    .map(
      (d) => `    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='${xmlEscape(d.file)}'/>
      <target dev='${d.target}' bus='virtio'/>
      <alias name='${diskAlias(d.target)}'/>
    </disk>`,
    )
    .join('\n');
  const agent = p.agent
    ? `
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>`
    : '';
  return `<domain type='qemu'>
  <name>${p.name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  ${osXml}
  <features><acpi/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
${disks}
    <serial type='pty'>
      <log file='${xmlEscape(path.join(p.dir, 'console.log'))}' append='off'/>
      <target port='0'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>${agent}
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

async function qcow2VirtualSize(file: string): Promise<number> {
  const info = JSON.parse(await exec('qemu-img', ['info', '-U', '--output=json', file])) as { 'virtual-size': number };
  return info['virtual-size'];
}

/** Defines (persistent) a throwaway VM and starts it unless start:false. */
export async function createTestVm(opts: TestVmOptions = {}): Promise<TestVm> {
  const os = opts.os ?? false;
  const agent = opts.agent ?? os;
  const start = opts.start ?? true;
  const extraDisks = opts.extraDisks ?? 0;
  const sizeMiB = opts.diskSizeMiB ?? 64;
  if (!Number.isInteger(sizeMiB) || sizeMiB <= 0) throw new Error(`diskSizeMiB must be a positive integer, got ${sizeMiB}`);
  if (!Number.isInteger(extraDisks) || extraDisks < 0 || extraDisks > 25) throw new Error(`extraDisks out of range: ${extraDisks}`);

  const name = TEST_VM_PREFIX + randomBytes(4).toString('hex');
  const dir = path.join(VMS_DIR, name);
  const vm: TestVm = { name, uuid: '', dir, diskPath: path.join(dir, 'vda.qcow2') };
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  try {
    if (os) {
      for (const f of ['vmlinuz', 'initrd.img', 'data.qcow2']) {
        await fs.access(path.join(GUEST_DIR, f)).catch(() => {
          throw new Error(`test guest not built (${path.join(GUEST_DIR, f)} missing): run scripts/build-guest.sh`);
        });
      }
      await fs.copyFile(path.join(GUEST_DIR, 'data.qcow2'), vm.diskPath);
      if (opts.diskSizeMiB !== undefined && sizeMiB * 1024 * 1024 > (await qcow2VirtualSize(vm.diskPath))) {
        await exec('qemu-img', ['resize', '-q', '-f', 'qcow2', vm.diskPath, `${sizeMiB}M`]);
      }
    } else {
      await exec('qemu-img', ['create', '-q', '-f', 'qcow2', vm.diskPath, `${sizeMiB}M`]);
    }
    const disks = [{ target: 'vda', file: vm.diskPath }];
    for (let i = 1; i <= extraDisks; i++) {
      const target = targetName(i);
      const file = path.join(dir, `${target}.qcow2`);
      await exec('qemu-img', ['create', '-q', '-f', 'qcow2', file, `${sizeMiB}M`]);
      disks.push({ target, file });
    }
    for (const d of disks) await fs.chmod(d.file, 0o644);

    const xmlFile = path.join(dir, 'domain.xml');
    await fs.writeFile(xmlFile, domainXml({ name, dir, disks, os, agent }));
    await virsh(['define', xmlFile]);
    vm.uuid = (await virsh(['domuuid', name])).trim();
    if (start) await virsh(['start', name]);
    return vm;
  } catch (e) {
    await destroyTestVm(vm).catch(() => undefined);
    throw e;
  }
}

/** Polls guest-ping through `virsh qemu-agent-command` until the guest agent answers. */
export async function waitForAgent(vm: TestVm, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      await virsh(['qemu-agent-command', vm.name, '{"execute":"guest-ping"}', '--timeout', '5']);
      return;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() >= deadline) {
      const tail = (await readConsole(vm)).split('\n').slice(-15).join('\n');
      throw new Error(`guest agent of ${vm.name} not answering after ${timeoutMs} ms: ${last}\n--- console tail ---\n${tail}`);
    }
    await sleep(1000);
  }
}

/**
 * Writes `lengthBytes` bytes of `pattern` at `offsetBytes` into a disk of a running VM, through QEMU
 * itself (HMP qemu-io on the disk's qdev, then a flush so the qcow2 file holds it), so the write
 * goes through the same path as a guest write (dirty bitmaps see it). Best for no-OS VMs: with an
 * OS the guest's own cache does not know about it.
 */
export async function guestWrite(vm: TestVm, offsetBytes: number, lengthBytes: number, pattern: number, target = 'vda'): Promise<void> {
  if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0) throw new Error(`bad offset ${offsetBytes}`);
  if (!Number.isSafeInteger(lengthBytes) || lengthBytes <= 0) throw new Error(`bad length ${lengthBytes}`);
  if (!Number.isInteger(pattern) || pattern < 0 || pattern > 255) throw new Error(`pattern must be a byte, got ${pattern}`);
  if (!/^vd[a-z]$/.test(target)) throw new Error(`bad target ${target}`);
  const qdev = `/machine/peripheral/${diskAlias(target)}/virtio-backend`;
  const hex = pattern.toString(16).padStart(2, '0');
  const hmp = async (cmd: string) => {
    // qemu-io's own output goes to QEMU's stdout (the domain log); the monitor only shows HMP errors
    const out = (await virsh(['qemu-monitor-command', vm.name, '--hmp', `qemu-io -d ${qdev} "${cmd}"`])).trim();
    if (out) throw new Error(`qemu-io ${cmd} on ${vm.name}/${target}: ${out}`);
  };
  const log = `/var/log/libvirt/qemu/${vm.name}.log`;
  const logSizeBefore = await fs.stat(log).then((s) => s.size, () => -1);
  await hmp(`write -P 0x${hex} ${offsetBytes} ${lengthBytes}`);
  await hmp('flush');
  if (logSizeBefore >= 0) {
    const fh = await fs.open(log, 'r');
    try {
      const st = await fh.stat();
      const buf = Buffer.alloc(Math.max(0, st.size - logSizeBefore));
      await fh.read(buf, 0, buf.length, logSizeBefore);
      const text = buf.toString('utf8');
      if (/(write|flush) failed/i.test(text)) throw new Error(`qemu-io on ${vm.name}/${target} failed: ${text.trim()}`);
    } finally {
      await fh.close();
    }
  }
}

async function domainState(name: string): Promise<string | null> {
  try {
    return (await virsh(['domstate', name])).trim();
  } catch (e) {
    if (/failed to get domain|Domain not found/i.test((e as Error).message)) return null;
    throw e;
  }
}

async function removeDomain(name: string): Promise<void> {
  const state = await domainState(name);
  if (state === null) return;
  if (state !== 'shut off') {
    await virsh(['destroy', name]).catch((e: Error) => {
      if (!/not running/i.test(e.message)) throw e;
    });
  }
  await virsh(['undefine', name, '--checkpoints-metadata', '--snapshots-metadata', '--nvram']).catch((e: Error) => {
    if (!/failed to get domain|Domain not found/i.test(e.message)) throw e;
  });
}

/** Destroys (if running) and undefines the VM, checkpoint/snapshot metadata included, and deletes its folder. */
export async function destroyTestVm(vm: TestVm): Promise<void> {
  if (!vm.name.startsWith(TEST_VM_PREFIX)) throw new Error(`refusing to destroy ${vm.name}: not a test VM`);
  await removeDomain(vm.name);
  await fs.rm(vm.dir, { recursive: true, force: true });
}

/** Removes every bftest-* domain and every bftest-* folder. */
export async function cleanupTestVms(): Promise<void> {
  const names = (await virsh(['list', '--all', '--name']))
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s.startsWith(TEST_VM_PREFIX));
  for (const name of names) await removeDomain(name);
  const dirs = await fs.readdir(VMS_DIR).catch(() => [] as string[]);
  for (const d of dirs) {
    if (d.startsWith(TEST_VM_PREFIX)) await fs.rm(path.join(VMS_DIR, d), { recursive: true, force: true });
  }
}
