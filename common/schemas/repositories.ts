import { z } from 'zod';
import { validateMountOptions } from './mountOptions';
import { isSafeAbsPath, Uuid } from './primitives';

/** Backup repositories: where backups are kept, and how a host reaches them. */

export const RepositoryType = z.enum(['nfs', 'cifs', 'cephfs', 'local']);
export type RepositoryTypeName = z.infer<typeof RepositoryType>;

// Addresses, per type.

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST = `(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9A-Fa-f:.]{2,45}\\])`;
const HOST_RE = new RegExp(`^${HOST}$`);
const MON_RE = new RegExp(`^${HOST}(?::\\d{1,5})?$`);
const SHARE_RE = /^[A-Za-z0-9][A-Za-z0-9._$-]{0,79}$/;

/** Checks a repository address for its type: null when it is fine, else why not. */
export function validateRepositoryAddress(type: RepositoryTypeName, address: string): string | null {
  if (typeof address !== 'string' || address.length === 0) return 'is required';
  if (address.length > 1024) return 'too long (1024 characters at most)';
  switch (type) {
    case 'local':
      if (!isSafeAbsPath(address)) return 'a local repository is an absolute path of letters, digits and . _ - / with no .. segment';
      if (address.replace(/\/+$/, '') === '') return 'the root directory cannot be a repository';
      return null;
    case 'nfs': {
      const i = address.indexOf(':/'); // not the first ':', which may be inside [an IPv6 address]
      const host = i < 0 ? '' : address.slice(0, i);
      const path = i < 0 ? '' : address.slice(i + 1);
      if (!HOST_RE.test(host) || !isSafeAbsPath(path)) return 'an nfs address is host:/path (a host name or IP address, then an absolute path with no ..)';
      return null;
    }
    case 'cifs': {
      const m = /^\/\/([^/]+)\/([^/]+)((?:\/[^/]+)*)\/?$/.exec(address);
      if (!m || !HOST_RE.test(m[1]) || !SHARE_RE.test(m[2]) || (m[3] && !isSafeAbsPath(m[3]))) {
        return 'a cifs address is //host/share[/path]';
      }
      return null;
    }
    case 'cephfs': {
      const i = address.indexOf(':/');
      const mons = i < 0 ? [] : address.slice(0, i).split(',');
      const path = i < 0 ? '' : address.slice(i + 1);
      if (!mons.length || !mons.every((m) => MON_RE.test(m)) || !isSafeAbsPath(path)) {
        return 'a cephfs address is mon1[:port],mon2[:port]:/path';
      }
      return null;
    }
  }
}

const RepoName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$/, 'letters, digits, space . _ - (1 to 64, starting with a letter or digit)');
const MountOptions = z.string().superRefine((s, ctx) => {
  const why = validateMountOptions(s);
  if (why) ctx.addIssue({ code: 'custom', message: why });
});
const Capacity = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const CreateRepositorySchema = z
  .object({
    name: RepoName,
    zoneId: Uuid,
    type: RepositoryType,
    address: z.string().min(1).max(1024),
    mountOptions: MountOptions.default(''),
    capacityBytes: Capacity.nullish(),
  })
  .strict()
  .superRefine((b, ctx) => {
    const why = validateRepositoryAddress(b.type, b.address);
    if (why) ctx.addIssue({ code: 'custom', path: ['address'], message: why });
    if (b.type === 'local' && b.mountOptions) ctx.addIssue({ code: 'custom', path: ['mountOptions'], message: 'a local repository is not mounted: it takes no mount options' });
  });
export type CreateRepositoryRequest = z.infer<typeof CreateRepositorySchema>;

/** The type stays; an address is checked against it by the route, which knows the stored type. */
export const UpdateRepositorySchema = z
  .object({
    name: RepoName.optional(),
    address: z.string().min(1).max(1024).optional(),
    mountOptions: MountOptions.optional(),
    capacityBytes: Capacity.nullish(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: 'nothing to update' });
export type UpdateRepositoryRequest = z.infer<typeof UpdateRepositorySchema>;
