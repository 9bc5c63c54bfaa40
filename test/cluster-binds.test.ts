/**
 * Operator binds across the cluster, and customer SMPP across smpp nodes: 3
 * workers share a connector's `binds: 4` as 2/1/1 (the SMSC sees 4, not 12);
 * the worker with 2 is SIGKILLed and its binds reopen on the survivors within
 * the bind lease while traffic goes on. A customer submits on smpp node B and
 * gets every receipt on its receiver bind on smpp node A, whichever worker sent
 * the message and took its receipt from the operator.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { generateApiKey } from '../src/store/accounts.ts';
import { SmscSimulator } from '../src/smpp/simulator.ts';
import type { SmppSession } from '../src/smpp/session.ts';
import { bindCustomer, clusterEnv, createDatabase, endCluster, freePort, Node, redisUnavailable, until } from './cluster-nodes.ts';
import { postgresUnavailable } from './helpers.ts';

const BINDS = 4;
const LEASE_SECONDS = 2;

const why = (await postgresUnavailable()) ?? (await redisUnavailable());
if (why && process.env.CI === 'true') throw new Error(`CI=true but ${why}`);

/** binds the node runs now, from its last 'binds of this connector on this node' line */
const bindsOn = (node: Node) => {
  const lines = node.lines.filter((l) => l.msg === 'binds of this connector on this node');
  return lines.length === 0 ? 0 : Number(lines[lines.length - 1]!.binds);
};

test('cluster: binds: 4 over 3 workers are 2/1/1, move to the survivors when one is killed; receipts reach the customer on another smpp node', { skip: why ?? false, timeout: 120_000 }, async (t) => {
  const sim = new SmscSimulator({ accounts: { depesha: 'secret1' }, receiptDelayMs: 50 });
  const simPort = await sim.start();
  const database = await createDatabase();
  const prefix = `tb-${Date.now().toString(36)}`;
  const apiKey = generateApiKey();
  const nodes: Node[] = [];
  const sessions: SmppSession[] = [];
  t.after(() => endCluster({ sessions, nodes, close: [() => sim.stop()], database, prefix }));

  const env = clusterEnv({
    databaseUrl: database.url,
    prefix,
    apiKey,
    configFile: {
      connectors: [{ id: 'operator', type: 'smpp', host: '127.0.0.1', port: simPort, system_id: 'depesha', password: 'secret1', binds: BINDS, window: 20, reconnect_min_ms: 20, reconnect_max_ms: 200 }],
      routes: [{ connector: 'operator' }],
    },
  });
  const nodeEnv = { ...env, PORT: '0', DEPESHA_LEASE_SECONDS: '6', DEPESHA_BIND_LEASE_SECONDS: String(LEASE_SECONDS), DEPESHA_RETRY_INITIAL_DELAY_MS: '100' };
  const [portA, portB] = [await freePort(), await freePort()];
  const a = new Node('smpp-a', 'api,smpp,scheduler', { ...nodeEnv, SMPP_ENABLED: 'true', SMPP_HOST: '127.0.0.1', SMPP_PORT: String(portA) });
  nodes.push(a);
  const url = String((await a.started()).url);
  const b = new Node('smpp-b', 'smpp', { ...nodeEnv, SMPP_ENABLED: 'true', SMPP_HOST: '127.0.0.1', SMPP_PORT: String(portB) });
  const workers = [1, 2, 3].map((i) => new Node(`worker-${i}`, 'worker', nodeEnv));
  nodes.push(b, ...workers);
  await Promise.all([b, ...workers].map((n) => n.started()));

  await until('4 binds split 2/1/1', async () => (sim.bound === BINDS && workers.map(bindsOn).sort().join('/') === '1/1/2' ? true : undefined), 20_000);

  const res = await fetch(`${url}/v1/smpp/credentials`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ system_id: 'shop', password: 'pass1234' }) });
  assert.equal(res.status, 201, await res.text());
  const receipts = new Set<string>();
  const bind = async (port: number, mode: 'transmitter' | 'receiver') => {
    const session = await bindCustomer(port, mode, (id) => receipts.add(id));
    sessions.push(session);
    return session;
  };
  await bind(portA, 'receiver');
  const tx = await bind(portB, 'transmitter');
  const ids: string[] = [];
  const send = async (from: number, count: number) => {
    for (let i = from; i < from + count; i++) {
      const resp = await tx.request({ command: 'submit_sm', sourceAddr: 'Shop', sourceAddrTon: 5, destAddrTon: 1, destAddrNpi: 1, destinationAddr: `7916${String(2_000_000 + i)}`, registeredDelivery: 1, shortMessage: Buffer.from(`binds ${i}`) });
      assert.ok(resp.command === 'submit_sm_resp' && resp.status === 0, `submit ${i}: ${JSON.stringify(resp)}`);
      ids.push(resp.messageId);
    }
  };

  await send(0, 30);
  await until('the receipts of the first 30 on node A', async () => (ids.every((id) => receipts.has(id)) ? true : undefined), 20_000).catch(async (err: unknown) => {
    const pool = new pg.Pool({ connectionString: database.url, max: 1 });
    const rows = await pool.query('select status, count(*) from messages group by status');
    await pool.end();
    throw new Error(`${(err as Error).message}; receipts ${receipts.size}, submits ${sim.submits.length}, statuses ${JSON.stringify(rows.rows)}; A: ${a.lines.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`);
  });

  // The worker with two binds dies; the survivors take them over once its leases run out.
  const victim = workers.find((w) => bindsOn(w) === 2)!;
  const survivors = workers.filter((w) => w !== victim);
  victim.child.kill('SIGKILL');
  const killedAt = Date.now();
  await until('4 binds on the survivors', async () => (sim.bound === BINDS && survivors.map(bindsOn).sort().join('/') === '2/2' ? true : undefined), 15_000);
  const movedMs = Date.now() - killedAt;
  t.diagnostic(`binds moved to the survivors ${movedMs} ms after the kill (lease ${LEASE_SECONDS} s)`);
  // The lease, a renewal round (a third of it) and the binding itself.
  assert.ok(movedMs < LEASE_SECONDS * 1000 * 2 + 2000, `binds took ${movedMs} ms to move`);
  assert.ok(sim.bound <= BINDS);

  await send(30, 30);
  await until('every receipt on node A', async () => (ids.every((id) => receipts.has(id)) ? true : undefined), 30_000);
  assert.equal(receipts.size >= ids.length, true);
  assert.equal(sim.bound, BINDS, 'never more than the configured binds');
});
