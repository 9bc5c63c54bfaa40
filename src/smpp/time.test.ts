import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatSmppTime, parseSmppTime } from './time.ts';

test('absolute times with their UTC offset, relative times, empty and nonsense', () => {
  const now = Date.UTC(2026, 10, 23, 12, 0, 0);
  assert.deepEqual(parseSmppTime('', now), { ok: true, at: undefined });
  assert.deepEqual(parseSmppTime('261123150000012+', now), { ok: true, at: Date.UTC(2026, 10, 23, 12, 0, 0, 0) }); // 15:00 at UTC+3
  assert.deepEqual(parseSmppTime('261123150000500-', now), { ok: true, at: Date.UTC(2026, 10, 23, 15, 0, 0, 500) });
  assert.deepEqual(parseSmppTime('000001020304000R', now), { ok: true, at: now + ((24 + 2) * 3600 + 3 * 60 + 4) * 1000 });
  for (const bad of ['2611231500000', '261323150000000+', 'abcdefghijklmnop', '261123150000012X']) assert.deepEqual(parseSmppTime(bad, now), { ok: false }, bad);
});

test('formatted times read back', () => {
  const at = Date.UTC(2026, 10, 23, 15, 4, 5);
  assert.equal(formatSmppTime(at), '261123150405000+');
  assert.deepEqual(parseSmppTime(formatSmppTime(at), 0), { ok: true, at });
});
