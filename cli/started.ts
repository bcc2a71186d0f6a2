import { emit } from './output';
import { follow, type Snapshot } from './progress';

/** A workflow the API just started (its 202), and how to follow and show what it works on. */
export interface Started<T> {
  what: 'backup' | 'restore';
  id: string;
  workflowId: string;
  answer: unknown;
  watch: () => Promise<Snapshot>;
  get: () => Promise<T>;
  summary: (row: T) => string;
}

/** Prints the start; with --wait follows it with the bar to its end, then prints its record (also when it failed). */
export async function reportStarted<T>(s: Started<T>, o: { wait?: boolean }, json: boolean): Promise<void> {
  const line = `${s.what} ${s.id} started (workflow ${s.workflowId})`;
  if (!o.wait) return emit(s.answer, { json }, () => line);
  if (!json) process.stderr.write(`${line}\n`);
  try {
    await follow(s.watch, { quiet: json });
  } finally {
    const row = await s.get().catch(() => undefined);
    if (row) emit(row, { json }, () => s.summary(row));
  }
}
