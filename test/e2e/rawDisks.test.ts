import { execFile } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { backupVia, enrol, KbossZone, qemuImgCompare, settle } from '../helpers/backups';
import { startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { Stack } from '../helpers/stack';
import { createTestVm, diskPathOf, guestWrite, TestVm, virsh } from '../helpers/vm';

const MiB = 1024 * 1024;
const exec = promisify(execFile);

/** qemu-img info of a file read in the given format (never probed). */
const info = async (file: string, format?: string) =>
  JSON.parse((await exec('qemu-img', ['info', '-U', '--output=json', ...(format ? ['-f', format] : []), file])).stdout) as {
    format: string; 'backing-filename'?: string;
  };

/**
 * Issue 9 item 13: a VM with a qcow2 disk (vda) and a raw disk (vdb). libvirt refuses a checkpoint on
 * the raw disk, so it is copied in full every backup (the reason recorded per disk) while vda keeps its
 * incrementals; every point restores byte for byte, by every kind of restore, and vdb stays raw.
 */
describe('raw disks', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  const ref = (vm: TestVm, point: string, target: string) => path.join(vm.dir, `ref-${point}-${target}.qcow2`);
  const file = (b: any, target: string) => path.join(kb.repoPath, b.disks.find((d: any) => d.target === target).file);
  const rawPath = (vm: TestVm) => path.join(vm.dir, 'vdb.raw');

  /** A test VM whose vdb is a raw file (driver type raw), enrolled in the kboss offering. */
  const rawVm = async (start: boolean) => {
    const vm = await createTestVm({ os: false, diskSizeMiB: 64, extraDisks: 1, start: false });
    vms.push(vm);
    await exec('qemu-img', ['create', '-q', '-f', 'raw', rawPath(vm), '64M']);
    await chmod(rawPath(vm), 0o644);
    const xml = (await virsh(['dumpxml', '--inactive', vm.name]))
      .split('<disk ')
      .map((part) => (part.includes(diskPathOf(vm, 'vdb')) ? part.replace(/type='qcow2'/, "type='raw'").replace(diskPathOf(vm, 'vdb'), rawPath(vm)) : part))
      .join('<disk ');
    await writeFile(path.join(vm.dir, 'raw.xml'), xml);
    await virsh(['define', path.join(vm.dir, 'raw.xml')]);
    if (start) await virsh(['start', vm.name]);
    await enrol(s, vm.uuid, kb.offeringId);
    return vm;
  };
  /** The disks as they are now, as references (the VM paused, or stopped, meanwhile). */
  const snapshot = async (vm: TestVm, point: string) => {
    await exec('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'qcow2', vm.diskPath, ref(vm, point, 'vda')]);
    await exec('qemu-img', ['convert', '-U', '-f', 'raw', '-O', 'qcow2', rawPath(vm), ref(vm, point, 'vdb')]);
  };
  const backupPaused = async (vm: TestVm, point: string) => {
    await virsh(['suspend', vm.name]);
    try {
      await snapshot(vm, point);
      return await backupVia(s, { vmId: vm.uuid });
    } finally {
      await virsh(['resume', vm.name]);
    }
  };
  const offlineWrite = (file: string, format: string, offset: number, length: number, pattern: number) =>
    exec('qemu-io', ['-f', format, '-c', `write -P 0x${pattern.toString(16)} ${offset} ${length}`, file]);
  const scribble = async (vm: TestVm) => {
    await offlineWrite(vm.diskPath, 'qcow2', 0, 40 * MiB, 0xee);
    await offlineWrite(rawPath(vm), 'raw', 0, 40 * MiB, 0xee);
  };
  const restoreVia = async (url: string, body: object = {}) => {
    const r = await s.api('POST', url, { body });
    expect(r.status).toBe(202);
    await settle(s, r.body.workflowId).catch(() => undefined);
    return (await s.api('GET', `/v1/restores/${r.body.restoreId}`)).body;
  };
  const stop = async (vm: TestVm) => {
    await virsh(['destroy', vm.name]).catch(() => undefined);
    await s.api('POST', `/v1/hosts/${s.facts.id}/sync`);
  };
  const same = async (a: string, b: string) => (await qemuImgCompare(a, b)).identical;
  /** vdb is still the raw file, opened as raw by the VM. */
  const expectRaw = async (vm: TestVm) => {
    expect(await virsh(['dumpxml', '--inactive', vm.name])).toMatch(new RegExp(`type='raw'[^]*?${rawPath(vm).replace(/[.]/g, '\\.')}`));
    expect((await info(rawPath(vm))).format).toBe('raw');
  };
  /** Every backup point with its files: vda incremental after the first, vdb always full and standalone. */
  const expectChain = async (vm: TestVm, backups: any[]) => {
    expect(backups.map((b) => [b.status, b.type])).toEqual([['BackedUp', 'FULL'], ['BackedUp', 'INCREMENTAL'], ['BackedUp', 'INCREMENTAL']]);
    for (const [i, b] of backups.entries()) {
      if (i > 0) expect(b.parentId).toBe(backups[i - 1].id);
      const vdb = b.disks.find((d: any) => d.target === 'vdb');
      expect(vdb).toMatchObject({ sourceFormat: 'raw', fullReason: expect.stringMatching(/raw disk cannot carry a dirty bitmap/) });
      expect(b.disks.find((d: any) => d.target === 'vda').sourceFormat).toBe('qcow2');
      expect((await info(file(b, 'vdb'), 'qcow2'))['backing-filename']).toBeUndefined();
      if (i > 0) {
        expect((await info(file(b, 'vda'), 'qcow2'))['backing-filename']).toBe(`../${backups[i - 1].id}/vda.qcow2`);
        // The incremental holds about what was written (4 MiB), not the disk.
        expect(b.disks.find((d: any) => d.target === 'vda').sizeBytes).toBeLessThan(8 * MiB);
      }
      for (const t of ['vda', 'vdb']) expect(await same(ref(vm, `${i}`, t), file(b, t))).toBe(true);
    }
  };
  /** In-place restore of every point, each compared byte for byte, after the disks were overwritten. */
  const restoreEveryPoint = async (vm: TestVm, backups: any[]) => {
    for (const [i, b] of backups.entries()) {
      await scribble(vm);
      const r = await restoreVia(`/v1/backups/${b.id}/restore`);
      expect(r).toMatchObject({ status: 'Succeeded', error: null });
      await expectRaw(vm);
      expect(await same(ref(vm, `${i}`, 'vda'), vm.diskPath)).toBe(true);
      expect(await same(ref(vm, `${i}`, 'vdb'), rawPath(vm))).toBe(true);
    }
  };

  beforeAll(async () => ({ s, kb } = await startKbossStack()));
  afterAll(() => stopKbossStack(s, kb, vms));

  test('running VM: vdb (raw) full every time, vda incremental; every point restores in place, by volume, as a new VM and quickly', async () => {
    const vm = await rawVm(true);
    const backups: any[] = [];
    for (let i = 0; i < 3; i++) {
      await guestWrite(vm, i * 8 * MiB, 4 * MiB, 0x11 + i, 'vda');
      await guestWrite(vm, i * 8 * MiB, 4 * MiB, 0x21 + i, 'vdb');
      backups.push(await backupPaused(vm, `${i}`));
    }
    await expectChain(vm, backups);
    // Only the newest checkpoint is kept, and it covers vda only.
    expect((await virsh(['checkpoint-list', vm.name, '--name'])).trim()).toBe(backups[2].checkpoint);
    expect(await virsh(['checkpoint-dumpxml', vm.name, backups[2].checkpoint])).toMatch(/<disk name='vdb' checkpoint='no'\/>/);

    await stop(vm);
    await restoreEveryPoint(vm, backups);

    // Quick restore: vda runs from an overlay on the backup; vdb, which QEMU opens as raw, is restored whole first.
    await scribble(vm);
    const quick = await restoreVia(`/v1/backups/${backups[1].id}/restore`, { quickRestore: true });
    expect(quick).toMatchObject({ status: 'Succeeded', error: null });
    expect((await virsh(['domstate', vm.name])).trim()).toBe('running');
    await expectRaw(vm);
    expect((await info(vm.diskPath, 'qcow2'))['backing-filename']).toBeUndefined();
    expect(await same(ref(vm, '1', 'vda'), vm.diskPath)).toBe(true);
    expect(await same(ref(vm, '1', 'vdb'), rawPath(vm))).toBe(true);

    // The raw disk of a backup as a volume of another VM.
    const other = await createTestVm({ os: false, diskSizeMiB: 16 });
    vms.push(other);
    await enrol(s, other.uuid, kb.offeringId);
    const vol = await restoreVia(`/v1/backups/${backups[2].id}/restore-volume`, { volumeTarget: 'vdb', vmId: other.uuid });
    expect(vol).toMatchObject({ status: 'Succeeded', error: null });
    await s.api('POST', `/v1/hosts/${s.facts.id}/sync`);
    const attached = (await s.api('GET', `/v1/vms/${other.uuid}`)).body.disks.find((d: any) => d.target === 'vdb');
    expect(await same(ref(vm, '2', 'vdb'), attached.path)).toBe(true);
    // A raw disk comes back as raw: so the file says, and so libvirt was told.
    expect(attached.format).toBe('raw');
    expect((await info(attached.path)).format).toBe('raw');

    // A new VM from the first point.
    const created = await restoreVia(`/v1/backups/${backups[0].id}/create-vm`, { name: `${vm.name}-raw-clone` });
    expect(created).toMatchObject({ status: 'Succeeded', error: null });
    const clone = (await s.api('GET', `/v1/vms/${created.targetVmId}`)).body;
    try {
      for (const t of ['vda', 'vdb']) expect(await same(ref(vm, '0', t), clone.disks.find((d: any) => d.target === t).path)).toBe(true);
      const cloneRaw = clone.disks.find((d: any) => d.target === 'vdb');
      expect(cloneRaw.format).toBe('raw');
      expect((await info(cloneRaw.path)).format).toBe('raw');
      expect(clone.disks.find((d: any) => d.target === 'vda').format).toBe('qcow2');
    } finally {
      await virsh(['undefine', clone.name]).catch(() => undefined);
    }
  });

  test('stopped VM: the same chain from the files, without starting it; a forced delete in the middle keeps the rest restorable', async () => {
    const vm = await rawVm(false);
    const backups: any[] = [];
    for (let i = 0; i < 3; i++) {
      await offlineWrite(vm.diskPath, 'qcow2', i * 8 * MiB, 4 * MiB, 0x31 + i);
      await offlineWrite(rawPath(vm), 'raw', i * 8 * MiB, 4 * MiB, 0x41 + i);
      await snapshot(vm, `${i}`);
      backups.push(await backupVia(s, { vmId: vm.uuid }));
    }
    await expectChain(vm, backups);
    expect((await virsh(['domstate', vm.name])).trim()).toBe('shut off');
    await restoreEveryPoint(vm, backups);

    // The middle backup goes; vda of the last is merged onto the first, vdb needed nothing.
    const del = await s.api('DELETE', `/v1/backups/${backups[1].id}?forced=true`);
    expect(del.status).toBe(202);
    await settle(s, del.body.workflowId);
    expect((await s.api('GET', `/v1/backups/${backups[1].id}`)).status).toBe(404);
    expect((await s.api('GET', `/v1/backups/${backups[2].id}`)).body).toMatchObject({ status: 'BackedUp', parentId: backups[0].id });
    for (const t of ['vda', 'vdb']) expect(await same(ref(vm, '2', t), file(backups[2], t))).toBe(true);
    await scribble(vm);
    expect(await restoreVia(`/v1/backups/${backups[2].id}/restore`)).toMatchObject({ status: 'Succeeded' });
    expect(await same(ref(vm, '2', 'vda'), vm.diskPath)).toBe(true);
    expect(await same(ref(vm, '2', 'vdb'), rawPath(vm))).toBe(true);
  });
});
