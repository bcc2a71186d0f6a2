import { randomBytes } from 'node:crypto';
import { eventually, Stack, startStack } from '../helpers/stack';
import { announceHost } from '../../workers/wiring';
import { backupSyncWorkflowId, hostTaskQueue, SA } from '../../common/temporal';

/** Issue 11: a zone made after the control worker started gets its background sync task without a restart. */
describe('background sync task of a new zone', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack();
  });
  afterAll(async () => {
    await s?.stop();
  });

  test('a host registering in a zone unknown until then starts that zone\'s sync, once', async () => {
    const zone = `zone-late-${randomBytes(3).toString('hex')}`;
    expect((await s.pool.query(`SELECT 1 FROM zones WHERE name = $1`, [zone])).rowCount).toBe(0);
    // A host of the new zone announces itself (no worker behind it: only its registration matters here).
    const name = `latehost-${randomBytes(3).toString('hex')}`;
    const facts = { ...s.facts, id: '00000000-0000-4000-8000-' + randomBytes(6).toString('hex'), name, zone, taskQueue: hostTaskQueue(name) };
    const inventory = await announceHost(s.client, facts, 3600);

    const sync = s.client.workflow.getHandle(backupSyncWorkflowId(zone));
    const desc = await eventually(async () => (await sync.describe().catch(() => undefined)), 120_000, 500);
    expect(desc.status.name).toBe('RUNNING');
    expect(desc.typedSearchAttributes.get(SA.Zone)).toBe(zone);
    expect(desc.typedSearchAttributes.get(SA.Operation)).toBe('backup-sync');
    const zoneId = (await s.pool.query(`SELECT id FROM zones WHERE name = $1`, [zone])).rows[0].id;
    expect(desc.raw.executionConfig?.taskQueue?.name).toBe('backflow-control');

    // Registering again (a worker restart) joins the running sync: still one run.
    const seen = async () => (await s.pool.query(`SELECT last_seen_at FROM hosts WHERE id = $1 AND zone_id = $2`, [facts.id, zoneId])).rows[0]?.last_seen_at as Date;
    const first = await eventually(seen, 60_000);
    await announceHost(s.client, facts, 3600);
    await eventually(async () => (await seen()) > first, 60_000);
    const runs: string[] = [];
    for await (const w of s.client.workflow.list({ query: `WorkflowId = "${backupSyncWorkflowId(zone)}"` })) runs.push(w.runId);
    expect(runs).toEqual([desc.runId]);

    await inventory.terminate('test over');
    await sync.terminate('test over');
  });
});
