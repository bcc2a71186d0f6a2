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

/** Throws the cancellation if the activity was cancelled. */
export function throwIfCancelled(): void {
  const signal = activityContext()?.cancellationSignal;
  if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
}

/** Sleeps, waking early (with the cancellation) if the activity is cancelled. */
export function sleepCancellable(ms: number): Promise<void> {
  const signal = activityContext()?.cancellationSignal;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('cancelled'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason ?? new Error('cancelled'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Heartbeats `details` every 10 s while `fn` runs (a long qemu-img check says nothing meanwhile). */
export async function withHeartbeat<T>(details: unknown, fn: () => Promise<T>): Promise<T> {
  heartbeat(details);
  const timer = setInterval(() => heartbeat(details), 10_000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}
