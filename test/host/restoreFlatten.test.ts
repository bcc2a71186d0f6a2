import { MockActivityEnvironment } from '@temporalio/testing';
import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { abortRestore, finishRestore, flattenBackupDisk, readBackupDomainXml, swapInRestoredDisk } from '../../activities/host/restore';
import { backingChain, prepareQuickRestoreDisk } from '../../activities/host/quickRestore';
import { qemuImgCompare as compare, sha256 } from '../helpers/backups';
import { exists, info, makeChain, MiB, qemuIo, restoreFiles, restoreWorld, ROOT, sh, type Chain } from '../helpers/restoreChains';

/**
 * The host side of restores on real files (no mocks; MockActivityEnvironment only gives the activities a
 * Context so heartbeats can be observed): a backup chain is flattened into a standalone copy beside the
 * volume, swapped in, finished or undone; a damaged chain is refused before anything is written.
 */
describe('restore mechanics: flattening a chain, swap, finish, abort', () => {
  const world = restoreWorld();
  let chain: Chain;
  beforeAll(() => {
    chain = world.chain;
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
});
