/**
 * Quiet hours: a daily window of local time ("21:00"–"09:00", may cross
 * midnight) in which advertising is not sent. Pure: time zones through Intl.
 */
export interface QuietHours {
  /** "HH:MM", local time the window opens */
  start: string;
  /** "HH:MM", local time it closes; before `start` when it crosses midnight */
  end: string;
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

export function isTimeOfDay(value: string): boolean {
  return HHMM.test(value);
}

function minutes(hhmm: string): number {
  const m = HHMM.exec(hhmm);
  if (!m) throw new Error(`not a time of day: ${hhmm}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** Minutes since local midnight (with seconds as a fraction) at `ms` in `timeZone`. */
function localMinutes(ms: number, timeZone: string): number {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    formats.set(timeZone, format);
  }
  const parts = format.formatToParts(ms);
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return get('hour') * 60 + get('minute') + get('second') / 60 + (((ms % 1000) + 1000) % 1000) / 60_000;
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/**
 * When the quiet window that `ms` falls in ends, or null when `ms` is outside
 * it (an empty window, start = end, is never quiet). The end is found from
 * the local time of day, then checked once more at the result, so a
 * daylight-saving change inside the window moves it by that hour.
 */
export function quietUntil(ms: number, timeZone: string, quiet: QuietHours): number | null {
  const start = minutes(quiet.start);
  const end = minutes(quiet.end);
  if (start === end) return null;
  const now = localMinutes(ms, timeZone);
  const inside = start < end ? now >= start && now < end : now >= start || now < end;
  if (!inside) return null;
  const wait = (end - now + 1440) % 1440;
  let until = Math.round(ms + wait * 60_000);
  const drift = (localMinutes(until, timeZone) - end + 1440 + 720) % 1440 - 720;
  if (Math.abs(drift) >= 1) until = Math.round(until - drift * 60_000);
  return until;
}
