import path from 'node:path';
import { runBenchmark } from './main';

/** bash bench/run.sh [--disk-gib 4] [--quick-gib 1,8,32] [--vms 200] [--smoke] [--only compression|hashing] */
async function main() {
  const arg = (name: string, dflt: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const smoke = process.argv.includes('--smoke');
  const only = arg('only', '');
  if (only && only !== 'compression' && only !== 'hashing') throw new Error(`--only: unknown part '${only}' (known: compression, hashing)`);
  const out = await runBenchmark({
    diskGiB: Number(arg('disk-gib', smoke ? '0.0625' : '4')),
    quickSizesGiB: arg('quick-gib', smoke ? '0.03125,0.0625' : '1,8,32').split(',').map(Number),
    smallVms: Number(arg('vms', smoke ? '3' : '200')),
    smoke,
    only: only === 'compression' || only === 'hashing' ? only : undefined,
    outDir: path.resolve(__dirname, '../../bench/results'),
  });
  console.log(out.markdown);
  console.log(`written: ${[out.files.md, out.files.png].filter(Boolean).join(' and ')}`);
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
