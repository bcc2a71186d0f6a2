/**
 * Only a qcow2 can carry the persistent dirty bitmap an incremental backup needs. (No imports: the
 * workflows use it, and their bundle stays small.)
 */
export const carriesBitmap = (format: string) => format === 'qcow2';
