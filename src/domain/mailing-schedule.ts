import { CronExpressionParser } from 'cron-parser';
import { DateTime } from 'luxon';
import { quietUntil, type QuietHours } from './quiet-hours.ts';

/**
 * When a mailing runs and when each recipient's message may go: once at a
 * date-time or on a cron schedule in a time zone, optionally at each
 * recipient's local wall-clock time, never inside quiet hours. Pure.
 */

/** The zone furthest east: a local-time run starts when its wall-clock time comes there first. */
const EARLIEST_ZONE = 'Etc/GMT-14';

/** Why a cron expression cannot be used, or null. */
export function cronProblem(expression: string, timeZone: string): string | null {
  try {
    CronExpressionParser.parse(expression, { tz: timeZone, strict: false }).next();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The first cron occurrence strictly after `after`, in `timeZone`. */
export function nextCronOccurrence(expression: string, timeZone: string, after: number): number {
  return CronExpressionParser.parse(expression, { tz: timeZone, currentDate: after }).next().getTime();
}

/** The instant at which the wall-clock time of `ms` in `fromZone` happens in `toZone`. */
export function sameWallClock(ms: number, fromZone: string, toZone: string): number {
  return DateTime.fromMillis(ms, { zone: fromZone }).setZone(toZone, { keepLocalTime: true }).toMillis();
}

/**
 * When the runner starts a run whose nominal time is `nominal`: then, or for
 * a local-time mailing when that wall-clock time (in the schedule's zone)
 * first comes anywhere (UTC+14).
 */
export function runStartFor(nominal: number, timeZone: string, localTime: boolean): number {
  return localTime ? sameWallClock(nominal, timeZone, EARLIEST_ZONE) : nominal;
}

/** The nominal time of a run the runner started at `start` (the inverse of runStartFor). */
export function nominalOfRun(start: number, timeZone: string, localTime: boolean): number {
  return localTime ? sameWallClock(start, EARLIEST_ZONE, timeZone) : start;
}

export interface RecipientTiming {
  now: number;
  /** the run's nominal time */
  nominal: number;
  /** the schedule's zone */
  timeZone: string;
  localTime: boolean;
  /** the recipient's zone (their own, their number's region's, or the account's) */
  recipientZone: string;
  quiet: QuietHours | null;
}

/** When a recipient's message may go: at once, or at their local time, and after quiet hours in their zone. */
export function recipientDueAt(t: RecipientTiming): number {
  let due = t.now;
  if (t.localTime) due = Math.max(due, sameWallClock(t.nominal, t.timeZone, t.recipientZone));
  if (t.quiet) due = quietUntil(due, t.recipientZone, t.quiet) ?? due;
  return due;
}
