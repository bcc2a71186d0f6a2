import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Pids of the qemu-img processes writing or reading a compressed copy (`*.compressing`) under dir. */
export function qemuImgsUnder(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (path.basename(argv[0] ?? '') === 'qemu-img' && argv.some((a) => a.startsWith(dir) && a.endsWith('.compressing'))) out.push(Number(p));
  }
  return out;
}
