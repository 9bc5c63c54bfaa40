import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cronProblem, nextCronOccurrence, nominalOfRun, recipientDueAt, runStartFor, sameWallClock } from './mailing-schedule.ts';

const at = (iso: string) => Date.parse(iso);

test('cron occurrences are found in the schedule\'s zone; a bad expression says why', () => {
  // 09:00 Moscow (UTC+3) every day
  assert.equal(nextCronOccurrence('0 9 * * *', 'Europe/Moscow', at('2026-12-02T05:00:00Z')), at('2026-12-02T06:00:00Z'));
  assert.equal(nextCronOccurrence('0 9 * * *', 'Europe/Moscow', at('2026-12-02T06:00:00Z')), at('2026-12-03T06:00:00Z'));
  assert.equal(nextCronOccurrence('*/15 * * * *', 'UTC', at('2026-12-02T05:01:00Z')), at('2026-12-02T05:15:00Z'));
  assert.equal(cronProblem('0 9 * * *', 'Europe/Moscow'), null);
  assert.notEqual(cronProblem('61 9 * * *', 'UTC'), null);
});

test('a local-time run starts when its wall-clock time first comes (UTC+14), and each recipient is due at theirs', () => {
  const nominal = at('2026-12-31T09:00:00+03:00');
  const start = runStartFor(nominal, 'Europe/Moscow', true);
  assert.equal(start, at('2026-12-31T09:00:00+14:00'));
  assert.equal(nominalOfRun(start, 'Europe/Moscow', true), nominal);
  assert.equal(runStartFor(nominal, 'Europe/Moscow', false), nominal);
  const base = { now: start, nominal, timeZone: 'Europe/Moscow', localTime: true, quiet: null };
  assert.equal(recipientDueAt({ ...base, recipientZone: 'Asia/Vladivostok' }), at('2026-12-31T09:00:00+10:00'));
  assert.equal(recipientDueAt({ ...base, recipientZone: 'Europe/Kaliningrad' }), at('2026-12-31T09:00:00+02:00'));
  // a run that started late sends at once to those whose time has passed
  assert.equal(recipientDueAt({ ...base, now: at('2026-12-31T05:00:00Z'), recipientZone: 'Asia/Vladivostok' }), at('2026-12-31T05:00:00Z'));
  assert.equal(sameWallClock(nominal, 'Europe/Moscow', 'UTC'), at('2026-12-31T09:00:00Z'));
});

test('quiet hours in the recipient\'s zone push the due time to their end', () => {
  const quiet = { start: '21:00', end: '09:00' };
  // 23:00 in Moscow is 06:00 next day in Vladivostok: both quiet
  const now = at('2026-12-02T20:00:00Z');
  assert.equal(recipientDueAt({ now, nominal: now, timeZone: 'UTC', localTime: false, recipientZone: 'Europe/Moscow', quiet }), at('2026-12-03T09:00:00+03:00'));
  assert.equal(recipientDueAt({ now, nominal: now, timeZone: 'UTC', localTime: false, recipientZone: 'Asia/Vladivostok', quiet }), at('2026-12-03T09:00:00+10:00'));
  // outside quiet hours: at once
  const day = at('2026-12-02T09:00:00Z');
  assert.equal(recipientDueAt({ now: day, nominal: day, timeZone: 'UTC', localTime: false, recipientZone: 'Europe/Moscow', quiet }), day);
  // local time inside quiet hours: local 22:00 becomes 09:00 the next morning
  const nominal = at('2026-12-02T22:00:00+03:00');
  assert.equal(recipientDueAt({ now: runStartFor(nominal, 'Europe/Moscow', true), nominal, timeZone: 'Europe/Moscow', localTime: true, recipientZone: 'Asia/Yekaterinburg', quiet }), at('2026-12-03T09:00:00+05:00'));
});
