/**
 * SMPP customers' leases across smpp nodes, on their own against the local
 * Redis (cluster/smpp-customers.ts): a login's max_binds counted over the
 * nodes, a silent node's places freed after the lease, and one receipt feed
 * per login, given up once its round of sending is recorded when its
 * holder's last receiving bind closes, taken over when the holder goes silent.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { CustomerLeases, type FeedHooks } from '../src/cluster/smpp-customers.ts';
import { createLogger } from '../src/log.ts';
import { dropRedisPrefix, redisUnavailable, TEST_REDIS_URL, until } from './cluster-nodes.ts';

const why = await redisUnavailable();
if (why && process.env.CI === 'true') throw new Error(`CI=true but ${why}`);
const prefix = `tsc-${Date.now().toString(36)}`;
const log = createLogger('silent');
const TTL = 1500;
const connections: Redis[] = [];
const leasesOf: CustomerLeases[] = [];
const node = (id: string, start = true) => {
  const r = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  connections.push(r);
  const leases = new CustomerLeases(r, prefix, log, { ttlMs: TTL, nodeId: id });
  leasesOf.push(leases);
  if (start) leases.start();
  return leases;
};
after(async () => {
  if (why) return;
  await Promise.all(leasesOf.map((l) => l.stop()));
  await dropRedisPrefix(prefix);
  for (const r of connections) r.disconnect();
});

test('max_binds holds across nodes; a closed bind frees its place at once, a silent node\'s after the lease', { skip: why ?? false }, async () => {
  const a = node('a');
  const b = node('b');
  const first = await a.takeBind('login1', 2);
  const second = await b.takeBind('login1', 2);
  assert.ok(first !== null && second !== null);
  assert.equal(await a.takeBind('login1', 2), null, 'a third bind on a');
  assert.equal(await b.takeBind('login1', 2), null, 'a third bind on b');
  assert.ok((await a.takeBind('login2', 2)) !== null, 'another login counts on its own');
  b.dropBind('login1', second);
  const again = await until('the place freed', async () => (await a.takeBind('login1', 2)) ?? undefined, 2000);
  assert.ok(again);

  // A node that never renews (it died right after binding): its place lapses after the lease, not before.
  const dead = node('dead', false);
  const c = node('c');
  assert.ok((await dead.takeBind('login3', 1)) !== null);
  const takenAt = Date.now();
  assert.equal(await c.takeBind('login3', 1), null);
  await until('the dead node\'s place lapsing', async () => (await c.takeBind('login3', 1)) ?? undefined, TTL * 3);
  const lapsedMs = Date.now() - takenAt;
  assert.ok(lapsedMs >= TTL - 100, `lapsed after ${lapsedMs} ms, the lease is ${TTL}`);
});

test('one receipt feed per login: taken by a node with a receiving bind, given up once its round is recorded, taken over from a silent holder', { skip: why ?? false }, async () => {
  const feed = (receiving: { now: boolean }, idle: () => Promise<void> = async () => {}) => {
    const state = { led: 0, rounds: 0 };
    const hooks: FeedHooks = {
      receiving: () => (state.rounds++, receiving.now),
      idle,
      led: () => {
        state.led++;
      },
    };
    return { hooks, state };
  };
  const a = node('fa');
  const b = node('fb');
  const redisB = connections.at(-1)!;
  const onA = { now: true };
  const onB = { now: true };
  // a's round of sending in progress when it gives the feed up: recorded only when the test says.
  let roundRecorded = () => {};
  let aRounds: Promise<void> = Promise.resolve();
  const fa = feed(onA, () => aRounds);
  const fb = feed(onB);
  a.watch('login', fa.hooks);
  await until('a leading', async () => (a.leads('login') ? true : undefined), 3000);
  b.watch('login', fb.hooks);
  b.nudge();
  // b has a receiving bind too but finds the feed held: it waits (a few rounds).
  await until('b having tried', async () => ((await redisB.pttl(`${prefix}:smpp-feed:login`)) > 0 && !b.leads('login') ? true : undefined), 3000);
  await new Promise<void>((resolve) => setTimeout(resolve, TTL));
  assert.equal(b.leads('login'), false, 'two nodes never lead one login');
  assert.equal(a.leads('login'), true);

  // a's last receiving bind closes while a round is in progress: the feed is given up once that round is recorded.
  aRounds = new Promise<void>((resolve) => (roundRecorded = resolve));
  onA.now = false;
  a.nudge();
  const bRounds = fb.state.rounds;
  await until('a round of b meanwhile', async () => (fb.state.rounds > bRounds ? true : undefined), TTL);
  assert.equal(await redisB.get(`${prefix}:smpp-feed:login`), 'fa', 'not given up while the holder\'s round is in progress');
  assert.equal(b.leads('login'), false);
  roundRecorded();
  await until('b leading', async () => (b.leads('login') ? true : undefined), TTL * 2);
  assert.equal(a.leads('login'), false);
  assert.equal(fb.state.led, 1);

  // b goes silent (stops renewing without giving up); a has a receiving bind again and takes over after the lease.
  onA.now = true;
  const silentAt = Date.now();
  // (stop() would give the feed up: a connection cut is what a crash looks like to Redis)
  redisB.disconnect();
  await until('a leading again', async () => (a.leads('login') ? true : undefined), TTL * 4);
  assert.ok(Date.now() - silentAt >= TTL / 2, 'taken over only once the silent holder\'s lease ran out');
  assert.equal(b.leads('login'), false, 'the silent holder stops sending at two thirds of a lease');
  assert.equal(fa.state.led, 2);
});

test('a feed waiting for its round of sending to end before it is given up does not hold back the renewals of the node\'s other logins', { skip: why ?? false }, async () => {
  const a = node('ya');
  let roundEnds = () => {};
  const slow = new Promise<void>((resolve) => (roundEnds = resolve));
  const one = { now: true };
  const rounds = { two: 0 };
  a.watch('slow-login', { receiving: () => one.now, idle: () => slow, led: () => {} });
  a.watch('other-login', { receiving: () => (rounds.two++, true), idle: async () => {}, led: () => {} });
  await until('a leading both', async () => (a.leads('slow-login') && a.leads('other-login') ? true : undefined), 3000);
  // The slow login's last receiving bind closes while its round (a bind unbinding, up to 30 s) is in progress.
  one.now = false;
  a.nudge();
  const from = rounds.two;
  try {
    // Before: the whole round of the node waited for that round to end, so no login here was renewed (for up to 30 s).
    await until('the other login renewed twice meanwhile', async () => (rounds.two >= from + 3 ? true : undefined), TTL * 3);
    assert.equal(a.leads('other-login'), true);
    assert.equal(a.leads('slow-login'), false, 'the slow login sends nothing more here');
  } finally {
    roundEnds();
  }
  const redisA = connections.at(-1)!;
  await until('the slow login\'s feed given up once its round ended', async () => ((await redisA.get(`${prefix}:smpp-feed:slow-login`)) === null ? true : undefined), TTL * 2);
});
