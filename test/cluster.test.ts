/**
 * The cluster on loopback: 2 API nodes, 3 workers and a scheduler as separate
 * processes over one PostgreSQL database and one Redis, the SMSC simulator as
 * the operator and a webhook receiver as the customer. Load goes through both
 * API nodes; one worker is SIGKILLed while it sends. Every accepted message
 * must end delivered with its receipt and webhook, none may be submitted twice
 * unless the killed worker held it, the operator must never see more
 * submits in a second than the connector's limit, and a live stream on one API
 * node hears of every delivery.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bindsOn, clusterSkip, type Node, smppCluster, until } from './cluster-nodes.ts';
import { openStream } from './events-client.ts';
import { byMessage, Receiver } from './webhooks-receiver.ts';
import { GUARD_MS } from '../src/cluster/submit-rate.ts';

const MESSAGES = 300;
/** the connector's max_submits_per_second, held across the three workers */
const LIMIT = 40;
const KILL_AFTER_SUBMITS = 100;

const skip = await clusterSkip();

test('cluster: 2 API nodes, 3 workers (one killed), a scheduler: all delivered, duplicates only from the killed worker, the rate held', { skip, timeout: 180_000 }, async (t) => {
  const receiver = await new Receiver().listen();
  const cluster = await smppCluster(t, {
    prefix: 't',
    simulator: { receiptDelayMs: 100 },
    connector: { max_submits_per_second: LIMIT, window: 50, binds: 3 },
    env: { DEPESHA_LEASE_SECONDS: '8', DEPESHA_RETRY_INITIAL_DELAY_MS: '100' },
    poolSize: 2,
    close: [() => receiver.close()],
  });
  const { sim, db, apiKey, nodes } = cluster;
  // The first node migrates the empty database and bootstraps it; the others start on it.
  const api1 = cluster.node('api-1', 'api');
  const url1 = String((await api1.started()).url);
  // Two at a time: six processes starting at once on a 2-core machine would starve the suites running beside this one.
  const api2 = cluster.node('api-2', 'api');
  const scheduler = cluster.node('scheduler', 'scheduler');
  const url2 = String((await api2.started()).url);
  await scheduler.started();
  const workers: Node[] = [];
  for (const i of [1, 2, 3]) {
    // The one to be killed logs the ids of every job it takes (debug), to tell what it held.
    const worker = cluster.node(`worker-${i}`, 'worker', { LOG_LEVEL: i === 2 ? 'debug' : 'info' });
    workers.push(worker);
    if (i < 3) await worker.started();
  }
  await workers[2]!.started();
  await scheduler.waitForLine((l) => l.msg === 'this node leads the scheduled work', 'leading');
  await cluster.bound(3, 'three binds', 30_000);
  // The first worker took every bind while alone; the load starts once they are spread one per worker.
  await until('one bind per worker', async () => (workers.every((w) => bindsOn(w) === 1) ? true : undefined), 30_000);

  const call = async (base: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  // Answered once every node has reloaded its subscriptions.
  const sub = await call(url1, 'POST', '/v1/webhooks', { url: receiver.url, event_types: ['message.delivered'] });
  assert.equal(sub.status, 201, JSON.stringify(sub.body));

  // A live stream on one API node: it must hear of every delivery, whichever worker made it.
  const stream = await openStream(url2, apiKey);
  assert.equal(stream.status, 200);
  t.after(() => stream.close());

  // Load through both API nodes, 8 requests in flight on each; the worker dies partway through the sending.
  const victim = workers[1]!;
  const byText = new Map<string, string>();
  let next = 0;
  const push = async (base: string) => {
    while (next < MESSAGES) {
      const i = next++;
      const text = `cluster ${i}`;
      const res = await call(base, 'POST', '/v1/messages', { to: `+7916${String(1_000_000 + i).padStart(7, '0')}`, text });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      byText.set(text, String(res.body.id));
    }
  };
  const load = Promise.all([...Array(8)].flatMap(() => [push(url1), push(url2)]));
  let killedAt = 0;
  const killed = until('enough submits to kill a worker midway', async () => (sim.submits.length >= KILL_AFTER_SUBMITS ? true : undefined), 30_000).then(() => {
    victim.child.kill('SIGKILL');
    killedAt = Date.now();
  });
  await Promise.all([load, killed]);
  await victim.exited;
  const exitedAt = Date.now();
  // What the killed worker held at that moment: messages of the jobs it took that were still leased, not yet sent.
  const taken = new Set(victim.lines.filter((l) => l.msg === 'dispatch job').flatMap((l) => l.ids as string[]));
  // Its log may lack its last lines (SIGKILL loses what stdout had not written yet), so the bound checked is every
  // message leased at that moment and not yet sent; how many of them its log names is reported beside it.
  const leased = (await db.query<{ id: string }>(`select id from messages where status = 'queued' and lease_until > $1`, [killedAt])).rows.map((r) => r.id);
  const inFlight = leased.filter((id) => taken.has(id));

  const ids = [...byText.values()];
  assert.equal(ids.length, MESSAGES);
  await until(
    'every message final',
    async () => {
      const open = (await db.query(`select count(*)::int as n from messages where status in ('accepted', 'queued', 'sent')`)).rows[0].n as number;
      return open === 0 ? true : undefined;
    },
    40_000,
  );
  const statuses = (await db.query<{ status: string; n: number }>(`select status, count(*)::int as n from messages group by status`)).rows;
  assert.deepEqual(statuses, [{ status: 'delivered', n: MESSAGES }], 'every message delivered (its receipt applied)');
  await receiver.waitFor(() => byMessage(receiver.accepted).size >= MESSAGES, 'a webhook for every message', 20_000);

  // Whose bind each submit came over: the killed worker's bind is the one whose session closed when it died.
  const openAtKill = sim.binds.filter((b) => b.openedAt <= killedAt && (b.closedAt === null || b.closedAt >= killedAt));
  assert.equal(openAtKill.length, 3, 'three binds open when the worker was killed');
  for (const b of openAtKill) assert.ok(sim.submits.some((s) => s.bind === b.bind && s.at < killedAt), `bind ${b.bind} carried submits before the kill: every worker sent`);
  const victimBinds = new Set(openAtKill.filter((b) => b.closedAt !== null && b.closedAt <= exitedAt + 1000).map((b) => b.bind));
  assert.equal(victimBinds.size, 1, 'the killed worker held one bind, closed with it');
  // The relay is a wake-up over pub/sub, at most once: what the killed worker committed in its last moment may not
  // reach the stream (a client resuming with Last-Event-ID reads it from the database). Everything else must.
  // A delivery is committed by the worker whose bind the receipt came over, and the simulator sends a receipt
  // over whichever receiving bind is least busy, not over the one that submitted: the killed worker also applied
  // receipts of messages other workers sent. It publishes a commit's changes before it answers the receipts
  // (pipeline/receipts.ts), so the deliveries it may have committed and not relayed are those of the receipts it
  // was sent and never answered; the simulator sent those again over a survivor, which found them delivered.
  // (Until 2026-12-04 the test allowed the messages of the jobs the killed worker took instead, which a message
  // another worker sent, whose receipt the killed one applied in its last moment, did not pass: the likely cause
  // of the one live event it was seen to miss under load.)
  const unanswered = new Set(sim.receipts.filter((r) => victimBinds.has(r.bind) && r.answeredAt === null).map((r) => byText.get(r.submit.body.toString('latin1'))!));
  const streamed = () => new Set(stream.events.filter((e) => e.event === 'message.delivered').map((e) => String((JSON.parse(e.data) as { data: { message_id: string } }).data.message_id)));
  await stream.until(() => ids.every((id) => unanswered.has(id) || streamed().has(id)), 'a live delivered event on api-2 for every message but those whose receipt the killed worker never answered', 20_000);
  const unheard = ids.filter((id) => !streamed().has(id));
  for (const id of unheard) assert.ok(unanswered.has(id), `${id}: no live event (${taken.has(id) ? 'a job' : 'not a job'} of the killed worker)`);
  const hooks = byMessage(receiver.accepted);
  for (const id of ids) assert.deepEqual(hooks.get(id), ['message.delivered'], `webhook of ${id}`);

  // Submits per message, as the operator saw them.
  const submits = new Map<string, number>();
  for (const s of sim.submits) {
    const id = byText.get(s.body.toString('latin1'));
    assert.ok(id, `a submit the test did not send: ${s.body.toString('latin1')}`);
    submits.set(id, (submits.get(id) ?? 0) + 1);
  }
  for (const id of ids) assert.ok((submits.get(id) ?? 0) >= 1, `${id} was submitted`);

  assert.ok(sim.peakBound <= 3, `the operator saw ${sim.peakBound} binds at once, more than the connector's 3`);
  // A message submitted twice must have been in flight on the killed worker: its first submit went over that
  // worker's bind before it died (the operator took it, the worker died before recording it), it was still leased
  // then, and the other submits came over a survivor's bind once the lease ran out.
  const twice = ids.filter((id) => submits.get(id)! > 1);
  for (const id of twice) {
    const over = sim.submits.filter((s) => byText.get(s.body.toString('latin1')) === id);
    assert.ok(victimBinds.has(over[0]!.bind) && over[0]!.at <= exitedAt, `${id} was submitted ${over.length} times, first over bind ${over[0]!.bind} at ${over[0]!.at}: not in flight on the killed worker (bind ${[...victimBinds].join()}, killed at ${killedAt})`);
    assert.ok(leased.includes(id), `${id} was submitted ${over.length} times but was not leased when the worker was killed`);
    for (const s of over.slice(1)) assert.ok(!victimBinds.has(s.bind), `${id}: a later submit over the killed worker's bind`);
  }

  // The cluster-wide rate, per second on the simulator's clock.
  const perSecond = new Map<number, number>();
  for (const s of sim.submits) perSecond.set(Math.floor(s.at / 1000), (perSecond.get(Math.floor(s.at / 1000)) ?? 0) + 1);
  const busiest = Math.max(...perSecond.values());
  const overVictim = sim.submits.filter((s) => victimBinds.has(s.bind)).length;
  t.diagnostic(`${leased.length} messages leased at the kill, ${inFlight.length} of them named in the killed worker's log; the killed worker submitted ${overVictim}; ${twice.length} messages were submitted twice, each first by the killed worker before it recorded the submit (${twice.filter((id) => taken.has(id)).length} named in its log); ${unheard.length} live events lost with it (${unanswered.size} receipts it never answered, ${[...unanswered].filter((id) => !taken.has(id)).length} of them of messages its log does not name as its jobs); ${sim.submits.length} submits for ${MESSAGES} messages; busiest second ${busiest} submits (limit ${LIMIT})`);
  assert.ok(busiest <= LIMIT, `${busiest} submits in one second, over the limit of ${LIMIT}`);
  // The limit was what held the rate back (300 messages at once would go faster without it), so it was tested.
  assert.ok(busiest >= (LIMIT * 3) / 4, `the busiest second had only ${busiest} submits: the limit of ${LIMIT} was never reached`);
  // Sliding seconds too: a submit reaches the operator within GUARD_MS of its slot, so any 1000 − GUARD_MS ms of
  // arrivals hold the slots of at most one sliding second.
  const arrivals = sim.submits.map((s) => s.at).sort((a, b) => a - b);
  let sliding = 0;
  for (let i = 0, j = 0; i < arrivals.length; i++) {
    while (j < arrivals.length && arrivals[j]! < arrivals[i]! + 1000 - GUARD_MS) j++;
    sliding = Math.max(sliding, j - i);
  }
  assert.ok(sliding <= LIMIT, `${sliding} submits within ${1000 - GUARD_MS} ms, over the limit of ${LIMIT} a second`);

  // Graceful shutdown: every surviving node stops on SIGTERM and exits cleanly.
  const survivors = nodes.filter((n) => n !== victim);
  for (const n of survivors) n.child.kill('SIGTERM');
  const exits = await Promise.all(survivors.map((n) => n.exited));
  assert.deepEqual(exits.map((e) => e.code), survivors.map(() => 0), 'every node exited with 0 after SIGTERM');
});
