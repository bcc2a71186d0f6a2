import { applyGfs, isoWeek, type GfsItem } from '../../common/gfs';
import type { GfsPolicy } from '../../common/schemas/schedules';

/**
 * Issue 11: the GFS policy function over a synthetic catalog of three years: one backup a day at
 * 01:00 UTC from 2023-01-01 to 2025-12-31, and one every hour on the last day (01:00 to 23:00).
 * Ids are the backups' times, so the expected sets read as dates worked out from the calendar.
 */
const catalog: GfsItem[] = [];
for (let t = Date.UTC(2023, 0, 1, 1); t <= Date.UTC(2025, 11, 31, 1); t += 86_400_000) catalog.push({ id: new Date(t).toISOString(), time: new Date(t) });
for (let h = 2; h <= 23; h++) catalog.push({ id: new Date(Date.UTC(2025, 11, 31, h)).toISOString(), time: new Date(Date.UTC(2025, 11, 31, h)) });

const at = (s: string) => (s.length === 10 ? `${s}T01:00:00.000Z` : `${s}:00:00.000Z`);

const cases: [string, GfsPolicy, string[]][] = [
  ['keepLast 3: the three newest', { keepLast: 3 }, ['2025-12-31T23', '2025-12-31T22', '2025-12-31T21']],
  ['keepHourly 2: the two newest hours', { keepHourly: 2 }, ['2025-12-31T23', '2025-12-31T22']],
  ['keepDaily 4: the newest of each of the last four days', { keepDaily: 4 }, ['2025-12-31T23', '2025-12-30', '2025-12-29', '2025-12-28']],
  // 2025-12-31 is a Wednesday of ISO week 2026-W01 (Mon 29 Dec); weeks run Monday to Sunday.
  ['keepWeekly 4: the newest of each of the last four ISO weeks', { keepWeekly: 4 }, ['2025-12-31T23', '2025-12-28', '2025-12-21', '2025-12-14']],
  ['keepMonthly 6', { keepMonthly: 6 }, ['2025-12-31T23', '2025-11-30', '2025-10-31', '2025-09-30', '2025-08-31', '2025-07-31']],
  ['keepYearly 5: only three years have backups, and empty periods do not count', { keepYearly: 5 }, ['2025-12-31T23', '2024-12-31', '2023-12-31']],
  [
    'all rules together: each counts only periods no earlier rule covers',
    { keepLast: 2, keepDaily: 3, keepWeekly: 2, keepMonthly: 2, keepYearly: 2 },
    // weekly: 2026-W01 and 2025-W52 are covered by daily, so two more weeks; monthly: December is covered,
    // so November and October; yearly: 2025 is covered, so 2024 and 2023.
    ['2025-12-31T23', '2025-12-31T22', '2025-12-30', '2025-12-29', '2025-12-28', '2025-12-21', '2025-12-14', '2025-11-30', '2025-10-31',
      '2024-12-31', '2023-12-31'],
  ],
];

describe('GFS retention (PBS semantics) over three years of backups', () => {
  test.each(cases)('%s', (_name, policy, expected) => {
    const r = applyGfs(catalog, policy);
    expect(r.keep).toEqual(expected.map(at));
    expect(r.remove).toHaveLength(catalog.length - expected.length);
    expect(new Set([...r.keep, ...r.remove]).size).toBe(catalog.length);
  });

  test('a protected backup is always kept and uses up no rule', () => {
    const items = catalog.map((i) => (i.id === at('2023-06-15') ? { ...i, protected: true } : i));
    const r = applyGfs(items, { keepLast: 1 });
    expect(r.keep).toEqual([at('2025-12-31T23'), at('2023-06-15')]);
    expect(r.marks[at('2023-06-15')]).toBe('protected');
    // Protected among the newest: keepLast 1 still keeps the newest unprotected one as well.
    const top = catalog.map((i) => (i.id === at('2025-12-31T23') ? { ...i, protected: true } : i));
    expect(applyGfs(top, { keepLast: 1 }).keep).toEqual([at('2025-12-31T23'), at('2025-12-31T22')]);
  });

  test('a policy that keeps nothing keeps everything; input order does not matter', () => {
    expect(applyGfs(catalog, {}).remove).toEqual([]);
    expect(applyGfs(catalog, { keepDaily: 0 }).keep).toHaveLength(catalog.length);
    const shuffled = [...catalog].sort((a, b) => (a.id.split('').reverse().join('') < b.id.split('').reverse().join('') ? -1 : 1));
    expect(applyGfs(shuffled, { keepWeekly: 4 }).keep).toEqual(applyGfs(catalog, { keepWeekly: 4 }).keep);
  });

  test('ISO weeks across year ends', () => {
    expect(isoWeek(new Date('2025-12-29T00:00:00Z'))).toBe('2026/01');
    expect(isoWeek(new Date('2025-12-28T23:59:00Z'))).toBe('2025/52');
    expect(isoWeek(new Date('2021-01-03T12:00:00Z'))).toBe('2020/53');
    expect(isoWeek(new Date('2024-12-30T12:00:00Z'))).toBe('2025/01');
  });
});
