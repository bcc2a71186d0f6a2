import { z } from 'zod';
import { QueryFlag, Uuid } from './primitives';

/** A VM's assignment to a backup offering. */

export const AssignOfferingSchema = z.object({ offeringId: Uuid }).strict();
export type AssignOfferingRequest = z.infer<typeof AssignOfferingSchema>;
export const RemoveOfferingQuery = z.object({ forced: QueryFlag }).strict();
