import { z } from 'zod';
import { SETTING_SCOPES, type SettingScope } from '../settings';
import { Uuid } from './primitives';

/** Setting writes and reads: which scope, and whose. */

export const SettingScopeSchema = z.enum(SETTING_SCOPES);

/** A global value has no scopeId; a zone's or account's value needs one. */
function checkScopeId(b: { scope: SettingScope; scopeId?: string | null }, ctx: z.RefinementCtx) {
  if (b.scope === 'global' && b.scopeId) ctx.addIssue({ code: 'custom', path: ['scopeId'], message: 'a global setting has no scopeId' });
  if (b.scope !== 'global' && !b.scopeId) ctx.addIssue({ code: 'custom', path: ['scopeId'], message: `the ${b.scope} id is required for scope ${b.scope}` });
}

export const SetSettingSchema = z
  .object({
    scope: SettingScopeSchema.default('global'),
    /** The zone's or account's id; absent for global. */
    scopeId: Uuid.nullish(),
    value: z.unknown(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.value === undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: 'is required' });
    checkScopeId(b, ctx);
  });
export type SetSettingRequest = z.infer<typeof SetSettingSchema>;

/** Where to read a setting's effective value. */
export const SettingScopeQuery = z.object({ zoneId: Uuid.optional(), accountId: Uuid.optional() });
/** Strict, so that a mistyped key (zoneId for scopeId) cannot reset the global value instead. */
export const ResetSettingQuery = z
  .object({ scope: SettingScopeSchema.default('global'), scopeId: Uuid.optional() })
  .strict()
  .superRefine(checkScopeId);
