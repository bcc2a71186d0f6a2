import type { GfsPolicy } from './schemas/schedules';

/**
 * Grandfather-father-son retention, with Proxmox Backup Server's semantics: the rules run in the
 * order last, hourly, daily, weekly, monthly, yearly over the backups newest first. Each rule keeps
 * the newest backup of up to N periods (hour, day, ISO week, month, year, in UTC) that no earlier
 * rule already covers; a period without a backup does not count. Protected backups are always kept
 * and count for no rule. A policy that keeps nothing at all keeps everything. Pure: workflows may use it.
 */
export interface GfsItem { id: string; time: Date | string; protected?: boolean }
export type GfsMark = 'keep' | 'remove' | 'protected';
export interface GfsResult { keep: string[]; remove: string[]; marks: Record<string, GfsMark> }

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** ISO 8601 week of a UTC date: "YYYY/WW" (the week-numbering year may differ from the calendar year). */
export function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dow = t.getUTCDay() || 7; // Monday 1 ... Sunday 7
  t.setUTCDate(t.getUTCDate() + 4 - dow); // the Thursday of this week decides its year
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}/${pad(week)}`;
}

type Period = (d: Date, id: string) => string;
const RULES: [keyof GfsPolicy, Period][] = [
  ['keepLast', (_d, id) => id],
  ['keepHourly', (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}`],
  ['keepDaily', (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`],
  ['keepWeekly', (d) => isoWeek(d)],
  ['keepMonthly', (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}`],
  ['keepYearly', (d) => `${d.getUTCFullYear()}`],
];

export const policyKeepsAll = (p: GfsPolicy) => RULES.every(([k]) => !p[k]);

export function applyGfs(items: GfsItem[], policy: GfsPolicy): GfsResult {
  const list = items.map((i) => ({ ...i, at: new Date(i.time) })).sort((a, b) => b.at.getTime() - a.at.getTime() || (a.id < b.id ? 1 : -1));
  const marks: Record<string, GfsMark> = {};
  if (policyKeepsAll(policy)) for (const i of list) marks[i.id] = i.protected ? 'protected' : 'keep';
  for (const [rule, period] of RULES) {
    const count = policy[rule] ?? 0;
    if (!count) continue;
    // Periods an earlier rule already keeps a backup of do not use up this rule's count.
    const covered = new Set(list.filter((i) => marks[i.id] === 'keep').map((i) => period(i.at, i.id)));
    const chosen = new Set<string>();
    for (const i of list) {
      if (marks[i.id]) continue;
      if (i.protected) {
        marks[i.id] = 'protected';
        continue;
      }
      const p = period(i.at, i.id);
      if (covered.has(p)) continue;
      if (chosen.has(p)) {
        marks[i.id] = 'remove'; // an older backup of a period this rule keeps the newest of
        continue;
      }
      if (chosen.size >= count) break;
      chosen.add(p);
      marks[i.id] = 'keep';
    }
  }
  for (const i of list) marks[i.id] ??= i.protected ? 'protected' : 'remove';
  return {
    keep: list.filter((i) => marks[i.id] !== 'remove').map((i) => i.id),
    remove: list.filter((i) => marks[i.id] === 'remove').map((i) => i.id),
    marks,
  };
}
