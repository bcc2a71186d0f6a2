import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Server } from 'node:http';
import { Worker } from '@temporalio/worker';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { createLogger } from '../../common/log';
import { serveMetrics, workerRegistry } from '../../common/metrics';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../../workers/logAttributes';
import { installRuntime, sdkMetricsUrl } from '../../workers/runtime';
import { backupVia, type KbossZone } from '../helpers/backups';
import { enrolledVm, startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { freePort } from '../helpers/ownServers';
import { REPO } from '../helpers/paths';
import type { Stack } from '../helpers/stack';
import type { TestVm } from '../helpers/vm';

type Families = ReturnType<typeof parsePrometheusTextFormat>;

/** GET url, parsed as Prometheus text exposition (the parser throws on what is not). */
async function scrape(url: string): Promise<Families> {
  const r = await fetch(url);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusTextFormat(await r.text());
}

/** The samples of one family whose labels include `labels`. */
function samples(fams: Families, name: string, labels: Record<string, string> = {}) {
  const fam = fams.find((f) => f.name === name);
  if (!fam) throw new Error(`no metric family ${name}`);
  return fam.metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
}
const value = (fams: Families, name: string, labels: Record<string, string> = {}) => samples(fams, name, labels).reduce((s, m) => s + Number(m.value), 0);

/** A histogram's _sum or _count of one series, from the text (the parser drops a histogram's labels, sum and count). */
async function histogramValue(url: string, series: string): Promise<number> {
  const text = await (await fetch(url)).text();
  return Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1]);
}

/** JSON lines (anything else, e.g. a stack trace printed by hand, would fail the parse and the test). */
const jsonLines = (text: string) => text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, any>);

/**
 * Issue 14: one real backup, then the three /metrics endpoints (API, control worker, host worker process)
 * and the log lines of the control worker (captured from pino) and of the host worker (its stdout).
 */
describe('metrics and structured logs of a backup', () => {
  const controlLines: string[] = [];
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  let controlMetrics: Server;
  let controlUrl: string;
  let hostUrl: string;
  const hostLog = path.join(REPO, '.state/logs/test-host-worker.log');

  beforeAll(async () => {
    // This process's Runtime, installed before the stack's (which then keeps it): the in-process control
    // worker logs into `controlLines` as JSON, and the SDK serves its metrics, as workers/control.ts does.
    const capture = new Writable({
      write(chunk, _enc, done) {
        controlLines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    const [sdkPort, controlPort, hostPort, hostSdkPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    installRuntime(createLogger('control', capture, 'info'), sdkPort, { forwardCoreLogs: false });
    controlMetrics = await serveMetrics(controlPort, workerRegistry, sdkMetricsUrl(sdkPort));
    controlUrl = `http://127.0.0.1:${controlPort}/metrics`;
    hostUrl = `http://127.0.0.1:${hostPort}/metrics`;
    ({ s, kb } = await startKbossStack({
      hostWorker: 'process',
      hostWorkerEnv: { BACKFLOW_HOST_METRICS_PORT: String(hostPort), BACKFLOW_HOST_SDK_METRICS_PORT: String(hostSdkPort), BACKFLOW_LOG_LEVEL: 'debug' },
    }));
  });
  afterAll(async () => {
    await stopKbossStack(s, kb, vms);
    await new Promise((r) => controlMetrics?.close(r));
  });

  test('after one backup: counters, histogram and catalog gauges show it; its log lines carry its workflow and backup ids', async () => {
    const before = await scrape(controlUrl);
    expect(value(before, 'backflow_backups_total', { status: 'BackedUp' })).toBe(0);

    const vm = await enrolledVm(s, vms, { os: false, diskSizeMiB: 64 }, kb.offeringId);
    const b = await backupVia(s, { vmId: vm.uuid, name: 'metrics' });
    expect(b).toMatchObject({ status: 'BackedUp', type: 'FULL', provider: 'kboss' });
    const row = (await s.pool.query(`SELECT size_bytes::float8 AS size, duration_ms FROM backups WHERE id = $1`, [b.id])).rows[0];
    expect(row.size).toBeGreaterThan(0);

    // The control worker's own figures: counted once, with the catalog's size and duration.
    const control = await scrape(controlUrl);
    const labels = { status: 'BackedUp', provider: 'kboss', type: 'FULL' };
    expect(value(control, 'backflow_backups_total', labels)).toBe(1);
    expect(value(control, 'backflow_backup_bytes_written_total', { provider: 'kboss' })).toBe(row.size);
    // One series; its buckets from the parser, its sum and count from the text.
    const hist = samples(control, 'backflow_backup_duration_seconds');
    expect(hist).toHaveLength(1);
    // Every bucket at or above the duration holds it, every one below does not (+Inf: the count).
    const seconds = row.duration_ms / 1000;
    expect(hist[0].buckets).toEqual(Object.fromEntries(Object.keys(hist[0].buckets!).map((le) => [le, le === '+Inf' || Number(le) >= seconds ? '1' : '0'])));
    const series = '{status="BackedUp",provider="kboss",type="FULL"}';
    expect(await histogramValue(controlUrl, `backflow_backup_duration_seconds_count${series}`)).toBe(1);
    expect(await histogramValue(controlUrl, `backflow_backup_duration_seconds_sum${series}`)).toBeCloseTo(seconds, 3);
    // The Temporal SDK's own worker metrics, for the control queue, in the same scrape.
    const sdk = control.filter((f) => f.name.startsWith('temporal_'));
    expect(sdk.length).toBeGreaterThan(0);
    expect(sdk.some((f) => f.metrics.some((m) => m.labels?.task_queue === 'backflow-control'))).toBe(true);

    // The host worker process: up, and its SDK metrics for its own queue.
    const host = await scrape(hostUrl);
    expect(value(host, 'backflow_host_worker_up', { host: s.facts.name })).toBe(1);
    expect(host.some((f) => f.name.startsWith('temporal_') && f.metrics.some((m) => m.labels?.task_queue === s.facts.taskQueue))).toBe(true);

    // The API: the catalog as it is now, and its own requests (no key needed).
    const api = await scrape(`${s.apiUrl}/metrics`);
    expect(value(api, 'backflow_backups', { status: 'BackedUp', provider: 'kboss' })).toBe(1);
    expect(value(api, 'backflow_running_operations', { operation: 'backup' })).toBe(0);
    expect(value(api, 'backflow_host_up', { host: s.facts.name })).toBe(1);
    expect(await histogramValue(`${s.apiUrl}/metrics`, 'backflow_api_request_duration_seconds_count{method="POST",route="/v1/backups",status="202"}')).toBe(1);

    // Control worker: JSON lines from the workflow (its phases, through the SDK's workflow logger) and from
    // the catalog activity that recorded it, each with the backup's workflow id and backup id.
    const mine = jsonLines(controlLines.join('\n')).filter((l) => l.workflowId === b.workflowId);
    expect(mine.every((l) => l.backupId === b.id && l.service === 'control')).toBe(true);
    const workflowLines = mine.filter((l) => l.sdkComponent === 'workflow');
    expect(workflowLines.map((l) => l.msg)).toEqual(expect.arrayContaining(['phase: copying', 'phase: done']));
    expect(workflowLines.every((l) => l.vmId === vm.uuid)).toBe(true);
    expect(mine.find((l) => l.sdkComponent === 'activity' && l.msg === 'backup BackedUp')).toMatchObject({ activityType: 'markBackedUp', sizeBytes: String(row.size) });

    // Replaying its history (as a worker that lost its cache would) logs nothing again.
    const count = controlLines.length;
    const history = await s.client.workflow.getHandle(b.workflowId).fetchHistory();
    await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows'), interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES } }, history, b.workflowId);
    expect(jsonLines(controlLines.slice(count).join('\n')).filter((l) => l.workflowId === b.workflowId)).toEqual([]);

    // Host worker process: its stdout (a file shared by test files, so only this backup's lines count).
    const hostLines = jsonLines(readFileSync(hostLog, 'utf8').split('\n').filter((l) => l.includes(b.workflowId)).join('\n'));
    const copy = hostLines.filter((l) => l.backupId === b.id);
    expect(copy.length).toBeGreaterThan(0);
    expect(copy.every((l) => l.workflowId === b.workflowId && l.service === 'host' && l.host === s.facts.name)).toBe(true);
    expect(copy.map((l) => l.activityType)).toEqual(expect.arrayContaining(['prepareBackupDir', 'commitBackupDir']));
  });
});
