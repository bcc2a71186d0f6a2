import {
  validationBackupId, validationOverlayPath, validationScreenshotFile, validationScreenshotPath, validationVmName, validationWorkDir,
} from '../../common/layout';

describe('the validation VM\'s names and paths', () => {
  const b = '45ae7f3a-a557-4f73-a0ba-684b7896706c';
  const vm = '14446790-af63-48fc-b446-7eb2e29a4d5e';

  test('the VM and its folder carry the bfval- prefix and the backup id, which reads back from the name', () => {
    expect(validationVmName(b)).toBe(`bfval-${b}`);
    expect(validationBackupId(`bfval-${b}`)).toBe(b);
    expect(validationBackupId('bftest-1234')).toBeNull();
    expect(validationBackupId('bfval-')).toBeNull();
    expect(validationWorkDir('/var/lib/backflow/validation/', b)).toBe(`/var/lib/backflow/validation/bfval-${b}`);
    expect(validationOverlayPath('/v', b, 'vda')).toBe(`/v/bfval-${b}/vda.qcow2`);
  });

  test('the screenshot lies beside the backup\'s files; the catalog keeps it relative to the repository', () => {
    expect(validationScreenshotPath('/repo', vm, b)).toBe(`/repo/${vm}/${b}/validation-screenshot.png`);
    expect(validationScreenshotFile(vm, b)).toBe(`${vm}/${b}/validation-screenshot.png`);
  });

  test('ids and targets that would leave the folder are refused', () => {
    expect(() => validationVmName('../etc')).toThrow();
    expect(() => validationWorkDir('relative/dir', b)).toThrow();
    expect(() => validationOverlayPath('/v', b, '../vda')).toThrow();
  });
});
