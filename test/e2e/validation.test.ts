import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { validationVmName } from '../../common/layout';
import { backupVia, KbossZone, settle, sha256 } from '../helpers/backups';
import { enrolledVm, startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { eventually, Stack } from '../helpers/stack';
import { ownValidationDir, validationLeftovers as leftoversIn } from '../helpers/validation';
import { consoleLogPath, TestVm, virsh, waitForAgent } from '../helpers/vm';

const exec = promisify(execFile);
const VALIDATION_DIR = ownValidationDir();
const validationLeftovers = () => leftoversIn(VALIDATION_DIR);
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Runs a program in a test VM's guest through its agent; its stdout. */
async function guestRun(vm: TestVm, cmd: string, args: string[]): Promise<string> {
  const agent = async (execute: string, a: object) => JSON.parse(await virsh(['qemu-agent-command', vm.name, JSON.stringify({ execute, arguments: a }), '--timeout', '30'])).return;
  const { pid } = await agent('guest-exec', { path: cmd, arg: args, 'capture-output': true });
  const st = await eventually(async () => {
    const r = await agent('guest-exec-status', { pid });
    return r.exited ? r : undefined;
  }, 60_000, 300);
  if (st.exitcode !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${st.exitcode}: ${Buffer.from(st['err-data'] ?? '', 'base64')}`);
  return Buffer.from(st['out-data'] ?? '', 'base64').toString();
}

/** Issue 13, validation: a backup booted in a throwaway VM, on the real stack with the tiny guest. */
describe('validation of a backup in a throwaway VM', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  const ok = async (method: string, url: string, body?: unknown) => {
    const r = await s.api(method, url, { body });
    if (r.status >= 300) throw new Error(`${method} ${url} -> ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const files = (b: any) => b.disks.map((d: any) => path.join(kb.repoPath, d.file)).concat(path.join(kb.repoPath, b.vmId, b.id, 'domain.xml'));
  const hashes = async (b: any) => Object.fromEntries(await Promise.all(files(b).map(async (f: string) => [f, await sha256(f)])));
  /** The validation the backup started, to its end; then the backup's record. */
  const validated = async (b: any) => {
    await settle(s, `validate-${b.vmName}-${b.id}`).catch(() => undefined);
    return ok('GET', `/v1/backups/${b.id}`);
  };

  beforeAll(async () => {
    ({ s, kb } = await startKbossStack({}, { validate: true, validationSteps: ['wait_for_boot', 'execute_command', 'screenshot'] }));
    await ok('PUT', '/v1/settings/backup.validation.screenshot.default.wait', { scope: 'zone', scopeId: kb.zoneId, value: 2 });
  });
  afterAll(async () => {
    await stopKbossStack(s, kb, vms);
    rmSync(VALIDATION_DIR, { recursive: true, force: true });
  });

  test('the tiny guest boots from its backup, prints the expected token, and is pictured; nothing of it is left and nothing was written', async () => {
    const vm = await enrolledVm(s, vms, { os: true }, kb.offeringId);
    await waitForAgent(vm, 180_000);
    // A token only this backup holds: the validation VM can only print it if it booted from the backup's disk.
    const token = `token-${vm.name}`;
    await guestRun(vm, '/bin/sh', ['-c', `echo ${token} > /data/validation-token && sync`]);
    await ok('PUT', `/v1/vms/${vm.uuid}/validation-settings`, { command: '/bin/cat', arguments: ['/data/validation-token'], expectedResult: b64(`${token}\n`) });
    const xmlBefore = await virsh(['dumpxml', '--inactive', vm.name]);

    const b = await backupVia(s, { vmId: vm.uuid, quiesce: true });
    expect(b.status).toBe('BackedUp');
    const before = await hashes(b);
    const consoleBefore = await sha256(consoleLogPath(vm));
    const v = await validated(b);
    expect(v).toMatchObject({ validationStatus: 'Valid', validationStep: null, validationError: null, hasValidationScreenshot: true });
    expect(v.validationOutput).toContain(token);

    // The screenshot: a PNG that decodes (netpbm's decoder), of the size its header says, the same bytes as beside the backup.
    const res = await fetch(`${s.apiUrl}/v1/backups/${b.id}/validation-screenshot`, { headers: { authorization: `Bearer ${s.adminKey}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    const png = Buffer.from(await res.arrayBuffer());
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const [w, h] = [png.readUInt32BE(16), png.readUInt32BE(20)];
    expect(w).toBeGreaterThanOrEqual(320);
    expect(h).toBeGreaterThanOrEqual(200);
    const pnm = (await exec('sh', ['-c', 'pngtopnm "$1" | head -c 64', 'x', writeTmp(png)], { encoding: 'latin1' })).stdout;
    expect(pnm).toMatch(new RegExp(`^P[36]\\s+${w}\\s+${h}\\s`));
    expect(readFileSync(path.join(kb.repoPath, vm.uuid, b.id, 'validation-screenshot.png')).equals(png)).toBe(true);

    // Gone: the validation VM and its overlays. Unchanged: every backup file, and the production VM.
    expect(await validationLeftovers()).toEqual([]);
    expect(await hashes(b)).toEqual(before);
    expect((await virsh(['domstate', vm.name])).trim()).toBe('running');
    expect(await virsh(['dumpxml', '--inactive', vm.name])).toBe(xmlBefore);
    expect(await sha256(consoleLogPath(vm))).toBe(consoleBefore);
    expect(await guestRun(vm, '/bin/cat', ['/data/validation-token'])).toBe(`${token}\n`);

    const jobs = (await ok('GET', `/v1/backup-service-jobs?backupId=${b.id}&type=BackupValidation`)).items;
    expect(jobs.map((j: any) => [j.type, j.attempts, j.executing, j.result])).toEqual([['BackupValidation', 1, false, 'Succeeded']]);

    // Expected output that does not match: NotValid at execute_command, with what it printed; an alert; the next backup is FULL.
    await ok('PUT', `/v1/vms/${vm.uuid}/validation-settings`, { expectedResult: b64('something else\n') });
    const b2 = await backupVia(s, { vmId: vm.uuid });
    expect(b2).toMatchObject({ status: 'BackedUp', type: 'INCREMENTAL', parentId: b.id });
    const v2 = await validated(b2);
    expect(v2).toMatchObject({ validationStatus: 'NotValid', validationStep: 'execute_command' });
    expect(v2.validationOutput).toContain(token);
    expect(v2.validationError).toContain('something else');
    const alerts = (await ok('GET', `/v1/alerts?type=BackupNotValid&zoneId=${kb.zoneId}`)).items;
    expect(alerts.filter((a: any) => a.backupId === b2.id)).toHaveLength(1);
    expect(await validationLeftovers()).toEqual([]);
    const b3 = await backupVia(s, { vmId: vm.uuid });
    expect(b3.type).toBe('FULL');
    expect(b3.fullReason).toContain(`backup ${b2.id} is NotValid (execute_command)`);
    await validated(b3);
    expect(await validationLeftovers()).toEqual([]);
  });

  test('a guest that cannot boot: NotValid at wait_for_boot; a cancelled validation leaves nothing', async () => {
    const vm = await enrolledVm(s, vms, { os: false, diskSizeMiB: 16, agent: false, start: false }, kb.offeringId);
    await ok('PUT', `/v1/vms/${vm.uuid}/validation-settings`, { bootTimeout: 20 });
    const b = await backupVia(s, { vmId: vm.uuid });
    const v = await validated(b);
    expect(v).toMatchObject({ validationStatus: 'NotValid', validationStep: 'wait_for_boot' });
    expect(v.validationError).toContain('boot timeout of 20 s');
    expect(await validationLeftovers()).toEqual([]);

    // Cancelled while it waits for the boot: the VM and its overlays go, the backup says why it is not validated.
    await ok('PUT', `/v1/vms/${vm.uuid}/validation-settings`, { bootTimeout: 3600 });
    const c = await backupVia(s, { vmId: vm.uuid });
    const name = validationVmName(c.id);
    await eventually(async () => (await virsh(['domstate', name]).catch(() => '')).trim() === 'running', 300_000, 500);
    expect((await validationLeftovers()).sort()).toEqual([name, `dir:${name}`].sort());
    // Deleting a backup that is Validating is refused, naming why.
    const del = await s.api('DELETE', `/v1/backups/${c.id}`);
    expect(del.status).toBe(409);
    expect(del.body.error.message).toContain('Validating');
    await s.client.workflow.getHandle(`validate-${c.vmName}-${c.id}`).cancel();
    await expect(settle(s, `validate-${c.vmName}-${c.id}`)).rejects.toThrow();
    expect(await validationLeftovers()).toEqual([]);
    expect(await ok('GET', `/v1/backups/${c.id}`)).toMatchObject({ validationStatus: 'UnableToValidate', validationError: 'the validation was cancelled' });
  });

  test('a validation VM that cannot be made: UnableToValidate with the reason, an alert, nothing left', async () => {
    const vm = await enrolledVm(s, vms, { os: false, diskSizeMiB: 16, agent: false, start: false }, kb.offeringId);
    await ok('PUT', '/v1/settings/backup.validation.task.enabled', { scope: 'zone', scopeId: kb.zoneId, value: false });
    const b = await backupVia(s, { vmId: vm.uuid });
    await ok('PUT', '/v1/settings/backup.validation.task.enabled', { scope: 'zone', scopeId: kb.zoneId, value: true });
    expect(b.validationStatus).toBeNull();
    // A saved domain XML libvirt refuses (an emulator that does not exist).
    const xmlFile = path.join(kb.repoPath, vm.uuid, b.id, 'domain.xml');
    const xml = readFileSync(xmlFile, 'utf8').replace(/<emulator>[^<]*<\/emulator>/, '');
    writeFileSync(xmlFile, xml.replace('<devices>', '<devices><emulator>/nonexistent/qemu</emulator>'));
    const id = `validate-${b.vmName}-${b.id}`;
    await s.client.workflow.start('validateBackupWorkflow', { taskQueue: 'backflow-control', workflowId: id, args: [{ backupId: b.id }] });
    const v = await validated(b);
    expect(v.validationStatus).toBe('UnableToValidate');
    expect(v.validationError).toContain('/nonexistent/qemu');
    const alerts = (await ok('GET', `/v1/alerts?type=BackupUnableToValidate`)).items;
    expect(alerts.filter((a: any) => a.backupId === b.id)).toHaveLength(1);
    expect(await validationLeftovers()).toEqual([]);
  });

  test('per-host limit 1, two backups due: never two validation VMs at once', async () => {
    await ok('PUT', '/v1/settings/backup.validation.task.enabled', { scope: 'zone', scopeId: kb.zoneId, value: false });
    const due: any[] = [];
    for (let i = 0; i < 2; i++) {
      const vm = await enrolledVm(s, vms, { os: false, diskSizeMiB: 16, agent: false, start: false }, kb.offeringId);
      await ok('PUT', `/v1/vms/${vm.uuid}/validation-settings`, { bootTimeout: 15 });
      due.push(await backupVia(s, { vmId: vm.uuid }));
    }
    await ok('PUT', '/v1/settings/backup.validation.task.enabled', { scope: 'zone', scopeId: kb.zoneId, value: true });
    await ok('PUT', '/v1/settings/backup.validation.max.concurrent.operations.per.host', { scope: 'zone', scopeId: kb.zoneId, value: 1 });
    for (const b of due) {
      await s.client.workflow.start('validateBackupWorkflow', { taskQueue: 'backflow-control', workflowId: `validate-${b.vmName}-${b.id}`, args: [{ backupId: b.id }] });
    }
    let most = 0;
    let seen = 0;
    const ended = async () => (await Promise.all(due.map((b) => ok('GET', `/v1/backups/${b.id}`)))).every((b) => b.validationStatus === 'NotValid');
    await eventually(async () => {
      const running = (await validationLeftovers()).filter((n) => !n.startsWith('dir:'));
      most = Math.max(most, running.length);
      seen += running.length;
      return ended();
    }, 600_000, 200);
    expect(most).toBe(1);
    expect(seen).toBeGreaterThan(0);
    expect(await validationLeftovers()).toEqual([]);
  });

  test('the sync task\'s round removes a validation VM and folder that no running validation owns', async () => {
    const backupId = randomUUID();
    const name = validationVmName(backupId);
    const dir = path.join(VALIDATION_DIR, name);
    mkdirSync(dir, { recursive: true });
    const disk = path.join(dir, 'vda.qcow2');
    await exec('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
    const xml = `<domain type='qemu'><name>${name}</name><memory unit='MiB'>64</memory><os><type arch='x86_64' machine='pc'>hvm</type></os>
      <devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk></devices></domain>`;
    const xmlFile = writeTmp(Buffer.from(xml));
    await virsh(['create', xmlFile]);
    // Made more than two minutes ago (a younger one might be a validation being made right now).
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(dir, old, old);
    expect((await validationLeftovers()).sort()).toEqual([name, `dir:${name}`].sort());
    const { round } = await ok('POST', `/v1/zones/${kb.zoneId}/backup-sync`);
    expect(round.errors).toEqual([]);
    expect(await validationLeftovers()).toEqual([]);
  });

  test('validation settings: users set the command, admins the timeouts; bad input names the field and changes nothing', async () => {
    const vm = vms[0];
    const before = await ok('GET', `/v1/vms/${vm.uuid}/validation-settings`);
    expect(before.effective.screenshotWait).toBe(2);
    const d = await ok('POST', '/v1/domains', { name: 'val-dom' });
    const acct = await ok('POST', '/v1/accounts', { name: 'val-user', role: 'user', domainId: d.id });
    const key = (await ok('POST', `/v1/accounts/${acct.id}/keys`, {})).key;
    const user = (method: string, body?: unknown) => s.api(method, `/v1/vms/${vm.uuid}/validation-settings`, { key, body });
    // Not the user's VM yet: 404.
    expect((await user('GET')).status).toBe(404);
    await ok('PUT', `/v1/vms/${vm.uuid}/account`, { accountId: acct.id });
    expect((await user('PUT', { command: '/bin/true', arguments: [] })).status).toBe(200);
    for (const field of ['commandTimeout', 'screenshotWait', 'bootTimeout']) {
      const r = await user('PUT', { command: '/bin/false', [field]: 30 });
      expect([field, r.status, r.body.error.field]).toEqual([field, 403, `body.${field}`]);
    }
    const bad: [unknown, string][] = [
      [{ expectedResult: 'not base64!' }, 'body.expectedResult'], [{ arguments: 'x' }, 'body.arguments'], [{ bootTimeout: 0 }, 'body.bootTimeout'],
      [{ colour: 'red' }, 'body'], [{}, 'body'],
    ];
    for (const [body, field] of bad) {
      const r = await s.api('PUT', `/v1/vms/${vm.uuid}/validation-settings`, { body });
      expect([JSON.stringify(body), r.status, r.body.error.field]).toEqual([JSON.stringify(body), 400, field]);
    }
    const after = await ok('GET', `/v1/vms/${vm.uuid}/validation-settings`);
    expect(after).toMatchObject({ command: '/bin/true', arguments: [], commandTimeout: null, bootTimeout: null });
    // Cleared: the default applies again.
    expect((await ok('PUT', `/v1/vms/${vm.uuid}/validation-settings`, { command: null })).effective.command).toBeNull();
    expect((await s.api('GET', `/v1/backups/${(await ok('GET', `/v1/backups?vmId=${vms[1].uuid}`)).items[0].id}/validation-screenshot`)).status).toBe(404);
  });
});

function writeTmp(buf: Buffer): string {
  const f = path.join(tmpdir(), `bf-validation-${process.pid}-${Date.now()}.png`);
  writeFileSync(f, buf);
  return f;
}
