import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { agentCommand } from '../../activities/host/virsh';
import { backupVia, KbossZone, offlineWrite, qemuImgCompare, settle, snapshotDisk } from '../helpers/backups';
import { enrolledVm, startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { Stack } from '../helpers/stack';
import { guestWrite, TestVm, TestVmOptions, virsh, waitForAgent } from '../helpers/vm';

const MiB = 1024 * 1024;

/** Issue 4: createBackup as a workflow, on real libvirt VMs and real qcow2 files in a local repository. */
describe('createBackup on the real stack', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  /** Reference copies live in the VM's own folder, so they go with it. */
  const ref = (vm: TestVm, point: string) => path.join(vm.dir, `ref-${point}.qcow2`);
  const file = (b: any, target = 'vda') => path.join(kb.repoPath, b.disks.find((d: any) => d.target === target).file);

  const newVm = (opts: TestVmOptions, offeringId = kb.offeringId) => enrolledVm(s, vms, opts, offeringId);
  /** Backs up a running VM while it is paused, so the reference copy is the disk at backup time. */
  const backupPaused = async (vm: TestVm, refName: string, body: Record<string, unknown> = {}) => {
    await virsh(['suspend', vm.name]);
    try {
      await snapshotDisk(vm.diskPath, ref(vm, refName));
      return await backupVia(s, { vmId: vm.uuid, ...body });
    } finally {
      await virsh(['resume', vm.name]);
    }
  };

  beforeAll(async () => ({ s, kb } = await startKbossStack()));
  afterAll(() => stopKbossStack(s, kb, vms));

  test('running VM: full, then incrementals of exactly the written blocks, each equal to the disk at its time', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 256 });
    await guestWrite(vm, 0, 16 * MiB, 0x11);
    const full = await backupPaused(vm, `0`, { name: 'first' });
    expect(full).toMatchObject({ status: 'BackedUp', type: 'FULL', chainPosition: 0, name: 'first', hostId: s.facts.id, quiesced: false });
    expect(full.checkpoint).toBe(`backflow-${full.id}`);
    expect((await qemuImgCompare(ref(vm, `0`), file(full))).identical).toBe(true);

    await guestWrite(vm, 64 * MiB, 8 * MiB, 0xab);
    const inc1 = await backupPaused(vm, `1`);
    expect(inc1).toMatchObject({ status: 'BackedUp', type: 'INCREMENTAL', parentId: full.id, chainId: full.id, chainPosition: 1 });
    await guestWrite(vm, 160 * MiB, 8 * MiB, 0xcd);
    const inc2 = await backupPaused(vm, `2`);
    expect(inc2).toMatchObject({ status: 'BackedUp', type: 'INCREMENTAL', parentId: inc1.id, chainPosition: 2 });

    // Each backup with its parents is the disk at its time; a later write is in no earlier backup.
    for (const [b, r] of [[full, 0], [inc1, 1], [inc2, 2]] as const) {
      const cmp = await qemuImgCompare(ref(vm, `${r}`), file(b));
      expect(cmp).toEqual({ identical: true, out: expect.stringContaining('identical') });
    }
    expect((await qemuImgCompare(ref(vm, `2`), file(inc1))).identical).toBe(false);
    // Incrementals hold the written data, not the disk: 8 MiB written, 256 MiB disk.
    for (const inc of [inc1, inc2]) {
      expect(inc.sizeBytes).toBeGreaterThanOrEqual(8 * MiB);
      expect(inc.sizeBytes).toBeLessThan(2 * 8 * MiB + 2 * MiB);
    }
    expect(full.virtualSize).toBe(256 * MiB);
    // One folder per VM and per backup, with the domain XML: restorable by hand with qemu-img alone.
    expect(readdirSync(path.join(kb.repoPath, vm.uuid)).sort()).toEqual([full.id, inc1.id, inc2.id].sort());
    expect(existsSync(path.join(kb.repoPath, vm.uuid, inc2.id, 'domain.xml'))).toBe(true);
    // Stale checkpoints are removed: only the newest is left in libvirt.
    expect((await virsh(['checkpoint-list', vm.name, '--name'])).trim().split('\n').filter(Boolean)).toEqual([inc2.checkpoint]);
  });

  test('stopped VM: full and incrementals from the dirty bitmap, without starting it', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 256, start: false });
    await offlineWrite(vm.diskPath, 0, 16 * MiB, 0x21);
    const full = await backupVia(s, { vmId: vm.uuid });
    await snapshotDisk(vm.diskPath, ref(vm, `0`));
    expect(full).toMatchObject({ status: 'BackedUp', type: 'FULL' });
    await offlineWrite(vm.diskPath, 96 * MiB, 8 * MiB, 0x22);
    const inc1 = await backupVia(s, { vmId: vm.uuid });
    await snapshotDisk(vm.diskPath, ref(vm, `1`));
    await offlineWrite(vm.diskPath, 200 * MiB, 8 * MiB, 0x23);
    const inc2 = await backupVia(s, { vmId: vm.uuid });
    await snapshotDisk(vm.diskPath, ref(vm, `2`));
    expect(inc1).toMatchObject({ status: 'BackedUp', type: 'INCREMENTAL', parentId: full.id });
    expect(inc2).toMatchObject({ status: 'BackedUp', type: 'INCREMENTAL', parentId: inc1.id });
    for (const [b, r] of [[full, 0], [inc1, 1], [inc2, 2]] as const) expect((await qemuImgCompare(ref(vm, `${r}`), file(b))).identical).toBe(true);
    for (const inc of [inc1, inc2]) expect(inc.sizeBytes).toBeLessThan(2 * 8 * MiB + 2 * MiB);
    expect((await virsh(['domstate', vm.name])).trim()).toBe('shut off');
  });

  test('chain size 3 gives FULL, INC, INC, FULL; isolated leaves the chain; finishBackupChain ends it', async () => {
    const off = (await s.api('POST', '/v1/backup-offerings', {
      body: { name: 'kboss-chain3', zoneId: kb.zoneId, repositoryId: kb.repoId, backupChainSize: 3 },
    })).body;
    const vm = await newVm({ os: false, diskSizeMiB: 64 }, off.id);
    const types: string[] = [];
    const taken: any[] = [];
    for (let i = 0; i < 4; i++) {
      await guestWrite(vm, i * MiB, MiB, 0x30 + i);
      const b = await backupVia(s, { vmId: vm.uuid });
      types.push(b.type);
      taken.push(b);
    }
    expect(types).toEqual(['FULL', 'INCREMENTAL', 'INCREMENTAL', 'FULL']);
    expect(taken[3].fullReason).toMatch(/backup.chain.size=3/);

    const isolated = await backupVia(s, { vmId: vm.uuid, isolated: true });
    expect(isolated).toMatchObject({ status: 'BackedUp', type: 'FULL', isolated: true, checkpoint: null, parentId: null });
    const next = await backupVia(s, { vmId: vm.uuid });
    expect(next).toMatchObject({ type: 'INCREMENTAL', parentId: taken[3].id });

    const fin = await s.api('POST', `/v1/vms/${vm.uuid}/finish-backup-chain`);
    expect(fin.status).toBe(200);
    const after = await backupVia(s, { vmId: vm.uuid });
    expect(after).toMatchObject({ type: 'FULL', fullReason: expect.stringMatching(/finishBackupChain/) });
  });

  test('a lost checkpoint (VM redefined without its metadata) makes the next backup full, with the reason', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 64 });
    await backupVia(s, { vmId: vm.uuid });
    const xml = await virsh(['dumpxml', '--inactive', vm.name]);
    await virsh(['destroy', vm.name]);
    await virsh(['undefine', vm.name, '--checkpoints-metadata']);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path.join(vm.dir, 'redefine.xml'), xml);
    await virsh(['define', path.join(vm.dir, 'redefine.xml')]);
    await virsh(['start', vm.name]);
    const b = await backupVia(s, { vmId: vm.uuid });
    expect(b).toMatchObject({ status: 'BackedUp', type: 'FULL', fullReason: expect.stringMatching(/unusable/) });
  });

  test('forced delete in the middle of a chain keeps every other backup restorable byte for byte', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 128 });
    const chain: any[] = [];
    for (let i = 0; i < 3; i++) {
      await guestWrite(vm, i * 16 * MiB, 4 * MiB, 0x40 + i);
      chain.push(await backupPaused(vm, `d${i}`));
    }
    const [a, b, c] = chain;
    const refused = await s.api('DELETE', `/v1/backups/${b.id}`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.field).toBe('forced');
    expect((await s.api('GET', `/v1/backups/${b.id}`)).body.status).toBe('BackedUp');

    const del = await s.api('DELETE', `/v1/backups/${b.id}?forced=true`);
    expect(del.status).toBe(202);
    await settle(s, del.body.workflowId);
    expect((await s.api('GET', `/v1/backups/${b.id}`)).status).toBe(404);
    expect(existsSync(path.join(kb.repoPath, vm.uuid, b.id))).toBe(false);
    const c2 = (await s.api('GET', `/v1/backups/${c.id}`)).body;
    expect(c2).toMatchObject({ parentId: a.id, chainPosition: 1, status: 'BackedUp' });
    expect((await qemuImgCompare(ref(vm, `d0`), file(a))).identical).toBe(true);
    expect((await qemuImgCompare(ref(vm, `d2`), file(c2))).identical).toBe(true);
  });

  test('two concurrent createBackup calls never run at once; the same request id gives one backup', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 64 });
    const [x, y] = await Promise.all([backupVia(s, { vmId: vm.uuid }), backupVia(s, { vmId: vm.uuid })]);
    expect([x.status, y.status]).toEqual(['BackedUp', 'BackedUp']);
    const [first, second] = [x, y].sort((p, q) => Date.parse(p.startedAt) - Date.parse(q.startedAt));
    expect(Date.parse(second.startedAt)).toBeGreaterThanOrEqual(Date.parse(first.finishedAt));

    const r1 = await s.api('POST', '/v1/backups', { body: { vmId: vm.uuid, requestId: 'nightly-42' } });
    const r2 = await s.api('POST', '/v1/backups', { body: { vmId: vm.uuid, requestId: 'nightly-42' } });
    expect(r1.status).toBe(202);
    expect(r2.body.backupId).toBe(r1.body.backupId);
    await settle(s, r1.body.workflowId);
    const r3 = await s.api('POST', '/v1/backups', { body: { vmId: vm.uuid, requestId: 'nightly-42' } });
    expect(r3.body.backupId).toBe(r1.body.backupId);
    const rows = await s.pool.query(`SELECT count(*)::int AS n FROM backups WHERE vm_id = $1 AND request_id = 'nightly-42'`, [vm.uuid]);
    expect(rows.rows[0].n).toBe(1);
  });

  test('quiesce: the tiny guest is frozen for the job start and thawed after', async () => {
    const vm = await newVm({ os: true });
    await waitForAgent(vm, 120_000);
    const b = await backupVia(s, { vmId: vm.uuid, quiesce: true });
    expect(b).toMatchObject({ status: 'BackedUp', quiesce: true, quiesced: true });
    expect(b.freezeMs).toBeGreaterThanOrEqual(0);
    expect(await agentCommand(vm.name, 'guest-fsfreeze-status')).toBe('thawed');
  });

  test('quiesce on a VM without a guest agent: a clear error, no backup, no file', async () => {
    const vm = await newVm({ os: false, diskSizeMiB: 64, agent: false });
    const b = await backupVia(s, { vmId: vm.uuid, quiesce: true });
    expect(b.status).toBe('Failed');
    expect(b.error).toMatch(/guest agent/i);
    expect(b.disks).toEqual([]);
    const dir = path.join(kb.repoPath, vm.uuid);
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });

  test('bad input is refused with the field named, and starts nothing', async () => {
    const before = (await s.pool.query(`SELECT count(*)::int AS n FROM backups`)).rows[0].n;
    const cases: [unknown, string][] = [
      [{}, 'body.vmId'],
      [{ vmId: 'nope' }, 'body.vmId'],
      [{ vmId: vms[0].uuid, quiesce: 'yes' }, 'body.quiesce'],
      [{ vmId: vms[0].uuid, requestId: 'has spaces' }, 'body.requestId'],
      [{ vmId: vms[0].uuid, color: 'red' }, 'body'],
    ];
    for (const [body, field] of cases) {
      const r = await s.api('POST', '/v1/backups', { body });
      expect(r.status).toBe(400);
      expect(r.body.error.field).toBe(field);
    }
    const unknown = await s.api('POST', '/v1/backups', { body: { vmId: '7d0b4c7e-0000-4000-8000-000000000000' } });
    expect(unknown.status).toBe(404);
    expect((await s.pool.query(`SELECT count(*)::int AS n FROM backups`)).rows[0].n).toBe(before);
  });
});
