import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLocalDateTime } from './local-time.ts';

const iso = (text: string, zone: string) => {
  const ms = parseLocalDateTime(text, zone);
  return ms === undefined ? undefined : new Date(ms).toISOString();
};

test('the seeds\' dates are read in the account\'s time zone', () => {
  assert.equal(iso('2022-03-15 13:00', 'Europe/Moscow'), '2022-03-15T10:00:00.000Z');
  assert.equal(iso('2020-08-02', 'Europe/Moscow'), '2020-08-01T21:00:00.000Z');
  assert.equal(iso('2022-03-15T13:00:30', 'Asia/Novosibirsk'), '2022-03-15T06:00:30.000Z');
});

test('across a daylight-saving change the offset of the result counts', () => {
  assert.equal(iso('2026-03-29 12:00', 'Europe/Berlin'), '2026-03-29T10:00:00.000Z');
  assert.equal(iso('2026-03-28 12:00', 'Europe/Berlin'), '2026-03-28T11:00:00.000Z');
});

test('an RFC 3339 time with an offset is taken as is; anything else is undefined', () => {
  assert.equal(iso('2026-12-31T09:00:00+03:00', 'UTC'), '2026-12-31T06:00:00.000Z');
  assert.equal(iso('2022-02-30 13:00', 'UTC'), undefined);
  assert.equal(iso('2022-03-15 25:00', 'UTC'), undefined);
  assert.equal(iso('tomorrow', 'UTC'), undefined);
});
