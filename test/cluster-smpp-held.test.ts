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
import pg from 'pg';
import { generateApiKey } from '../src/store/accounts.ts';
import { SmscSimulator } from '../src/smpp/simulator.ts';
import type { BindMode, SmppSession } from '../src/smpp/session.ts';
import { bindCustomer, clusterEnv, createDatabase, endCluster, freePort, Node, redisUnavailable, until } from './cluster-nodes.ts';
import { postgresUnavailable } from './helpers.ts';

const MESSAGES = 30;

const why = (await postgresUnavailable()) ?? (await redisUnavailable());
if (why && process.env.CI === 'true') throw new Error(`CI=true but ${why}`);

test('cluster: receipts held while no smpp node has a receiving bind reach a receiver bound later on another node, each exactly once', { skip: why ?? false, timeout: 120_000 }, async (t) => {
  const sim = new SmscSimulator({ accounts: { depesha: 'secret1' }, receiptDelayMs: 50 });
  const simPort = await sim.start();
  const database = await createDatabase();
  const db = new pg.Pool({ connectionString: database.url, max: 1 });
  const prefix = `tsh-${Date.now().toString(36)}`;
  const apiKey = generateApiKey();
  const nodes: Node[] = [];
  const sessions: SmppSession[] = [];
  t.after(() => endCluster({ sessions, nodes, close: [() => db.end(), () => sim.stop()], database, prefix }));

  const env = clusterEnv({
    databaseUrl: database.url,
    prefix,
    apiKey,
    configFile: {
      connectors: [{ id: 'operator', type: 'smpp', host: '127.0.0.1', port: simPort, system_id: 'depesha', password: 'secret1', binds: 1, window: 20, reconnect_min_ms: 20, reconnect_max_ms: 200 }],
      routes: [{ connector: 'operator' }],
    },
  });
  const nodeEnv = { ...env, PORT: '0', DEPESHA_LEASE_SECONDS: '6', DEPESHA_BIND_LEASE_SECONDS: '2', DEPESHA_RETRY_INITIAL_DELAY_MS: '100' };
  const [portA, portB] = [await freePort(), await freePort()];
  const api = new Node('api', 'api,scheduler', nodeEnv);
  nodes.push(api);
  const url = String((await api.started()).url);
  const a = new Node('smpp-a', 'smpp', { ...nodeEnv, SMPP_ENABLED: 'true', SMPP_HOST: '127.0.0.1', SMPP_PORT: String(portA) });
  const b = new Node('smpp-b', 'smpp', { ...nodeEnv, SMPP_ENABLED: 'true', SMPP_HOST: '127.0.0.1', SMPP_PORT: String(portB) });
  const worker = new Node('worker', 'worker', nodeEnv);
  nodes.push(a, b, worker);
  await Promise.all([a, b, worker].map((n) => n.started()));
  await until('the operator bound', async () => (sim.bound === 1 ? true : undefined), 20_000);

  const res = await fetch(`${url}/v1/smpp/credentials`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ system_id: 'shop', password: 'pass1234', max_binds: 2 }) });
  assert.equal(res.status, 201, await res.text());

  /** receipts by message id, per bind */
  const got = new Map<string, Map<string, number>>();
  const bind = async (name: string, port: number, mode: BindMode) => {
    const mine = new Map<string, number>();
    got.set(name, mine);
    const session = await bindCustomer(port, mode, (id) => mine.set(id, (mine.get(id) ?? 0) + 1));
    sessions.push(session);
    return session;
  };
  const tx = await bind('tx-a', portA, 'transmitter');
  const ids: string[] = [];
  /** submits `n` over A's transmitter and waits until all of them are delivered: their receipts are owed to the customer */
  const submitAndDeliver = async (n: number) => {
    const sent: string[] = [];
    for (let i = 0; i < n; i++) {
      const k = ids.length;
      const resp = await tx.request({ command: 'submit_sm', sourceAddr: 'Shop', sourceAddrTon: 5, destAddrTon: 1, destAddrNpi: 1, destinationAddr: `7916${String(4_000_000 + k)}`, registeredDelivery: 1, shortMessage: Buffer.from(`held ${k}`) });
      assert.ok(resp.command === 'submit_sm_resp' && resp.status === 0, `submit ${k}: ${JSON.stringify(resp)}`);
      ids.push(resp.messageId);
      sent.push(resp.messageId);
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
  const position = async () => (await db.query<{ last_event_id: string }>(`select c.last_event_id from smpp_receipt_cursors c join smpp_credentials s on s.id = c.credential_id where s.system_id = 'shop'`)).rows[0]?.last_event_id;
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
