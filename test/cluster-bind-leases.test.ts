/**
 * Bind leases when Redis loses every key under running binds (restarted
 * empty), against the local Redis: two nodes run one of a connector's two
 * binds each; the prefix's keys are deleted, as an empty restart would. The
 * first node to ask again must not see itself alone and take both slots while
 * the other still runs its bind: the binds run never exceed two, and each
 * node keeps its one.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { BindLeases } from '../src/cluster/binds.ts';
import { createLogger } from '../src/log.ts';
import { dropRedisPrefix, redisUnavailable, TEST_REDIS_URL } from './cluster-nodes.ts';

const why = await redisUnavailable();
if (why && process.env.CI === 'true') throw new Error(`CI=true but ${why}`);
const prefix = `tbl-${Date.now().toString(36)}`;
const connections: Redis[] = [];
after(async () => {
  if (why) return;
  await dropRedisPrefix(prefix);
  for (const r of connections) r.disconnect();
});

const TTL_MS = 1500;

test('bind leases: after Redis lost its keys, the nodes take back the slots of the binds they run, and never more binds run than configured', { skip: why ?? false }, async (t) => {
  const held = new Map<string, number>();
  let most = 0;
  let changed: () => void = () => {};
  const total = () => [...held.values()].reduce((a, b) => a + b, 0);
  const when = async (check: () => boolean, what: string) => {
    const deadline = Date.now() + 15_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`${what} did not happen within 15 s: ${JSON.stringify(Object.fromEntries(held))}`);
      await new Promise<void>((resolve) => {
        changed = resolve;
        setTimeout(resolve, 100);
      });
    }
  };
  const nodes = ['n1', 'n2'].map((id) => {
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    connections.push(redis);
    const leases = new BindLeases(redis, prefix, createLogger('silent'), { ttlMs: TTL_MS, nodeId: id });
    leases.want('op', 2, (n) => {
      held.set(id, n);
      most = Math.max(most, total());
      changed();
    });
    return leases;
  });
  t.after(() => Promise.all(nodes.map((n) => n.stop())));
  for (const n of nodes) n.start();
  const split = () => ['n1', 'n2'].map((id) => held.get(id) ?? 0).join('/');
  await when(() => split() === '1/1', 'one bind on each node');
  // Redis restarted empty: the live set, the slots and the leases' start are gone, the binds still run.
  for (let round = 0; round < 3; round++) {
    await dropRedisPrefix(prefix);
    // Three rounds of each node at least (a round every third of a lease), and the lease that follows the loss.
    const until = Date.now() + TTL_MS * 2;
    while (Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(total() <= 2, `after the keys were lost the nodes ran ${split()} binds, more than the 2 configured`);
    }
    assert.equal(split(), '1/1', 'each node kept its bind');
  }
  assert.ok(most <= 2, `at most the binds configured at once: ${most}`);
});
