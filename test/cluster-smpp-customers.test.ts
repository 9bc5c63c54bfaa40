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
import pg from 'pg';
import { generateApiKey } from '../src/store/accounts.ts';
import { CommandStatus } from '../src/smpp/pdu.ts';
import { SmscSimulator } from '../src/smpp/simulator.ts';
import { SmppBindError, type BindMode, type SmppSession } from '../src/smpp/session.ts';
import { bindCustomer, clusterEnv, createDatabase, endCluster, freePort, Node, redisUnavailable, TEST_REDIS_URL, until } from './cluster-nodes.ts';
import { postgresUnavailable } from './helpers.ts';

const LEASE_SECONDS = 2;

const why = (await postgresUnavailable()) ?? (await redisUnavailable());
if (why && process.env.CI === 'true') throw new Error(`CI=true but ${why}`);

test('cluster: a login\'s max_binds holds across smpp nodes, each receipt reaches one receiving bind, the feed and the places move when a node is killed', { skip: why ?? false, timeout: 150_000 }, async (t) => {
  const sim = new SmscSimulator({ accounts: { depesha: 'secret1' }, receiptDelayMs: 50 });
  const simPort = await sim.start();
  const database = await createDatabase();
  const db = new pg.Pool({ connectionString: database.url, max: 1 });
  const prefix = `tsm-${Date.now().toString(36)}`;
  const apiKey = generateApiKey();
  const nodes: Node[] = [];
  const sessions: SmppSession[] = [];
  t.after(() => endCluster({ sessions, nodes, close: [() => db.end(), () => sim.stop()], database, prefix }));

  const env = clusterEnv({
    databaseUrl: database.url,
    prefix,
    apiKey,
    configFile: {
      connectors: [{ id: 'operator', type: 'smpp', host: '127.0.0.1', port: simPort, system_id: 'depesha', password: 'secret1', binds: 2, window: 20, reconnect_min_ms: 20, reconnect_max_ms: 200 }],
      routes: [{ connector: 'operator' }],
    },
  });
  const nodeEnv = { ...env, PORT: '0', DEPESHA_LEASE_SECONDS: '6', DEPESHA_BIND_LEASE_SECONDS: String(LEASE_SECONDS), DEPESHA_RETRY_INITIAL_DELAY_MS: '100' };
  const [portA, portB] = [await freePort(), await freePort()];
  const api = new Node('api', 'api,scheduler', nodeEnv);
  nodes.push(api);
  const url = String((await api.started()).url);
  const a = new Node('smpp-a', 'smpp', { ...nodeEnv, SMPP_ENABLED: 'true', SMPP_HOST: '127.0.0.1', SMPP_PORT: String(portA) });
  const b = new Node('smpp-b', 'smpp', { ...nodeEnv, SMPP_ENABLED: 'true', SMPP_HOST: '127.0.0.1', SMPP_PORT: String(portB) });
  const worker = new Node('worker', 'worker', nodeEnv);
  nodes.push(a, b, worker);
  await Promise.all([a, b, worker].map((n) => n.started()));
  await until('the operator bound', async () => (sim.bound === 2 ? true : undefined), 20_000);

  const res = await fetch(`${url}/v1/smpp/credentials`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ system_id: 'shop', password: 'pass1234', max_binds: 2 }) });
  assert.equal(res.status, 201, await res.text());

  /** receipts by message id, per bind */
  const got = new Map<string, Map<string, number>>();
  const count = (id: string) => [...got.values()].reduce((n, m) => n + (m.get(id) ?? 0), 0);
  const bind = async (name: string, port: number, mode: BindMode) => {
    const mine = new Map<string, number>();
    got.set(name, mine);
    const session = await bindCustomer(port, mode, (id) => mine.set(id, (mine.get(id) ?? 0) + 1));
    sessions.push(session);
    return session;
  };
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
      const resp = await via.request({ command: 'submit_sm', sourceAddr: 'Shop', sourceAddrTon: 5, destAddrTon: 1, destAddrNpi: 1, destinationAddr: `7916${String(3_000_000 + k)}`, registeredDelivery: 1, shortMessage: Buffer.from(`feed ${k}`) });
      assert.ok(resp.command === 'submit_sm_resp' && resp.status === 0, `submit ${k}: ${JSON.stringify(resp)}`);
      ids.push(resp.messageId);
      sent.push(resp.messageId);
    }
    return sent;
  };
  /** the last final event of these messages is behind the login's stored position: nothing more is owed for them */
  const settled = (of: string[]) =>
    until(
      'the stored position past every receipt',
      async () => {
        const last = await db.query<{ id: string }>(`select max(id) as id from message_events where message_id = any($1) and status in ('delivered','undelivered','expired','rejected','failed')`, [of]);
        const cursor = await db.query<{ last_event_id: string }>(`select c.last_event_id from smpp_receipt_cursors c join smpp_credentials s on s.id = c.credential_id where s.system_id = 'shop'`);
        const lastId = last.rows[0]?.id;
        return lastId && cursor.rows[0] && cursor.rows[0].last_event_id >= lastId ? true : undefined;
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
