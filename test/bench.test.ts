import { existsSync, readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runBenchmark } from '../bench/main';
import { hasMain, targets } from '../bench/report';

/** The benchmark's own code in tiny sizes, so it cannot rot; the real run is bench/run.sh, not CI. */
describe('benchmark smoke run', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  test('every figure is measured, every small-VM backup succeeds, and the report and chart are written', async () => {
    const { results: r, markdown, files } = await runBenchmark({ smoke: true, diskGiB: 64 / 1024, quickSizesGiB: [32 / 1024, 64 / 1024], smallVms: 3, outDir: out });
    if (!hasMain(r)) throw new Error('sections 1-7 missing from a full run');
    const figures = [
      r.full.backflow, r.full.virtnbdbackup, r.full.durable, r.full.cpSync, r.full.cp, r.full.read,
      r.fullStopped.backflow, r.fullStopped.virtnbdbackup, r.fullStopped.durable,
      ...r.incs.flatMap((i) => [i.backflow, i.backflowBytes, i.virtnbdbackup, i.virtnbdBytes, i.written]),
      r.restore.backflow, r.restore.virtnbdrestore, r.restore.durable, r.restore.cpSync,
      ...r.quick.flatMap((q) => [q.toRunning, q.consolidation, q.answeredMs]),
      r.overhead.backflow64, r.overhead.bare64, r.many.total, r.many.p50, r.many.p95, r.many.hostWorkerPeakMiB,
      r.hash.rawRead, r.hash.sha256, r.hash.bytes, r.rss.apiAndControl, r.rss.hostWorker,
    ];
    for (const x of figures) {
      expect(Number.isFinite(x)).toBe(true);
      expect(x).toBeGreaterThan(0);
    }
    expect(r.full.status).toBe('BackedUp');
    expect(r.fullStopped).toMatchObject({ status: 'BackedUp', type: 'FULL' });
    expect(r.incs.map((i) => i.type)).toEqual(['INCREMENTAL', 'INCREMENTAL']);
    expect(r.restore.status).toBe('Succeeded');
    expect(r.quick.map((q) => q.status)).toEqual(['Succeeded', 'Succeeded']);
    expect(r.many).toMatchObject({ n: 3, succeeded: 3, leftBehind: 0 });
    // The breakdowns come from the workflows' histories: the quick restore reaches its start step, the backup its copy.
    for (const q of r.quick) expect(q.steps.steps.map((x) => x.step)).toContain('startQuickRestore');
    expect(r.overhead.steps.steps.map((x) => x.step)).toEqual(expect.arrayContaining(['describeVm', 'runLiveBackup', 'commitBackupDir']));
    for (const section of ['1. full backup, running', '1. full backup, stopped', '2. incremental after 1%', '2. incremental after 10%', '3. full restore', '4. quick restore', '5. 64 MiB', '5. 3 small VMs', '6. SHA-256', '7. peak RSS', '## Targets', '## Where the time goes']) {
      expect(markdown).toContain(section);
    }
    expect(targets(r)).toHaveLength(10);

    // 8. Compression: each job ran once to Compressed and was timed; the text disk shrinks, random data
    // does not shrink much; both restores are byte-identical to the raw export.
    const c = r.compression;
    if (!c) throw new Error('compression part missing');
    expect(c.data.map((d) => d.kind)).toEqual(['compressible', 'incompressible']);
    for (const d of c.data) {
      expect(d.jobs.map((j) => [j.library, j.status, j.attempts])).toEqual([['zstd', 'Compressed', 1], ['zlib', 'Compressed', 1]]);
      expect(d.peers.map((p) => p.tool)).toEqual(['zstd -T0', 'gzip']);
      for (const x of [...d.jobs.flatMap((j) => [j.seconds, j.phase1Seconds, j.mibps, j.bytes, j.uncompressedBytes]), ...d.peers.flatMap((p) => [p.seconds, p.mibps, p.bytes])]) {
        expect(Number.isFinite(x)).toBe(true);
        expect(x).toBeGreaterThan(0);
      }
      expect([d.restore.compressed, d.restore.uncompressed].map((x) => [x.status, x.identical])).toEqual([['Succeeded', true], ['Succeeded', true]]);
    }
    const [text, random] = c.data;
    for (const j of text.jobs) expect(j.ratio).toBeLessThan(0.6);
    for (const j of random.jobs) expect(j.ratio).toBeGreaterThan(0.9);
    expect(markdown).toContain('## 8. Compression');
    expect(readFileSync(files.md, 'utf8')).toBe(markdown);
    if (!files.png) throw new Error('no chart written');
    expect(existsSync(files.png)).toBe(true);
    expect(readFileSync(files.png).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    // Every section, compression included, end to end: about 3 minutes alone, several times that beside
    // another test file on two cores. A bound, not a measurement.
  }, 30 * 60_000);
});
