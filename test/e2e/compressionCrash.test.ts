import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { backupVia, enrol, KbossZone, offlineWrite, qemuImgCompare, settle, sha256, snapshotDisk } from '../helpers/backups';
import { qemuImgsUnder } from '../helpers/compression';
import { apiOk, eventually, Stack } from '../helpers/stack';
import { startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { createTestVm, TestVm } from '../helpers/vm';

const MiB = 1024 * 1024;
const exec = promisify(execFile);

/** Issue 12: the host worker SIGKILLed in the middle of phase 1. */
describe('compression with the host worker killed', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  const ok = (method: string, url: string, body?: unknown) => apiOk(s, method, url, body);
  const setting = (name: string, value: unknown) => ok('PUT', `/v1/settings/${name}`, { scope: 'zone', scopeId: kb.zoneId, value });

  beforeAll(async () => ({ s, kb } = await startKbossStack({ hostWorker: 'process' }, { compress: true })));
  afterAll(() => stopKbossStack(s, kb, vms));

  test('SIGKILL mid phase 1: qemu-img dies with it, the job is retried and ends Compressed, never unreadable, no partial file left', async () => {
    await setting('backup.compression.rate.limit', 1);
    await setting('backup.compression.retry.interval', 1);
    const vm = await createTestVm({ os: false, diskSizeMiB: 128, start: false });
    vms.push(vm);
    await enrol(s, vm.uuid, kb.offeringId);
    await offlineWrite(vm.diskPath, 0, 96 * MiB, 0x2b);
    await snapshotDisk(vm.diskPath, path.join(vm.dir, 'ref.qcow2'));
    const b = await backupVia(s, { vmId: vm.uuid });
    const f = path.join(kb.repoPath, b.disks[0].file);
    const original = await sha256(f);
    await eventually(async () => qemuImgsUnder(kb.repoPath).length > 0, 120_000, 200);
    await s.killHostWorker();
    // setpriv --pdeathsig: the worker's qemu-img ends with it.
    await eventually(async () => qemuImgsUnder(kb.repoPath).length === 0, 30_000, 200);
    expect(await sha256(f)).toBe(original);
    expect((await qemuImgCompare(path.join(vm.dir, 'ref.qcow2'), f)).identical).toBe(true);
    await setting('backup.compression.rate.limit', 0);
    await s.restartHostWorker();
    await settle(s, `compress-${vm.name}-${b.id}`);
    const c = await ok('GET', `/v1/backups/${b.id}`);
    expect(c).toMatchObject({ status: 'BackedUp', compressionStatus: 'Compressed' });
    const j = (await ok('GET', `/v1/backup-service-jobs?backupId=${b.id}&type=StartCompression`)).items[0];
    expect(j).toMatchObject({ attempts: 2, result: 'Succeeded' });
    expect((await exec('find', [kb.repoPath, '-name', '*.compressing'])).stdout).toBe('');
    expect((await qemuImgCompare(path.join(vm.dir, 'ref.qcow2'), f)).identical).toBe(true);
    expect(c.sizeBytes).toBeLessThanOrEqual(c.uncompressedSize / 2);
  });
});
