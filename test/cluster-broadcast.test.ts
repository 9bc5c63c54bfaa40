/**
 * Notices waited for (cluster/broadcast.ts), against the local Redis: an
 * announcement resolves once every other node that heard it has acted on it,
 * not before; the announcing node does not hear its own; with no other node
 * it resolves at once; a node that does not answer is waited for only until
 * the timeout. The auth notices (cluster/auth-notices.ts) and the reloads
 * ride on it; a node whose subscription dropped and came back drops its
 * whole key cache (it may have missed notices), and hears them again.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { AuthNotices, type AuthNotice } from '../src/cluster/auth-notices.ts';
import { Broadcast } from '../src/cluster/broadcast.ts';
import { createLogger } from '../src/log.ts';
import { redisUnavailable, TEST_REDIS_URL } from './cluster-nodes.ts';

const why = await redisUnavailable();
if (why && process.env.CI === 'true') throw new Error(`CI=true but ${why}`);
const log = createLogger('silent');
const connections: Redis[] = [];
after(() => connections.forEach((r) => r.disconnect()));

let channels = 0;
function channel(): string {
  return `tbc-${Date.now().toString(36)}-${channels++}:notices`;
}
function node(on: string): Broadcast<{ n: number }> {
  const [pub, sub] = [new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null }), new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null })];
  connections.push(pub, sub);
  return new Broadcast<{ n: number }>(pub, sub, on, log, 'test');
}

describe('a broadcast waited for', { skip: why ?? false }, () => {
  test('resolves once every other node acted on it; the sender does not hear its own', { timeout: 20_000 }, async () => {
    const on = channel();
    const [a, b, c] = [node(on), node(on), node(on)];
    const heard: string[] = [];
    let releaseC = () => {};
    await a.start(() => void heard.push('a'));
    await b.start((notice) => void heard.push(`b${notice.n}`));
    await c.start((notice) => new Promise<void>((resolve) => (releaseC = () => (heard.push(`c${notice.n}`), resolve()))));
    let settled = false;
    const announced = a.announce({ n: 1 }, 10_000).then((all) => ((settled = true), all));
    // b answers at once; c only once released: the announcement waits for it.
    while (!heard.includes('b1')) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'not resolved while c has not acted');
    releaseC();
    assert.equal(await announced, true);
    assert.deepEqual(heard.sort(), ['b1', 'c1'], 'a did not hear its own');
  });

  test('with no other node it resolves at once; a node that does not answer is waited for until the timeout', { timeout: 20_000 }, async () => {
    const on = channel();
    const alone = node(on);
    await alone.start(() => {});
    assert.equal(await alone.announce({ n: 1 }, 10_000), true);
    const silent = node(on);
    await silent.start(() => new Promise<void>(() => {})); // never acts
    const startedAt = Date.now();
    assert.equal(await alone.announce({ n: 2 }, 300), false);
    assert.ok(Date.now() - startedAt >= 290, 'waited for the timeout');
  });

  test('auth notices: a node whose subscription came back drops its whole cache, and hears the notices again', { timeout: 20_000 }, async () => {
    const prefix = `tbc-${Date.now().toString(36)}-auth`;
    const conns = () => {
      const [pub, sub] = [new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null }), new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null })];
      connections.push(pub, sub);
      return [pub, sub] as const;
    };
    const [pubA, subA] = conns();
    const [pubB, subB] = conns();
    const a = new AuthNotices(pubA, subA, prefix, log);
    const b = new AuthNotices(pubB, subB, prefix, log);
    await a.start(() => {}, () => {});
    const applied: AuthNotice[] = [];
    let dropAll!: () => void;
    const droppedAll = new Promise<void>((resolve) => (dropAll = resolve));
    await b.start((notice) => void applied.push(notice), dropAll);
    await a.announce({ kind: 'key_revoked', accountId: 'acc_1', keyId: 'key_1' });
    assert.deepEqual(applied, [{ kind: 'key_revoked', accountId: 'acc_1', keyId: 'key_1' }], 'heard before the announcement resolved');
    subB.disconnect(true); // dropped, and connecting again
    await droppedAll;
    // Subscribed again (ioredis does it on reconnect): heard before the announcement resolves.
    while ((await pubA.pubsub('NUMSUB', `${prefix}:auth`))[1] !== 2) await new Promise((resolve) => setImmediate(resolve));
    await a.announce({ kind: 'account_changed', accountId: 'acc_1' });
    assert.deepEqual(applied.at(-1), { kind: 'account_changed', accountId: 'acc_1' });
  });
});
