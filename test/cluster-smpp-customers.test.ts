/**
 * SMPP customers across two smpp nodes (separate processes over one
 * PostgreSQL and one Redis): a login's max_binds 2 holds for the cluster (a
 * bind on each node, the third refused on either), receipts go to exactly
 * one receiving bind of the login (the node holding its feed), also when the
 * feed moves because the holder's receiver unbinds (the ids it sent are
 * handed over), and when the holder is SIGKILLed its bind's place frees after
 * the lease and the receipts go on on the other node.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { CommandStatus } from '../src/smpp/pdu.ts';
import { SmppBindError, type BindMode, type SmppSession } from '../src/smpp/session.ts';
import { clusterSkip, smppCluster, submitSm, twoSmppNodes, TEST_REDIS_URL, until } from './cluster-nodes.ts';

const LEASE_SECONDS = 2;

const skip = await clusterSkip();

test('cluster: a login\'s max_binds holds across smpp nodes, each receipt reaches one receiving bind, the feed and the places move when a node is killed', { skip, timeout: 150_000 }, async (t) => {
  const cluster = await smppCluster(t, {
    prefix: 'tsm',
    connector: { binds: 2, window: 20 },
    env: { DEPESHA_LEASE_SECONDS: '6', DEPESHA_BIND_LEASE_SECONDS: String(LEASE_SECONDS), DEPESHA_RETRY_INITIAL_DELAY_MS: '100' },
  });
  const { sim, db, prefix, receipts: got, bind } = cluster;
  const { a, b, portA, portB } = await twoSmppNodes(cluster, 2);

  /** receipts by message id, over the login's binds */
  const count = (id: string) => [...got.values()].reduce((n, m) => n + (m.get(id) ?? 0), 0);
  /** a bind, or 'refused' when Depesha answers ESME_RBINDFAIL (too many binds) */
  const tryBind = (name: string, port: number, mode: BindMode) =>
    bind(name, port, mode).catch((err: unknown) => {
      got.delete(name);
      if (err instanceof SmppBindError && err.commandStatus === CommandStatus.ESME_RBINDFAIL) return 'refused' as const;
      throw err;
    });
  const refused = async (port: number, mode: BindMode) => (await tryBind('refused', port, mode)) === 'refused';

  // A receiver on A first, so that A takes the login's feed; then a transceiver on B, which submits.
  const rxA = await bind('rx-a', portA, 'receiver');
  await a.waitForLine((l) => l.msg === "this node sends the SMPP login's receipts", 'A taking the feed', 10_000);
  const trx = await bind('trx-b', portB, 'transceiver');
  assert.equal(await refused(portA, 'transmitter'), true, 'a third bind on A is refused');
  assert.equal(await refused(portB, 'transmitter'), true, 'a third bind on B is refused');

  const ids: string[] = [];
  const send = async (via: SmppSession, n: number) => {
    const sent: string[] = [];
    for (let i = 0; i < n; i++) {
      const k = ids.length;
      const id = await submitSm(via, `7916${String(3_000_000 + k)}`, `feed ${k}`);
      ids.push(id);
      sent.push(id);
    }
    return sent;
  };
  /** the last final event of these messages is behind the login's stored position: nothing more is owed for them */
  const settled = (of: string[]) =>
    until(
      'the stored position past every receipt',
      async () => {
        const last = await db.query<{ id: string }>(`select max(id) as id from message_events where message_id = any($1) and status in ('delivered','undelivered','expired','rejected','failed')`, [of]);
        const lastId = last.rows[0]?.id;
        const position = await cluster.receiptPosition();
        return lastId && position !== undefined && position >= lastId ? true : undefined;
      },
      30_000,
    );
  const on = (bindName: string, of: string[]) => of.filter((id) => (got.get(bindName)?.get(id) ?? 0) > 0).length;

  const first = await send(trx, 30);
  await until('a receipt for each of the first 30', async () => (first.every((id) => count(id) > 0) ? true : undefined), 30_000);
  await settled(first);
  assert.deepEqual(first.filter((id) => count(id) !== 1), [], 'each receipt exactly once across the login\'s two receiving binds');
  assert.equal(on('rx-a', first), 30, 'all on A, which holds the feed');

  // A's receiver unbinds right after its last receipts, before the position has passed them: A gives the feed up with
  // the ids it sent, B takes it and does not send them again.
  const second = await send(trx, 20);
  await until('the next 20 on A', async () => (on('rx-a', second) === 20 ? true : undefined), 30_000);
  await rxA.unbind();
  await b.waitForLine((l) => l.msg === "this node sends the SMPP login's receipts", 'B taking the feed', 10_000);
  const third = await send(trx, 10);
  await until('the next 10 on B', async () => (on('trx-b', third) === 10 ? true : undefined), 30_000);
  await settled(ids);
  assert.deepEqual(ids.filter((id) => count(id) !== 1), [], 'each receipt exactly once after the feed moved from A to B');

  // A receiver on A again (A follows now); B, which holds the feed, dies. Its place frees once its lease runs out
  // (not before); A takes the feed and the receipts go on there.
  await bind('rx-a2', portA, 'receiver');
  b.child.kill('SIGKILL');
  await b.exited;
  const killedAt = Date.now();
  const stillCounted = await refused(portA, 'transmitter');
  let tx: SmppSession | undefined;
  await until('a second bind on A once B\'s place lapsed', async () => {
    const r = await tryBind('tx-a', portA, 'transmitter');
    if (r !== 'refused') tx = r;
    return tx;
  }, 15_000);
  const freedMs = Date.now() - killedAt;
  t.diagnostic(`B's place freed ${freedMs} ms after the kill (lease ${LEASE_SECONDS} s); refused right after the kill: ${stillCounted}`);
  assert.equal(stillCounted, true, 'right after the kill the dead node\'s bind still counts');
  assert.ok(freedMs < LEASE_SECONDS * 1000 * 2 + 2000, `the place took ${freedMs} ms to free`);

  const fourth = await send(tx!, 20);
  await until('the receipts of the next 20 on A', async () => (on('rx-a2', fourth) === 20 ? true : undefined), 30_000);
  assert.equal(sim.bound, 2);

  // A stops cleanly: it exits 0 and has given its places and the feed back at once (B's lapsed already).
  const credential = (await db.query<{ id: string }>(`select id from smpp_credentials where system_id = 'shop'`)).rows[0]!.id;
  const redis = new Redis(TEST_REDIS_URL);
  t.after(() => redis.disconnect());
  assert.equal(await redis.zcard(`${prefix}:smpp-binds:${credential}`), 2);
  a.child.kill('SIGTERM');
  assert.equal((await a.exited).code, 0);
  assert.equal(await redis.zcard(`${prefix}:smpp-binds:${credential}`), 0, 'a stopping node frees its binds\' places');
  assert.equal(await redis.exists(`${prefix}:smpp-feed:${credential}`), 0, 'and gives the feed up');
});
