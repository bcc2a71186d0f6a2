import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { backupVia, enrol, KbossZone } from '../helpers/backups';
import { startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { drainWorkflows } from '../helpers/schedules';
import { apiOk, eventually, Stack } from '../helpers/stack';
import { createTestVm, TestVm } from '../helpers/vm';
import { backupSyncWorkflowId, lastBackupSync } from '../../workflows/backupSync';

const exec = promisify(execFile);

/** Issue 11: the background sync task reconciles the catalog with a repository and records usage. */
describe('background sync task', () => {
  let s: Stack;
  let kb: KbossZone;
  let vm: TestVm | undefined;
  const ok = (method: string, url: string, body?: unknown) => apiOk(s, method, url, body);

  beforeAll(async () => ({ s, kb } = await startKbossStack()));
  afterAll(() => stopKbossStack(s, kb, [vm]));

  test('marks a backup whose file was deleted by hand, lists orphan folders, records usage matching du', async () => {
    vm = await createTestVm({ os: false, diskSizeMiB: 32, start: false });
    await enrol(s, vm.uuid, kb.offeringId);
    const alice = await ok('POST', '/v1/accounts', { name: 'alice', role: 'user' });
    await ok('PUT', `/v1/vms/${vm.uuid}/account`, { accountId: alice.id });
    const b1 = await backupVia(s, { vmId: vm.uuid });
    const b2 = await backupVia(s, { vmId: vm.uuid });
    expect([b1.status, b2.status]).toEqual(['BackedUp', 'BackedUp']);

    // By hand: b2's disk file goes; two folders the catalog never wrote appear.
    rmSync(path.join(kb.repoPath, vm.uuid, b2.id, 'vda.qcow2'));
    const strayBackup = `${vm.uuid}/${randomUUID()}`;
    const strayVm = randomUUID();
    for (const d of [strayBackup, strayVm]) {
      mkdirSync(path.join(kb.repoPath, d), { recursive: true });
      writeFileSync(path.join(kb.repoPath, d, 'vda.qcow2'), 'not a backup');
    }

    const before = new Date().toISOString();
    const { round } = await ok('POST', `/v1/zones/${kb.zoneId}/backup-sync`);
    // The zone's sync had not started yet: its first round (on start) may be the one that marked b2.
    expect(round).toMatchObject({ orphans: 2, errors: [] });

    const gone = await ok('GET', `/v1/backups/${b2.id}`);
    expect(gone).toMatchObject({ status: 'Missing', error: expect.stringContaining('vda.qcow2 is missing') });
    expect((await s.api('POST', `/v1/backups/${b2.id}/restore`, { body: {} })).status).toBeGreaterThanOrEqual(400);
    expect(await ok('GET', `/v1/backups/${b1.id}`)).toMatchObject({ status: 'BackedUp' });

    const orphans = await ok('GET', `/v1/backup-orphans?repositoryId=${kb.repoId}`);
    expect(orphans.items.map((o: any) => o.path).sort()).toEqual([strayBackup, strayVm].sort());
    for (const d of [strayBackup, strayVm]) expect(existsSync(path.join(kb.repoPath, d))).toBe(true); // reported, never deleted

    // Usage: the VM's good backups take what du says; its protected capacity is its virtual size.
    const du = Number((await exec('du', ['-s', '-B1', path.join(kb.repoPath, vm.uuid, b1.id)])).stdout.split('\t')[0]);
    const usage = await ok('GET', `/v1/usage?accountId=${alice.id}&from=${encodeURIComponent(before)}`);
    // One row per round since (the first round on start, and the one asked for).
    expect(usage.items.length).toBeGreaterThanOrEqual(1);
    for (const u of usage.items) {
      expect(u).toMatchObject({ vmId: vm.uuid, accountId: alice.id, offeringId: kb.offeringId, backupBytes: du, protectedBytes: 32 * 1024 * 1024 });
    }

    // The next backup does not build on the missing one.
    const b3 = await backupVia(s, { vmId: vm.uuid });
    expect(b3).toMatchObject({ status: 'BackedUp', type: 'FULL', fullReason: expect.stringContaining('missing') });

    // The interval is read each round: lowered, the next round comes by itself without a restart.
    await ok('PUT', '/v1/settings/backup.framework.sync.interval', { scope: 'global', value: 10 });
    const zoneName = (await s.pool.query(`SELECT name FROM zones WHERE id = $1`, [kb.zoneId])).rows[0].name;
    const sync = s.client.workflow.getHandle(backupSyncWorkflowId(zoneName));
    const kicked = (await ok('POST', `/v1/zones/${kb.zoneId}/backup-sync`)).round.at;
    const next = await eventually(async () => {
      const last = await sync.query(lastBackupSync);
      return last && last.at > kicked && last;
    }, 90_000, 1000);
    expect(next.usageRows).toBe(1);
    await sync.terminate('test over');
    await drainWorkflows(s);
  });
});
