import { log, setCurrentDetails } from '@temporalio/workflow';

/**
 * A workflow's progress object (what its `progress` query answers) that also shows itself as the
 * workflow's current details in the Temporal Web UI, on every change, and logs each new phase once
 * (workflow `log`: not repeated on replay). Use it where the object is made:
 * `const progress = shownProgress<BackupProgress>({ phase: 'allocating' })`; the rest of the workflow
 * assigns to it as before.
 */
export function shownProgress<P extends object>(initial: P): P {
  const show = (p: P) => setCurrentDetails(renderDetails(p));
  show(initial);
  return new Proxy(initial, {
    set(target, key, value) {
      const before = (target as Record<PropertyKey, unknown>)[key];
      (target as Record<PropertyKey, unknown>)[key] = value;
      if (before !== value) {
        show(target);
        if (key === 'phase') log.info(`phase: ${String(value)}`, { phase: value });
      }
      return true;
    },
  });
}

/** Markdown the Web UI renders: one line per field that has a value, phase first. */
export function renderDetails(p: object): string {
  const entries = Object.entries(p).filter(([, v]) => v !== undefined && v !== null && v !== '');
  entries.sort(([a], [b]) => (a === 'phase' ? -1 : b === 'phase' ? 1 : 0));
  return entries.map(([k, v]) => `- **${k}**: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n');
}
