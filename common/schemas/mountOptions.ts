import { isSafeAbsPath } from './primitives';

/** Mount options: an allow-list, so nothing but known, harmless options ever reaches mount(8). */

const N = /^\d{1,9}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const oneOf = (...v: string[]) => (s: string) => v.includes(s);
const re = (r: RegExp) => (s: string) => r.test(s);

/** Options that take no value. The `no*` variants that restrict the mount are fine; exec, suid, dev are not. */
const FLAGS = new Set([
  'ro', 'rw', 'hard', 'soft', 'intr', 'nointr', 'noatime', 'nodiratime', 'relatime', 'strictatime', 'nolock', 'lock',
  'noac', 'ac', 'sync', 'async', 'nosuid', 'nodev', 'noexec', 'nocto', 'nosharecache', 'noresvport', 'resvport',
  'nofail', '_netdev', 'seal', 'nounix', 'noserverino', 'serverino', 'nobrl', 'noperm', 'mapposix', 'nomapposix',
]);

/** Options with a value, and what the value may be. */
const VALUED: Record<string, (v: string) => boolean> = {
  vers: oneOf('2', '3', '4', '4.0', '4.1', '4.2', '1.0', '2.0', '2.1', '3.0', '3.02', '3.1.1', '3.11', 'default'),
  nfsvers: oneOf('2', '3', '4', '4.0', '4.1', '4.2'),
  minorversion: oneOf('0', '1', '2'),
  proto: oneOf('tcp', 'tcp6', 'udp', 'udp6', 'rdma', 'rdma6'),
  mountproto: oneOf('tcp', 'tcp6', 'udp', 'udp6'),
  port: re(N),
  mountport: re(N),
  timeo: re(N),
  retrans: re(N),
  retry: re(N),
  rsize: re(N),
  wsize: re(N),
  actimeo: re(N),
  acregmin: re(N),
  acregmax: re(N),
  acdirmin: re(N),
  acdirmax: re(N),
  nconnect: re(/^([1-9]|1[0-6])$/),
  lookupcache: oneOf('all', 'none', 'pos', 'positive'),
  local_lock: oneOf('none', 'all', 'flock', 'posix'),
  sec: oneOf('sys', 'none', 'krb5', 'krb5i', 'krb5p', 'ntlm', 'ntlmi', 'ntlmv2', 'ntlmv2i', 'ntlmssp', 'ntlmsspi'),
  cache: oneOf('strict', 'none', 'loose', 'ro', 'singleclient'),
  username: re(NAME),
  user: re(NAME),
  domain: re(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  credentials: isSafeAbsPath,
  uid: re(N),
  gid: re(N),
  file_mode: re(/^0?[0-7]{3,4}$/),
  dir_mode: re(/^0?[0-7]{3,4}$/),
  iocharset: oneOf('utf8', 'iso8859-1'),
  // cephfs
  name: re(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  secretfile: isSafeAbsPath,
  fs: re(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  mds_namespace: re(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  recover_session: oneOf('no', 'clean'),
};

/** Options refused by name, with why: they would weaken the host or put a secret in the catalog. */
const REFUSED: Record<string, string> = {
  exec: 'would allow executing files from the repository',
  suid: 'would honour set-user-id bits from the repository',
  dev: 'would allow device files from the repository',
  defaults: 'implies exec, suid and dev',
  users: 'implies exec, suid and dev',
  owner: 'implies exec, suid and dev',
  group: 'implies exec, suid and dev',
  password: 'would keep a secret in the catalog: use credentials=<file> instead',
  pass: 'would keep a secret in the catalog: use credentials=<file> instead',
  secret: 'would keep a secret in the catalog: use secretfile=<file> instead',
  remount: 'is not a repository option',
  bind: 'is not a repository option',
  rbind: 'is not a repository option',
  loop: 'is not a repository option',
  offset: 'is not a repository option',
  'x-mount.mkdir': 'is not a repository option',
  helper: 'would run another mount helper',
};

/** Checks a mount options string (comma-separated) against the allow-list: null when it is fine, else why not. */
export function validateMountOptions(s: string): string | null {
  if (typeof s !== 'string') return 'must be a string';
  if (s === '') return null;
  if (s.length > 512) return 'too long (512 characters at most)';
  const bad = /[^A-Za-z0-9=,._/@:-]/.exec(s);
  if (bad) return `character ${JSON.stringify(bad[0])} is not allowed in mount options`;
  const seen = new Set<string>();
  for (const opt of s.split(',')) {
    if (opt === '') return 'empty option (stray comma)';
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? null : opt.slice(eq + 1);
    if (REFUSED[key]) return `mount option ${key} is not allowed: it ${REFUSED[key]}`;
    if (seen.has(key)) return `mount option ${key} is given twice`;
    seen.add(key);
    if (value === null) {
      if (FLAGS.has(key)) continue;
      if (VALUED[key]) return `mount option ${key} needs a value (${key}=...)`;
      return `mount option ${key} is not in the allow-list`;
    }
    const check = VALUED[key];
    if (!check) return FLAGS.has(key) ? `mount option ${key} takes no value` : `mount option ${key} is not in the allow-list`;
    if (!check(value)) return `mount option ${key}=${value}: value not allowed`;
  }
  return null;
}
