import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTimeOfDay, quietUntil } from './quiet-hours.ts';

const at = (iso: string) => Date.parse(iso);
const night = { start: '21:00', end: '09:00' };

test('inside a window that crosses midnight, the message waits until its end, in the given zone', () => {
  // 22:30 in Moscow (UTC+3) is 19:30 UTC; the window ends at 09:00 Moscow = 06:00 UTC next day.
  assert.equal(quietUntil(at('2026-12-01T19:30:00Z'), 'Europe/Moscow', night), at('2026-12-02T06:00:00Z'));
  // 03:00 in Moscow is 00:00 UTC: the same night's end.
  assert.equal(quietUntil(at('2026-12-02T00:00:00Z'), 'Europe/Moscow', night), at('2026-12-02T06:00:00Z'));
  // The same instant is 05:00 in Novosibirsk (UTC+7): quiet until 09:00 there = 02:00 UTC.
  assert.equal(quietUntil(at('2026-12-01T22:00:00Z'), 'Asia/Novosibirsk', night), at('2026-12-02T02:00:00Z'));
});

test('outside the window, and at its edges', () => {
  assert.equal(quietUntil(at('2026-12-01T12:00:00Z'), 'Europe/Moscow', night), null, '15:00 Moscow');
  assert.equal(quietUntil(at('2026-12-01T06:00:00Z'), 'Europe/Moscow', night), null, '09:00 sharp is allowed');
  assert.equal(quietUntil(at('2026-12-01T17:59:59Z'), 'Europe/Moscow', night), null, '20:59:59');
  assert.equal(quietUntil(at('2026-12-01T18:00:00Z'), 'Europe/Moscow', night), at('2026-12-02T06:00:00Z'), '21:00 sharp is quiet');
});

test('a window within one day, and an empty one', () => {
  const lunch = { start: '13:00', end: '14:00' };
  assert.equal(quietUntil(at('2026-12-01T10:15:00Z'), 'Europe/Moscow', lunch), at('2026-12-01T11:00:00Z'));
  assert.equal(quietUntil(at('2026-12-01T11:00:00Z'), 'Europe/Moscow', lunch), null);
  assert.equal(quietUntil(at('2026-12-01T10:15:00Z'), 'Europe/Moscow', { start: '10:00', end: '10:00' }), null);
});

test('a daylight-saving change inside the window moves its end by that hour', () => {
  // Berlin: clocks go forward at 02:00 on 2026-03-29. 23:00 CET (22:00 UTC) → 07:00 CEST = 05:00 UTC.
  assert.equal(quietUntil(at('2026-03-28T22:00:00Z'), 'Europe/Berlin', { start: '22:00', end: '07:00' }), at('2026-03-29T05:00:00Z'));
});

test('times of day are HH:MM', () => {
  for (const ok of ['00:00', '09:30', '23:59']) assert.ok(isTimeOfDay(ok), ok);
  for (const bad of ['24:00', '9:30', '09:60', '', '09:30:00']) assert.ok(!isTimeOfDay(bad), bad);
});
