import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdaptiveRate } from './rate.ts';

/** Drives a limiter against a simulated SMSC for `seconds`; returns accepted submits per second. */
function simulate(smsc: (t: number, sentThisSecond: number) => boolean, options: { offeredPerSecond: number; seconds: number; maxPerSecond?: number }): { acceptedPerSecond: number; limiter: AdaptiveRate } {
  let t = 0;
  const limiter = new AdaptiveRate({ maxPerSecond: options.maxPerSecond ?? 0, now: () => t });
  let accepted = 0;
  let nextOffer = 0;
  const sentPerSecond = new Map<number, number>();
  while (t < options.seconds * 1000) {
    const wait = limiter.reserve();
    t = Math.max(t + wait, nextOffer);
    nextOffer = t + 1000 / options.offeredPerSecond;
    const second = Math.floor(t / 1000);
    const sent = (sentPerSecond.get(second) ?? 0) + 1;
    sentPerSecond.set(second, sent);
    const ok = smsc(t, sent);
    limiter.record(ok ? 'accepted' : 'temporary_error');
    if (ok) accepted++;
  }
  return { acceptedPerSecond: accepted / options.seconds, limiter };
}

test('without temporary errors nothing is limited beyond the hard cap', () => {
  assert.equal(new AdaptiveRate({ maxPerSecond: 0 }).reserve(), 0);
  const { acceptedPerSecond } = simulate(() => true, { offeredPerSecond: 5000, seconds: 5, maxPerSecond: 1000 });
  assert.ok(acceptedPerSecond > 950 && acceptedPerSecond <= 1001, String(acceptedPerSecond));
});

test('an SMSC that caps at 500/s settles the limit just above 500/s', () => {
  const { acceptedPerSecond, limiter } = simulate((_t, sent) => sent <= 500, { offeredPerSecond: 5000, seconds: 20 });
  assert.ok(acceptedPerSecond > 400, `accepted ${acceptedPerSecond}/s`);
  assert.ok(limiter.perSecond < 800, `limit ${limiter.perSecond}/s: should have come down towards 500`);
});

test('5 % of submits refused at random keep most of the throughput', () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const { acceptedPerSecond } = simulate(() => random() >= 0.05, { offeredPerSecond: 4000, seconds: 30 });
  assert.ok(acceptedPerSecond > 0.9 * 4000 * 0.95, `accepted ${acceptedPerSecond}/s`);
});

test('one refusal among a handful of submits does not drop the limit', () => {
  let t = 0;
  const limiter = new AdaptiveRate({ maxPerSecond: 0, now: () => t });
  limiter.record('accepted');
  limiter.record('accepted');
  limiter.record('temporary_error');
  t = 300;
  assert.equal(limiter.reserve(), 0);
  assert.equal(limiter.perSecond, Infinity);
});
