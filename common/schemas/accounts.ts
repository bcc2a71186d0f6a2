import { z } from 'zod';

export const NameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, . _ - (1 to 64, starting with a letter or digit)');

export const CreateDomainSchema = z.object({ name: NameSchema, parentId: z.guid().optional() }).strict();
export const CreateAccountSchema = z
  .object({ name: NameSchema, role: z.enum(['admin', 'user']).default('user'), domainId: z.guid().optional() })
  .strict();
export const CreateKeySchema = z.object({ label: z.string().max(200).optional() }).strict();
/** Gives a VM to an account, or takes it back (null) to unowned. */
export const AssignVmAccountSchema = z.object({ accountId: z.guid().nullable() }).strict();
/** Disables an account (its keys get 401 at once) or enables it again. */
export const UpdateAccountSchema = z.object({ disabled: z.boolean() }).strict();
export const KeyParams = z.object({ id: z.guid(), keyId: z.guid() });
