/**
 * SMPP 3.4 time fields (§7.1.1): `schedule_delivery_time` and
 * `validity_period`, either absolute `YYMMDDhhmmsstnnp` (tenths of a second,
 * offset from UTC in quarter hours, `+` or `-`) or relative
 * `YYMMDDhhmmss000R` (that much time from now). Empty means "not given".
 */
export function parseSmppTime(text: string, now: number): { ok: true; at: number | undefined } | { ok: false } {
  if (text === '') return { ok: true, at: undefined };
  const m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d)(\d{2})([+\-R])$/.exec(text);
  if (!m) return { ok: false };
  const [yy, mo, dd, hh, mi, ss, tenths, nn] = m.slice(1, 9).map(Number) as [number, number, number, number, number, number, number, number];
  const p = m[9]!;
  if (p === 'R') {
    // Relative: years and months taken as 365 and 30 days, as SMSCs do.
    const seconds = ((yy * 365 + mo * 30 + dd) * 24 + hh) * 3600 + mi * 60 + ss;
    return { ok: true, at: now + seconds * 1000 };
  }
  if (mo < 1 || mo > 12 || dd < 1 || dd > 31 || hh > 23 || mi > 59 || ss > 59 || nn > 48) return { ok: false };
  const utc = Date.UTC(2000 + yy, mo - 1, dd, hh, mi, ss, tenths * 100);
  const offsetMs = nn * 15 * 60_000;
  return { ok: true, at: p === '+' ? utc - offsetMs : utc + offsetMs };
}

/** An absolute SMPP time in UTC: `YYMMDDhhmmss000+`. */
export function formatSmppTime(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCFullYear() % 100)}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}000+`;
}
