import { createHash, randomUUID } from 'node:crypto';

/** A UUID determined by its inputs (name-based, SHA-1), so a retried request maps to the same record. */
export function stableUuid(...parts: string[]): string {
  const h = createHash('sha1').update(parts.join('\u0000')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export const newId = () => randomUUID();
