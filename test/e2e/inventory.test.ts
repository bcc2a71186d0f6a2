import { promises as fs } from 'node:fs';
import { createTestVm, destroyTestVm, diskPathOf, TestVm, virsh } from '../helpers/vm';
import { eventually, Stack, startStack } from '../helpers/stack';

/** Issue 2: the stack on real parts, with a real libvirt VM discovered through the API. */
describe('inventory and tenancy on the real stack', () => {
  let s: Stack;
  let vm: TestVm;
  const sync = async () => {
    const r = await s.api('POST', `/v1/hosts/${s.facts.id}/sync`);
    expect(r.status).toBe(200);
    return r.body;
  };
  const findVm = async (key?: string) => (await s.api('GET', `/v1/vms?pageSize=500`, { key })).body.items.find((v: any) => v.id === vm.uuid);

  beforeAll(async () => {
    s = await startStack();
    vm = await createTestVm({ os: false, diskSizeMiB: 64, extraDisks: 1 });
  });
  afterAll(async () => {
    if (vm) await destroyTestVm(vm);
    await s?.stop();
  });

  test('health is green: PostgreSQL, Temporal and this host worker', async () => {
    const h = await eventually(async () => {
      const r = await s.api('GET', '/health', { key: null });
      return r.status === 200 && r.body;
    }, 120_000);
    expect(h.postgres.ok).toBe(true);
    expect(h.temporal.ok).toBe(true);
    expect(h.hosts).toEqual([expect.objectContaining({ id: s.facts.id, ok: true, workerPolling: true })]);
  });

  test('the host registered itself and its inventory workflow is searchable in Temporal', async () => {
    const host = await s.api('GET', `/v1/hosts/${s.facts.id}`);
    expect(host.status).toBe(200);
    expect(host.body).toMatchObject({ name: s.facts.name, zone: 'zone-1', status: 'Up', cpus: s.facts.cpus, taskQueue: s.facts.taskQueue });
    const found = await eventually(async () => {
      const ids: string[] = [];
      for await (const w of s.client.workflow.list({ query: `Operation = "inventory" AND HostId = "${s.facts.id}"` })) ids.push(w.workflowId);
      return ids.length > 0 && ids;
    });
    expect(found).toEqual([`inventory-${s.facts.name}`]);
  });

  test('a VM defined in libvirt appears with its disks, and its state changes follow a sync', async () => {
    await sync();
    const seen = await findVm();
    expect(seen).toMatchObject({ name: vm.name, state: 'Running', hostId: s.facts.id, accountId: null });
    expect(seen.disks).toEqual([
      { target: 'vda', path: vm.diskPath, format: 'qcow2', virtualSize: 64 * 1024 * 1024 },
      expect.objectContaining({ target: 'vdb', format: 'qcow2', virtualSize: 64 * 1024 * 1024 }),
    ]);

    await virsh(['destroy', vm.name]);
    await sync();
    expect((await findVm()).state).toBe('Stopped');

    await virsh(['start', vm.name]);
    await sync();
    expect((await findVm()).state).toBe('Running');
  });

  test('users see only their own account\'s VMs; unowned VMs are for root admins', async () => {
    await sync();
    const mk = async (name: string) => {
      const a = await s.api('POST', '/v1/accounts', { body: { name, role: 'user' } });
      expect(a.status).toBe(201);
      const k = await s.api('POST', `/v1/accounts/${a.body.id}/keys`, { body: {} });
      expect(k.status).toBe(201);
      return { id: a.body.id as string, key: k.body.key as string };
    };
    const alice = await mk(`alice-${vm.name}`);
    const bob = await mk(`bob-${vm.name}`);

    expect(await findVm(alice.key)).toBeUndefined(); // unowned: admins only
    const give = await s.api('PUT', `/v1/vms/${vm.uuid}/account`, { body: { accountId: alice.id } });
    expect(give.status).toBe(200);
    expect(give.body.accountId).toBe(alice.id);

    expect(await findVm(alice.key)).toMatchObject({ id: vm.uuid, account: `alice-${vm.name}` });
    expect(await findVm(bob.key)).toBeUndefined();
    expect((await s.api('GET', `/v1/vms/${vm.uuid}`, { key: alice.key })).status).toBe(200);
    const bobGet = await s.api('GET', `/v1/vms/${vm.uuid}`, { key: bob.key });
    expect(bobGet.status).toBe(404);
    expect(bobGet.body.error.field).toBe('id');

    // A user cannot hand VMs around.
    const bobGive = await s.api('PUT', `/v1/vms/${vm.uuid}/account`, { key: bob.key, body: { accountId: bob.id } });
    expect(bobGive.status).toBe(403);
    expect((await findVm(alice.key)).accountId).toBe(alice.id);
  });

  test('bad input gets a 4xx JSON error naming the field, and changes nothing', async () => {
    const before = await findVm();
    const malformed = await s.api('PUT', `/v1/vms/${vm.uuid}/account`, { rawBody: '{"accountId": ' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatchObject({ field: 'body', message: expect.stringContaining('malformed JSON') });

    const wrongType = await s.api('PUT', `/v1/vms/${vm.uuid}/account`, { body: { accountId: 42 } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.field).toBe('body.accountId');

    const unknownAccount = await s.api('PUT', `/v1/vms/${vm.uuid}/account`, { body: { accountId: '7d0b4c7e-0000-4000-8000-000000000000' } });
    expect(unknownAccount.status).toBe(400);
    expect(unknownAccount.body.error.field).toBe('body.accountId');

    const unknownVm = await s.api('GET', '/v1/vms/7d0b4c7e-0000-4000-8000-000000000000');
    expect(unknownVm.status).toBe(404);
    expect(unknownVm.body.error.field).toBe('id');

    const notUuid = await s.api('GET', '/v1/vms/not-a-uuid');
    expect(notUuid.status).toBe(400);
    expect(notUuid.body.error.field).toBe('params.id');

    const badQuery = await s.api('GET', '/v1/vms?pageSize=0');
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.error.field).toBe('query.pageSize');

    const noKey = await s.api('GET', '/v1/vms', { key: null });
    expect(noKey.status).toBe(401);
    expect(noKey.body.error.field).toBe('authorization');
    const wrongKey = await s.api('PUT', `/v1/vms/${vm.uuid}/account`, { key: 'bf_wrong', body: { accountId: null } });
    expect(wrongKey.status).toBe(401);
    expect(wrongKey.body.error.field).toBe('authorization');

    expect(await findVm()).toEqual(before);
  });

  test('a stopped VM whose disk file is missing is recorded (size 0), and every other VM still syncs', async () => {
    const broken = await createTestVm({ os: false, diskSizeMiB: 32, extraDisks: 1, start: false });
    try {
      const gone = diskPathOf(broken, 'vdb');
      await fs.rm(gone);
      const r = await sync();
      expect(r.ok).toBe(true);
      const vms = (await s.api('GET', `/v1/vms?pageSize=500`)).body.items;
      expect(vms.find((v: any) => v.id === broken.uuid)).toMatchObject({
        name: broken.name,
        state: 'Stopped',
        disks: [
          { target: 'vda', path: broken.diskPath, format: 'qcow2', virtualSize: 32 * 1024 * 1024 },
          { target: 'vdb', path: gone, format: 'qcow2', virtualSize: 0 },
        ],
      });
      expect(vms.find((v: any) => v.id === vm.uuid)).toMatchObject({ name: vm.name, hostId: s.facts.id });
    } finally {
      await destroyTestVm(broken);
    }
  });

  test('a host whose worker stops answering is shown as down, and comes back up', async () => {
    await s.stopHostWorker();
    const r = await s.api('POST', `/v1/hosts/${s.facts.id}/sync`);
    expect(r.status).toBe(502);
    expect(r.body.ok).toBe(false);
    const host = await s.api('GET', `/v1/hosts/${s.facts.id}`);
    expect(host.body.status).toBe('Down');
    expect(host.body.statusReason).toMatch(/inventory sync failed/);

    await s.restartHostWorker();
    await eventually(async () => (await s.api('GET', `/v1/hosts/${s.facts.id}`)).body.status === 'Up');
    expect((await sync()).ok).toBe(true);
  });
});
