import { isKnownTimeZone } from '../../common/timezones';

describe('time zone names for schedules', () => {
  test.each(['Asia/Kolkata', 'Asia/Calcutta', 'America/New_York', 'Europe/Berlin', 'UTC', 'Etc/UTC', 'America/Argentina/Buenos_Aires'])('%s is known', (tz) =>
    expect(isKnownTimeZone(tz)).toBe(true));
  test.each(['europe/berlin', 'EUROPE/BERLIN', 'Mars/Olympus_Mons', '', '../etc/passwd', 'Europe/../../etc/passwd', 'Europe', 'right'])('%s is not', (tz) =>
    expect(isKnownTimeZone(tz)).toBe(false));
});
