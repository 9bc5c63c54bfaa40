/**
 * `stream.max_per_key` across the API nodes of a cluster, against the local
 * Redis: each node is a LiveHub with its own StreamLeases and connection, on
 * one key prefix of this suite's own. A key holds the limit on all nodes
 * together; a closed stream's place is free at once; a dead node's places
 * free themselves when their leases lapse, while a live node's are renewed;
 * with Redis away a stream opens on the node's own count.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { StreamLeases } from '../src/cluster/stream-leases.ts';
import { EventBus } from '../src/events/bus.ts';
import { LiveHub } from '../src/events/live.ts';
import { createLogger } from '../src/log.ts';
import { dropRedisPrefix, redisUnavailable, TEST_REDIS_URL } from './cluster-nodes.ts';

const why = await redisUnavailable();
if (why && process.env.CI === 'true') throw new Error(`CI=true but ${why}`);
const prefix = `tsl-${Date.now().toString(36)}`;
const log = createLogger('silent');
const nodes: { leases: StreamLeases; redis: Redis }[] = [];
after(async () => {
  for (const n of nodes) {
    await n.leases.stop();
    n.redis.disconnect();
  }
  if (!why) await dropRedisPrefix(prefix);
});

/** One API node: its hub, sharing the limit through Redis. */
function node(maxPerKey: number, options: { ttlMs?: number; url?: string } = {}) {
  const redis = new Redis(options.url ?? TEST_REDIS_URL, { maxRetriesPerRequest: null });
  redis.on('error', () => {});
  const leases = new StreamLeases(redis, prefix, log, options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs });
  leases.start();
  nodes.push({ leases, redis });
  const hub = new LiveHub(new EventBus(), { maxPerKey });
  hub.shareLimit(leases);
  return { hub, leases, redis };
}

/** Resolves once `check` holds, asking every 50 ms; fails after `ms`. */
async function when(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('stream leases: the streams of a key counted on all nodes together', { skip: why ?? false }, () => {
  test('a key holds the limit over two nodes; a closed stream frees its place at once; another key has its own', async () => {
    const [a, b] = [node(3), node(3)];
    const first = (await a.hub.open('acc_1', 'key_limit', { apiKey: true }))!;
    assert.ok(first);
    assert.ok(await a.hub.open('acc_1', 'key_limit', { apiKey: true }));
    assert.ok(await b.hub.open('acc_1', 'key_limit', { apiKey: true }), 'the third, on the other node');
    assert.equal(await b.hub.open('acc_1', 'key_limit', { apiKey: true }), undefined, 'a fourth on node b is refused: a holds two');
    assert.equal(await a.hub.open('acc_1', 'key_limit', { apiKey: true }), undefined, 'and on node a');
    assert.equal(b.hub.size, 1, 'the refused open left nothing behind');
    assert.ok(await b.hub.open('acc_1', 'key_other', { apiKey: true }), 'another key has its own allowance');
    first.end('closed');
    // The place goes back over a's connection, the open asks over b's: asked until Redis has the one before the other.
    await when(async () => (await b.hub.open('acc_1', 'key_limit', { apiKey: true })) !== undefined, 'the place a closed stream on a gave back', 2000);
  });

  test("a dead node's places free themselves when their leases lapse; a live node's are renewed and kept", async () => {
    const TTL_MS = 400;
    const [live, dying, other] = [node(2, { ttlMs: TTL_MS }), node(2, { ttlMs: TTL_MS }), node(2, { ttlMs: TTL_MS })];
    assert.ok(await live.hub.open('acc_1', 'key_live', { apiKey: true }));
    assert.ok(await live.hub.open('acc_1', 'key_live', { apiKey: true }));
    assert.ok(await dying.hub.open('acc_1', 'key_dead', { apiKey: true }));
    assert.ok(await dying.hub.open('acc_1', 'key_dead', { apiKey: true }));
    // The node dies: no renewal, no release (its streams never close).
    await dying.leases.stop();
    dying.redis.disconnect();
    assert.equal(await other.hub.open('acc_1', 'key_dead', { apiKey: true }), undefined, 'held until the leases lapse');
    const diedAt = Date.now();
    await when(async () => (await other.hub.open('acc_1', 'key_dead', { apiKey: true })) !== undefined, "a place of the dead node's key");
    assert.ok(Date.now() - diedAt <= TTL_MS + 2000, 'within about a lease');
    // Several leases' time on: the live node renewed its two, and they still count.
    const until = Date.now() + TTL_MS * 3;
    while (Date.now() < until) {
      assert.equal(await other.hub.open('acc_1', 'key_live', { apiKey: true }), undefined, "the live node's places are kept");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  test('with Redis away a stream opens on the node\'s own count', async () => {
    // A third of a lease (100 ms) is how long an open waits for Redis.
    const away = node(1, { url: 'redis://127.0.0.1:1', ttlMs: 300 });
    assert.ok(await away.hub.open('acc_1', 'key_away', { apiKey: true }), 'opened after the wait for Redis');
    assert.equal(await away.hub.open('acc_1', 'key_away', { apiKey: true }), undefined, "the node's own limit still holds");
  });
});
