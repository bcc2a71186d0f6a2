import { z } from 'zod';

/** Resources whose use is counted: each has a per-zone and a per-host limit in the settings. */
export const SlotResource = z.enum(['compression', 'validation']);
export type SlotResource = z.infer<typeof SlotResource>;

export const SlotScope = z.enum(['zone', 'host']);
export type SlotScope = z.infer<typeof SlotScope>;

/** A job's request: a slot in its zone's pool, and in its host's pool when it runs on one host. */
export const SlotRequest = z.object({
  resource: SlotResource,
  zoneId: z.guid(),
  hostId: z.guid().optional(),
  /** What the job is, shown with its row (e.g. 'compress backup'). */
  operation: z.string().min(1).max(200),
});
export type SlotRequest = z.infer<typeof SlotRequest>;

/** Who asks: the workflow run, so a run that is gone can be told apart from a new run of the same id. */
export const SlotHolder = z.object({ holder: z.string().min(1), runId: z.string().min(1) });
export type SlotHolder = z.infer<typeof SlotHolder>;
