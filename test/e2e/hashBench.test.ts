import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runBenchmark } from '../../bench/main';

/** The hashing section of the benchmark (`--only hashing`) in a tiny size, so its code cannot rot; the real run is bench/run.sh. */
describe('benchmark smoke run: --only hashing', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'bench-hash-smoke-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  test('raw read, XXH128 and SHA-256 of the same file are each measured, and the report is written with its verdict', async () => {
    const { results, markdown, files } = await runBenchmark({ smoke: true, only: 'hashing', diskGiB: 16 / 1024, quickSizesGiB: [], smallVms: 0, outDir: out });
    const h = (results as typeof results & { hashing: import('../../bench/hashing').HashingResults }).hashing;
    expect(h.fileBytes).toBeGreaterThan(16 * 1024 * 1024);
    for (const row of [h.rawRead, h.xxh128, h.sha256]) {
      expect(row.seconds).toHaveLength(1);
      expect(row.median).toBeGreaterThan(0);
      expect(Number.isFinite(row.mibps)).toBe(true);
    }
    expect(h.pairRatios).toEqual([h.rawRead.seconds[0] / h.xxh128.seconds[0]]);
    expect(h.ratio).toBe(h.pairRatios[0]);
    expect(markdown).toContain('## 9. Hashing');
    expect(markdown).toMatch(/Target \(issue 13\).*(PASS|FALLS SHORT)/);
    expect(files.md).toMatch(/-hashing-smoke\.md$/);
    expect(readFileSync(files.md, 'utf8')).toBe(markdown);
  }, 5 * 60_000);
});
