import { validateMountOptions } from '../../common/schemas/mountOptions';
import { validateRepositoryAddress } from '../../common/schemas/repositories';
import { effectiveMountOptions } from '../../activities/host/mount';

/** Issue 3: the mount-option allow-list and the repository addresses, per type (pure checks). */
describe('mount options and addresses', () => {
  test('the allow-list accepts the usual options and refuses everything else with a reason', () => {
    for (const ok of [
      '', 'ro', 'rw,hard,timeo=600,retrans=2,vers=4.1', 'nfsvers=3,proto=tcp,rsize=1048576,wsize=1048576,nolock,noatime,nodiratime',
      'sec=krb5p', 'username=backup,domain=CORP,credentials=/etc/backflow/cifs.cred,vers=3.1.1', 'name=backflow,secretfile=/etc/ceph/s,fs=cephfs',
      'nosuid,nodev,noexec', 'soft,sec=sys',
    ]) expect([ok, validateMountOptions(ok)]).toEqual([ok, null]);
    const bad: [string, RegExp][] = [
      ['rw,exec', /exec is not allowed/], ['suid', /suid is not allowed/], ['dev', /dev is not allowed/], ['defaults', /implies exec/],
      ['users', /implies exec/], ['rw;reboot', /character ";"/], ['$(reboot)', /character "\$"/], ['`id`', /character "`"/],
      ['a b', /character " "/], ['rw&', /character "&"/], ['rw|x', /character "\|"/], ['rw>x', /character ">"/], ["rw'", /character "'"/],
      ['rw\n', /character "\\n"/], ['password=x', /credentials/], ['vers=4,vers=3', /twice/], ['rw,', /stray comma/],
      ['timeo=abc', /value not allowed/], ['timeo', /needs a value/], ['ro=1', /takes no value/], ['x-systemd.automount', /allow-list/],
      ['credentials=relative', /value not allowed/], ['secretfile=/etc/../shadow', /value not allowed/], ['helper=sh', /another mount helper/],
    ];
    for (const [opts, why] of bad) expect([opts, validateMountOptions(opts)]).toEqual([opts, expect.stringMatching(why)]);
    expect(effectiveMountOptions('vers=4.1,noexec')).toBe('vers=4.1,noexec,nosuid,nodev');
    expect(effectiveMountOptions('')).toBe('nosuid,nodev,noexec');
  });

  test('addresses are checked per type', () => {
    expect(validateRepositoryAddress('nfs', 'nas.example.com:/export/backups')).toBeNull();
    expect(validateRepositoryAddress('nfs', '[fd00::5]:/export')).toBeNull();
    expect(validateRepositoryAddress('cifs', '//10.0.0.7/backup$/vms')).toBeNull();
    expect(validateRepositoryAddress('cephfs', '10.0.0.1,10.0.0.2:6789:/')).toBeNull();
    expect(validateRepositoryAddress('local', '/var/lib/backflow/repo')).toBeNull();
    for (const [t, a] of [
      ['nfs', 'host:relative'], ['nfs', '-o:/x'], ['nfs', 'host:/a/../b'], ['nfs', 'host;rm:/x'], ['cifs', '//host'], ['cifs', '\\\\host\\share'],
      ['cephfs', ':/path'], ['cephfs', 'mon1'], ['local', '/'], ['local', 'x'], ['local', '/a/..'], ['local', '/a b'],
    ] as const) expect([t, a, validateRepositoryAddress(t, a)]).toEqual([t, a, expect.any(String)]);
  });
});
