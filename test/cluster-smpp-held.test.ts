/**
 * Held SMPP receipts are shared across smpp nodes (separate processes over
 * one PostgreSQL and one Redis): a customer submits over a transmitter-only
 * bind on smpp node A, so no node has a receiving bind of the login and the
 * receipts are held (the login's stored position stays behind them); then the
 * customer binds a receiver on smpp node B, which takes the login's feed and
 * sends every held receipt exactly once. Then B's receiver unbinds, more
 * receipts are held, and a receiver on A gets just those, once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clusterSkip, type Node, smppCluster, submitSm, twoSmppNodes, until } from './cluster-nodes.ts';

const MESSAGES = 30;

const skip = await clusterSkip();

test('cluster: receipts held while no smpp node has a receiving bind reach a receiver bound later on another node, each exactly once', { skip, timeout: 120_000 }, async (t) => {
  const cluster = await smppCluster(t, {
    prefix: 'tsh',
    connector: { binds: 1, window: 20 },
    env: { DEPESHA_LEASE_SECONDS: '6', DEPESHA_BIND_LEASE_SECONDS: '2', DEPESHA_RETRY_INITIAL_DELAY_MS: '100' },
  });
  const { db, receipts: got, bind } = cluster;
  const { a, b, portA, portB } = await twoSmppNodes(cluster, 1);

  const tx = await bind('tx-a', portA, 'transmitter');
  const ids: string[] = [];
  /** submits `n` over A's transmitter and waits until all of them are delivered: their receipts are owed to the customer */
  const submitAndDeliver = async (n: number) => {
    const sent: string[] = [];
    for (let i = 0; i < n; i++) {
      const k = ids.length;
      const id = await submitSm(tx, `7916${String(4_000_000 + k)}`, `held ${k}`);
      ids.push(id);
      sent.push(id);
    }
    await until(
      'every message delivered',
      async () => {
        const r = await db.query(`select count(*)::int as n from messages where status = 'delivered'`);
        return r.rows[0].n === ids.length ? true : undefined;
      },
      30_000,
    );
    return sent;
  };
  const lastEvent = async () => (await db.query<{ id: string }>(`select max(id) as id from message_events where status = 'delivered'`)).rows[0]!.id;
  const position = cluster.receiptPosition;
  const settled = (last: string) => until('the stored position past every receipt', async () => ((await position()) ?? '') >= last ? true : undefined, 30_000);
  const feedTaken = (n: Node) => n.lines.filter((l) => l.msg === "this node sends the SMPP login's receipts").length;

  // No receiving bind anywhere: the receipts are held, the stored position stays behind them.
  const first = await submitAndDeliver(MESSAGES);
  const last = await lastEvent();
  const held = await position();
  assert.ok(held === undefined || held < last, `the stored position (${held}) is behind the last receipt (${last}): nothing was sent`);
  assert.equal(feedTaken(a) + feedTaken(b), 0, 'no node took the feed without a receiving bind');

  // The receiver binds on B: B takes the feed and sends every held receipt, once.
  const rxB = await bind('rx-b', portB, 'receiver');
  await b.waitForLine((l) => l.msg === "this node sends the SMPP login's receipts", 'B taking the feed', 10_000);
  const onB = got.get('rx-b')!;
  await until('every held receipt on B', async () => (first.every((id) => onB.has(id)) ? true : undefined), 30_000);
  await settled(last);
  assert.deepEqual(first.filter((id) => onB.get(id) !== 1), [], 'each held receipt exactly once');
  assert.equal(onB.size, MESSAGES, 'no receipt the customer did not ask for');

  // B's receiver goes away (B gives the feed up); receipts are held again, and a receiver on A gets only those, once.
  await rxB.unbind();
  const second = await submitAndDeliver(10);
  const rxA = await bind('rx-a', portA, 'receiver');
  await a.waitForLine((l) => l.msg === "this node sends the SMPP login's receipts", 'A taking the feed', 10_000);
  const onA = got.get('rx-a')!;
  await until('the newly held receipts on A', async () => (second.every((id) => onA.has(id)) ? true : undefined), 30_000);
  await settled(await lastEvent());
  assert.deepEqual(second.filter((id) => onA.get(id) !== 1), [], 'each newly held receipt exactly once');
  assert.deepEqual([...onA.keys()].filter((id) => !second.includes(id)), [], 'none of those B sent comes again on A');
  assert.equal(onB.size, MESSAGES, 'nothing more on B after it unbound');
  assert.equal(got.get('tx-a')!.size, 0, 'a transmitter gets no receipt');
  await rxA.unbind();
});
