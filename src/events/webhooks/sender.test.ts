import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webhookRetryDelayMs } from './sender.ts';

test('webhook back-off doubles from the base, between half and all of the step, capped at the maximum', () => {
  const base = 5_000;
  const max = 3_600_000;
  assert.equal(webhookRetryDelayMs(1, base, max, () => 0), 2_500);
  assert.equal(webhookRetryDelayMs(1, base, max, () => 1), 5_000);
  assert.equal(webhookRetryDelayMs(4, base, max, () => 1), 40_000);
  assert.equal(webhookRetryDelayMs(30, base, max, () => 1), max);
  assert.equal(webhookRetryDelayMs(30, base, max, () => 0), max / 2);
});

test('the default schedule keeps retrying for the whole 3-day window', () => {
  // With the longest jitter-free waits, 3 days take this many attempts; the shortest waits take more.
  let elapsed = 0;
  let attempts = 0;
  while (elapsed < 3 * 86_400_000) elapsed += webhookRetryDelayMs(++attempts, 5_000, 3_600_000, () => 1);
  assert.ok(attempts > 60 && attempts < 90, `${attempts} attempts`);
});
