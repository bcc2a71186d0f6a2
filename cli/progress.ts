import { Format, Presets, SingleBar, type Options, type Params } from 'cli-progress';
import { bytes } from './output';
import { CliError, EXIT } from './errors';

/** One look at a running operation, from its GET route (the API's live progress: phase and heartbeated bytes). */
export interface Snapshot {
  phase: string;
  bytesDone?: number;
  bytesTotal?: number;
  percent?: number;
  /** Set once the operation has ended: true for success. */
  done?: boolean;
  /** Set when it ended in failure: why. */
  failed?: string;
}

interface Payload { phase: string; amount: string; rate: string }

/** `phase [=====-----] 42% | 1.2 GiB / 4.0 GiB | 85.3 MiB/s`. */
const format = (options: Options, params: Params, payload: Payload) =>
  `${payload.phase.padEnd(22)} ${Format.BarFormat(params.progress, options)} ${String(Math.floor(params.progress * 100)).padStart(3)}%` +
  `${payload.amount ? ` | ${payload.amount}` : ''}${payload.rate ? ` | ${payload.rate}` : ''}`;

/**
 * Polls `read` until the operation ends, drawing a bar on stderr (so stdout keeps the result): bytes done of
 * the total and the rate while a copy reports bytes, qemu-img's percentage while a restore reports one.
 * At the end the bar shows what the operation reached (100% on success); a failure throws with its reason.
 */
export async function follow(read: () => Promise<Snapshot>, o: { quiet?: boolean; intervalMs?: number } = {}): Promise<void> {
  const bar = new SingleBar(
    // noTTYOutput: also when piped (a log, a CI job), one line per redraw.
    { format: format as never, stream: process.stderr, noTTYOutput: true, notTTYSchedule: 2000, hideCursor: true, barsize: 30 },
    Presets.shades_classic,
  );
  let started = false;
  let first: { at: number; done: number } | undefined;
  let last = { total: 1, value: 0, amount: '' };
  const show = (s: Snapshot) => {
    let rate = '';
    if (s.bytesTotal) {
      const done = s.bytesDone ?? 0;
      first ??= { at: Date.now(), done };
      const secs = (Date.now() - first.at) / 1000;
      if (secs > 0 && done > first.done) rate = `${bytes((done - first.done) / secs)}/s`;
      last = { total: s.bytesTotal, value: Math.min(done, s.bytesTotal), amount: `${bytes(done)} / ${bytes(s.bytesTotal)}` };
    } else if (s.percent !== undefined) {
      last = { total: 100, value: s.percent, amount: '' };
    }
    // Done: the job processed everything it counted.
    if (s.done) last = { ...last, value: last.total, amount: last.amount && `${bytes(last.total)} / ${bytes(last.total)}` };
    const payload: Payload = { phase: s.phase, amount: last.amount, rate };
    if (o.quiet) return;
    if (!started) {
      bar.start(last.total, last.value, payload);
      started = true;
    } else {
      bar.setTotal(last.total);
      bar.update(last.value, payload);
    }
  };
  try {
    for (;;) {
      const s = await read();
      show(s);
      if (s.failed !== undefined) throw new CliError(s.failed, EXIT.failed);
      if (s.done) return;
      await new Promise((r) => setTimeout(r, o.intervalMs ?? 1000));
    }
  } finally {
    if (started) bar.stop();
  }
}
