import { execFile } from 'node:child_process';
import path from 'node:path';
import { REPO } from './helpers/paths';
import {
  createTestVm,
  destroyTestVm,
  diskPathOf,
  GUEST_READY_MARKER,
  guestWrite,
  readConsole,
  type TestVm,
  virsh,
  waitForAgent,
} from './helpers/vm';

/** The test fixtures themselves: libvirt up, throwaway VMs, qemu-io writes, the tiny guest's agent. */

function run(cmd: string, args: string[], timeoutMs = 900_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr || err.message}\n${stdout}`));
      else resolve(stdout);
    });
  });
}

/** qemu-io read with pattern check on a qcow2 that a running QEMU holds (-U: force share, read-only). */
async function readsPattern(file: string, offset: number, length: number, pattern: number): Promise<boolean> {
  const out = await run('qemu-io', ['-r', '-U', '-f', 'qcow2', '-c', `read -P 0x${pattern.toString(16)} ${offset} ${length}`, file]);
  if (/Pattern verification failed/.test(out)) return false;
  if (!out.includes(`read ${length}/${length} bytes at offset ${offset}`)) throw new Error(`unexpected qemu-io output: ${out}`);
  return true;
}

async function agent<T>(vmName: string, execute: string): Promise<T> {
  const out = await virsh(['qemu-agent-command', vmName, JSON.stringify({ execute }), '--timeout', '30']);
  return (JSON.parse(out) as { return: T }).return;
}

const MiB = 1024 * 1024;

describe('test fixtures: libvirt, throwaway VMs and the tiny guest', () => {
  beforeAll(async () => {
    await run('bash', [path.join(REPO, 'scripts/libvirt.sh')]);
    await run('bash', [path.join(REPO, 'scripts/build-guest.sh')]);
  }, 900_000);

  // Only this file's VMs: other suites' VMs may be running on the same libvirt.
  const mine: TestVm[] = [];
  afterAll(async () => {
    for (const vm of mine) await destroyTestVm(vm);
  }, 120_000);

  test('a no-OS VM: guestWrite lands in the qcow2 of the right disk', async () => {
    const vm = await createTestVm({ os: false, diskSizeMiB: 64, extraDisks: 1 });
    mine.push(vm);
    expect(vm.name).toMatch(/^bftest-[0-9a-f]+$/);
    expect(vm.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(vm.diskPath).toBe(path.join(vm.dir, 'vda.qcow2'));
    expect((await virsh(['domstate', vm.name])).trim()).toBe('running');

    const xml = await virsh(['dumpxml', vm.name]);
    expect(xml).toContain(`<source file='${vm.diskPath}'`);
    expect(xml).toContain("discard='unmap'");
    expect(xml).toContain("<target dev='vdb' bus='virtio'/>");

    await guestWrite(vm, 4 * MiB, 4 * MiB, 0xab);
    await guestWrite(vm, 1 * MiB, 64 * 1024, 0x5c, 'vdb');

    expect(await readsPattern(vm.diskPath, 4 * MiB, 4 * MiB, 0xab)).toBe(true);
    expect(await readsPattern(vm.diskPath, 0, 4 * MiB, 0)).toBe(true); // untouched before
    expect(await readsPattern(vm.diskPath, 8 * MiB, 1 * MiB, 0)).toBe(true); // and after
    expect(await readsPattern(diskPathOf(vm, 'vdb'), 1 * MiB, 64 * 1024, 0x5c)).toBe(true);
    expect(await readsPattern(diskPathOf(vm, 'vdb'), 4 * MiB, 4 * MiB, 0)).toBe(true); // vda's write not on vdb

    await destroyTestVm(vm);
    expect((await virsh(['list', '--all', '--name'])).split('\n')).not.toContain(vm.name);
  });

  test('the tiny guest boots, its agent answers and fsfreeze freezes and thaws /data', async () => {
    const t0 = Date.now();
    const vm = await createTestVm({ os: true });
    mine.push(vm);
    await waitForAgent(vm, 120_000);
    const bootMs = Date.now() - t0;
    console.log(`tiny guest: agent ready ${(bootMs / 1000).toFixed(1)} s after createTestVm`);
    expect(await readConsole(vm)).toContain(GUEST_READY_MARKER);

    const fsinfo = await agent<{ mountpoint: string; type: string }[]>(vm.name, 'guest-get-fsinfo');
    expect(fsinfo).toEqual([expect.objectContaining({ mountpoint: '/data', type: 'ext4' })]);

    expect(await agent<number>(vm.name, 'guest-fsfreeze-freeze')).toBe(1);
    try {
      expect(await agent<string>(vm.name, 'guest-fsfreeze-status')).toBe('frozen');
    } finally {
      expect(await agent<number>(vm.name, 'guest-fsfreeze-thaw')).toBe(1);
    }
    expect(await agent<string>(vm.name, 'guest-fsfreeze-status')).toBe('thawed');
  });
});
