import { rmSync } from 'node:fs';
import { validationVmName } from '../../common/layout';
import { backupVia, KbossZone, settle } from '../helpers/backups';
import { enrolledVm, startKbossStack, stopKbossStack } from '../helpers/kbossSuite';
import { apiOk, eventually, Stack } from '../helpers/stack';
import { ownValidationDir, validationLeftovers } from '../helpers/validation';
import { TestVm, virsh } from '../helpers/vm';

const VALIDATION_DIR = ownValidationDir();

/** Issue 13: the host worker SIGKILLed while its validation VM waits for the guest to boot. */
describe('validation with the host worker killed', () => {
  let s: Stack;
  let kb: KbossZone;
  const vms: TestVm[] = [];
  const ok = (method: string, url: string, body?: unknown) => apiOk(s, method, url, body);

  beforeAll(async () => {
    ({ s, kb } = await startKbossStack(
      { hostWorker: 'process', hostWorkerEnv: { BACKFLOW_VALIDATION_DIR: VALIDATION_DIR } },
      { validate: true, validationSteps: ['wait_for_boot', 'screenshot'] },
    ));
  });
  afterAll(async () => {
    await stopKbossStack(s, kb, vms);
    rmSync(VALIDATION_DIR, { recursive: true, force: true });
  });

  test('SIGKILL mid wait_for_boot: the VM outlives the worker, the job goes on on the restarted worker, and once it has ended nothing is left', async () => {
    const vm = await enrolledVm(s, vms, { os: false, diskSizeMiB: 16, agent: false, start: false }, kb.offeringId);
    await ok('PUT', `/v1/vms/${vm.uuid}/validation-settings`, { bootTimeout: 45 });
    const b = await backupVia(s, { vmId: vm.uuid });
    const name = validationVmName(b.id);
    await eventually(async () => (await virsh(['domstate', name]).catch(() => '')).trim() === 'running', 300_000, 500);
    await s.killHostWorker();
    // libvirtd runs the VM: the crash leaves it and its overlays behind for now.
    expect((await validationLeftovers(VALIDATION_DIR)).sort()).toEqual([name, `dir:${name}`].sort());
    await s.restartHostWorker();
    await settle(s, `validate-${vm.name}-${b.id}`);
    const v = await ok('GET', `/v1/backups/${b.id}`);
    expect(v).toMatchObject({ validationStatus: 'NotValid', validationStep: 'wait_for_boot' });
    expect(await validationLeftovers(VALIDATION_DIR)).toEqual([]);
    const job = (await ok('GET', `/v1/backup-service-jobs?backupId=${b.id}&type=BackupValidation`)).items[0];
    expect(job).toMatchObject({ executing: false, attempts: 1 });
  });
});
