import { z } from 'zod';

/** Any 8-4-4-4-12 hex id: the ROOT domain's fixed id (…0001) is not an RFC 9562 UUID, so z.uuid() would refuse it. */
export const Uuid = z.guid();

/** A query flag: the strings true or false (default false), as a boolean. */
export const QueryFlag = z.enum(['true', 'false']).default('false').transform((v) => v === 'true');

const ABS_PATH = /^\/[A-Za-z0-9._/-]{0,1023}$/;
/** An absolute path of plain characters with no `..` segment (mount option files, local repositories). */
export const isSafeAbsPath = (p: string) => ABS_PATH.test(p) && !p.split('/').includes('..');
