import type { Client } from '@temporalio/client';

/**
 * Where a workflow's time goes, read from its Temporal history (issue 15): per activity, the time it
 * waited on its task queue (scheduled → started) and ran (started → completed); local activities (markers)
 * and workflow tasks too, each at its offset from a reference time (the API request, or the workflow's start).
 */
export interface Step { step: string; kind: 'activity' | 'local activity' | 'workflow task'; at: number; queued: number; ran: number }

type Ts = { seconds?: unknown; nanos?: number | null } | null | undefined;
const ms = (t: Ts) => {
  if (!t) return NaN;
  const s = t.seconds as { toNumber?: () => number } | number | string | undefined;
  const secs = typeof s === 'object' && s?.toNumber ? s.toNumber() : Number(s ?? 0);
  return secs * 1000 + (t.nanos ?? 0) / 1e6;
};
const id = (v: unknown) => String((v as { toString(): string }).toString());

/** The steps of workflowId in order; `from` (epoch ms) is the zero, else the workflow's start; only steps that start before `until` (epoch ms). */
export async function historySteps(client: Client, workflowId: string, opts: { from?: number; until?: number } = {}): Promise<{ started: number; steps: Step[] }> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const started = ms(events[0]?.eventTime);
  const zero = opts.from ?? started;
  const scheduled = new Map<string, { name: string; at: number; started?: number }>();
  const wft = new Map<string, { at: number; started?: number }>();
  const steps: Step[] = [];
  for (const e of events) {
    const at = ms(e.eventTime);
    if (e.activityTaskScheduledEventAttributes) scheduled.set(id(e.eventId), { name: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?', at });
    else if (e.activityTaskStartedEventAttributes) {
      const s = scheduled.get(id(e.activityTaskStartedEventAttributes.scheduledEventId));
      if (s) s.started = at;
    } else if (e.activityTaskCompletedEventAttributes || e.activityTaskFailedEventAttributes) {
      const a = (e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes)!;
      const s = scheduled.get(id(a.scheduledEventId));
      // A retried activity records one Started (the last attempt): its queue time includes the earlier attempts.
      if (s) steps.push({ step: s.name + (e.activityTaskFailedEventAttributes ? ' (failed)' : ''), kind: 'activity', at: s.at - zero, queued: (s.started ?? at) - s.at, ran: at - (s.started ?? at) });
    } else if (e.workflowTaskScheduledEventAttributes) wft.set(id(e.eventId), { at });
    else if (e.workflowTaskStartedEventAttributes) {
      const w = wft.get(id(e.workflowTaskStartedEventAttributes.scheduledEventId));
      if (w) w.started = at;
    } else if (e.workflowTaskCompletedEventAttributes) {
      const w = wft.get(id(e.workflowTaskCompletedEventAttributes.scheduledEventId));
      if (w) steps.push({ step: 'workflow task', kind: 'workflow task', at: w.at - zero, queued: (w.started ?? at) - w.at, ran: at - (w.started ?? at) });
    } else if (e.markerRecordedEventAttributes?.markerName === 'core_local_activity') {
      steps.push({ step: localActivityName(e.markerRecordedEventAttributes.details), kind: 'local activity', at: at - zero, queued: 0, ran: NaN });
    }
  }
  steps.sort((a, b) => a.at - b.at);
  return { started: started - zero, steps: opts.until === undefined ? steps : steps.filter((s) => s.at + zero <= opts.until!) };
}

/** The activity type a local-activity marker records (its `data` payload is JSON), or '?'. */
function localActivityName(details: unknown): string {
  try {
    const data = (details as Record<string, { payloads?: { data?: Uint8Array }[] }>).data?.payloads?.[0]?.data;
    return data ? String(JSON.parse(Buffer.from(data).toString('utf8')).activity_type ?? '?') : '?';
  } catch {
    return '?';
  }
}

/** A markdown table of the steps (ms), with the sums of queue and run time of the activities. */
export function stepsTable(title: string, s: { started: number; steps: Step[] }): string[] {
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '-');
  const acts = s.steps.filter((x) => x.kind === 'activity');
  const sum = (k: 'queued' | 'ran') => acts.reduce((t, x) => t + x[k], 0);
  return [
    `${title} (workflow started at ${f(s.started)} ms):`, '',
    '| at (ms) | step | kind | scheduled → started (ms) | started → completed (ms) |', '|---|---|---|---|---|',
    ...s.steps.map((x) => `| ${f(x.at)} | ${x.step} | ${x.kind} | ${f(x.queued)} | ${f(x.ran)} |`),
    `| | activities: ${acts.length} | | ${f(sum('queued'))} | ${f(sum('ran'))} |`, '',
  ];
}
