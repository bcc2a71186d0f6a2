import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { exec, timed } from './measure';

/**
 * The yardsticks for a full copy of the same file into the same folder (issue 15), each from a cold page
 * cache (the caller drops it): the fastest durable copy (qemu-img convert, 8 requests in flight, out of
 * order, direct I/O both sides: on disk when it exits), the simple one (cp, then sync), and cp alone,
 * which ends with the data still in the page cache (a labelled extra, not a limit). -U: the source may
 * be a running VM's disk.
 */
export async function durableCopy(src: string, dest: string): Promise<number> {
  const { seconds } = await timed(() => exec('qemu-img', ['convert', '-U', '-m', '8', '-W', '-t', 'none', '-T', 'none', '-O', 'qcow2', src, dest]));
  return seconds;
}

export async function cpSync(src: string, dest: string): Promise<number> {
  const { seconds } = await timed(async () => {
    await exec('cp', ['--sparse=never', src, dest]);
    await exec('sync', []);
  });
  return seconds;
}

/** cp without sync: the page cache still holds the data when it returns (synced afterwards, untimed). */
export async function cpUnsynced(src: string, dest: string): Promise<number> {
  const { seconds } = await timed(() => exec('cp', ['--sparse=never', src, dest]));
  await exec('sync', []);
  return seconds;
}

/** Debian's virtnbdbackup, full or incremental (copy: a stopped domain, through qemu-nbd), into its own output folder. */
export async function virtnbdbackup(domain: string, level: 'full' | 'inc' | 'copy', outDir: string): Promise<number> {
  const { seconds } = await timed(() => exec('virtnbdbackup', ['-d', domain, '-l', level, '-o', outDir, '-n'], { maxBuffer: 64 * 1024 * 1024 }));
  return seconds;
}

/** Files virtnbdbackup wrote for one level (its data files). */
export async function virtnbdDataFiles(outDir: string, level: 'full' | 'inc'): Promise<string[]> {
  return (await readdir(outDir)).filter((f) => f.includes(`.${level}.`) && f.endsWith('.data')).map((f) => path.join(outDir, f));
}

/** virtnbdrestore of a virtnbdbackup folder (all of its chain) into outDir. */
export async function virtnbdrestore(inDir: string, outDir: string): Promise<number> {
  const { seconds } = await timed(() => exec('virtnbdrestore', ['-i', inDir, '-o', outDir], { maxBuffer: 64 * 1024 * 1024 }));
  return seconds;
}

/** A bare libvirt push backup of the running domain, started and waited for with virsh only. */
export async function bareBackupBegin(domain: string, target: string): Promise<number> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'bench-bare-'));
  try {
    const xml = `<domainbackup mode='push'><disks><disk name='vda' backup='yes' type='file'><target file='${target}'/><driver type='qcow2'/></disk></disks></domainbackup>`;
    await writeFile(path.join(tmp, 'b.xml'), xml);
    const { seconds } = await timed(async () => {
      await exec('virsh', ['-c', 'qemu:///system', 'backup-begin', domain, path.join(tmp, 'b.xml')]);
      for (;;) {
        const { stdout } = await exec('virsh', ['-c', 'qemu:///system', 'domjobinfo', domain, '--rawstats']);
        if (/Job type: 0/.test(stdout)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    });
    return seconds;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
