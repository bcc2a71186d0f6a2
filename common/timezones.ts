import { existsSync, statSync } from 'node:fs';

/**
 * Whether Temporal will resolve this IANA time zone name. ICU (Intl) matches names without regard
 * to case, the server's tz database does not, so a name must be known to ICU and, letter for letter,
 * be one of ICU's canonical names or a zone file of the system's tz database.
 */
const ZONEINFO = process.env.ZONEINFO ?? '/usr/share/zoneinfo';
const CANONICAL = new Set<string>([...Intl.supportedValuesOf('timeZone'), 'UTC']);
const SHAPE = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9][A-Za-z0-9_+-]*){0,2}$/;

export function isKnownTimeZone(tz: string): boolean {
  if (!SHAPE.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    return false;
  }
  if (CANONICAL.has(tz)) return true;
  const file = `${ZONEINFO}/${tz}`;
  return existsSync(file) && statSync(file).isFile();
}
