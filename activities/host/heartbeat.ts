import { Context } from '@temporalio/activity';

/** The current activity's context, or undefined when the function runs outside an activity (scripts, tests). */
export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export function heartbeat(details?: unknown): void {
  activityContext()?.heartbeat(details);
}

/** Aborted when the activity is cancelled; never aborted outside an activity. */
export function cancellationSignal(): AbortSignal {
  return activityContext()?.cancellationSignal ?? new AbortController().signal;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
