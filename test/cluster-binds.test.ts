/**
 * Operator binds across the cluster, and customer SMPP across smpp nodes: 3
 * workers share a connector's `binds: 4` as 2/1/1 (the SMSC sees 4, not 12);
 * the worker with 2 is SIGKILLed and its binds reopen on the survivors within
 * the bind lease while traffic goes on. The api node (no worker role, no
 * connectors of its own) shows the connector merged over the live workers in
 * GET /v1/connectors, and the killed worker drops out of it within the lease. A customer submits on smpp node B and
 * gets every receipt on its receiver bind on smpp node A, whichever worker sent
 * the message and took its receipt from the operator.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bindsOn, clusterSkip, freePort, smppCluster, submitSm, until } from './cluster-nodes.ts';

const BINDS = 4;
const LEASE_SECONDS = 2;
const WINDOW = 20;

const skip = await clusterSkip();

interface ConnectorJson {
  id: string;
  status: string;
  links_up: number;
  links_total: number;
  nodes?: { node: string; status: string; links_up: number; links_total: number }[];
}

/** the node ids' pid (host:pid:random) */
const pidOf = (node: string) => Number(node.split(':').at(-2));

test('cluster: binds: 4 over 3 workers are 2/1/1, move to the survivors when one is killed; receipts reach the customer on another smpp node', { skip, timeout: 120_000 }, async (t) => {
  const cluster = await smppCluster(t, {
    prefix: 'tb',
    // Each submit answered after 50 ms, so that a burst fills a bind's window (checked at the end).
    simulator: { submitDelayMs: 50 },
    connector: { binds: BINDS, window: WINDOW },
    env: { DEPESHA_LEASE_SECONDS: '6', DEPESHA_BIND_LEASE_SECONDS: String(LEASE_SECONDS), DEPESHA_RETRY_INITIAL_DELAY_MS: '100' },
  });
  const { sim, db } = cluster;
  const [portA, portB] = [await freePort(), await freePort()];
  const a = cluster.smppNode('smpp-a', 'api,smpp,scheduler', portA);
  const url = String((await a.started()).url);
  const b = cluster.smppNode('smpp-b', 'smpp', portB);
  const workers = [1, 2, 3].map((i) => cluster.node(`worker-${i}`, 'worker'));
  await Promise.all([b, ...workers].map((n) => n.started()));

  await until('4 binds split 2/1/1', async () => (sim.bound === BINDS && workers.map(bindsOn).sort().join('/') === '1/1/2' ? true : undefined), 20_000);

  // The api node runs no connector: GET /v1/connectors there is the workers' reports merged.
  const connectors = async (): Promise<ConnectorJson[]> => {
    const res = await fetch(`${url}/v1/connectors`, { headers: { authorization: `Bearer ${cluster.apiKey}` } });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { data: ConnectorJson[] }).data;
  };
  const operator = async (): Promise<ConnectorJson> => {
    const res = await fetch(`${url}/v1/connectors/operator`, { headers: { authorization: `Bearer ${cluster.apiKey}` } });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as ConnectorJson;
  };
  /** the workers' binds as the api node shows them: links up per worker, by pid */
  const shown = (c: ConnectorJson) => new Map((c.nodes ?? []).map((n) => [pidOf(n.node), n.links_up]));
  // Each worker's part as it runs it (the split may still settle: a report is up to a second old on the HTTP side).
  const matches = (c: ConnectorJson | undefined, nodes: typeof workers) =>
    c !== undefined && c.links_up === BINDS && c.nodes?.length === nodes.length && nodes.every((w) => shown(c).get(w.child.pid!) === bindsOn(w));
  const all3 = await until('the api node shows the 4 binds of the 3 workers, each worker\'s own', async () => {
    const c = (await connectors()).find((x) => x.id === 'operator');
    return matches(c, workers) ? c : undefined;
  }, 15_000).catch(async (err: unknown) => {
    throw new Error(`${(err as Error).message}; shown: ${JSON.stringify(await operator())}; workers: ${workers.map((w) => `${w.child.pid} ${bindsOn(w)}`).join(', ')}`);
  });
  assert.equal(all3.status, 'up');
  assert.equal(all3.links_total, BINDS);
  assert.equal(all3.links_up, sim.bound, 'links up as the SMSC sees binds');
  const one = await operator();
  assert.deepEqual([one.status, one.links_up, one.links_total, one.nodes?.length], ['up', BINDS, BINDS, 3], 'GET /v1/connectors/operator: the same');

  await cluster.smppLogin(url);
  // Every receipt must reach the receiver on A, whichever worker sent the message.
  await cluster.bind('rx-a', portA, 'receiver');
  const receipts = cluster.receipts.get('rx-a')!;
  const tx = await cluster.bind('tx-b', portB, 'transmitter');
  const ids: string[] = [];
  const send = async (from: number, count: number) => {
    for (let i = from; i < from + count; i++) ids.push(await submitSm(tx, `7916${String(2_000_000 + i)}`, `binds ${i}`));
  };

  await send(0, 30);
  await until('the receipts of the first 30 on node A', async () => (ids.every((id) => receipts.has(id)) ? true : undefined), 20_000).catch(async (err: unknown) => {
    const rows = await db.query('select status, count(*) from messages group by status');
    throw new Error(`${(err as Error).message}; receipts ${receipts.size}, submits ${sim.submits.length}, statuses ${JSON.stringify(rows.rows)}; A: ${a.lines.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`);
  });

  // The worker with two binds dies; the survivors take them over once its leases run out.
  const victim = workers.find((w) => bindsOn(w) === 2)!;
  const survivors = workers.filter((w) => w !== victim);
  victim.child.kill('SIGKILL');
  const killedAt = Date.now();
  const gone = until('the killed worker gone from GET /v1/connectors', async () => {
    const c = await operator();
    return c.nodes?.some((n) => pidOf(n.node) === victim.child.pid) ? undefined : c;
  }, 15_000).then((c) => ({ c, ms: Date.now() - killedAt }));
  gone.catch(() => {}); // awaited below
  await until('4 binds on the survivors', async () => (sim.bound === BINDS && survivors.map(bindsOn).sort().join('/') === '2/2' ? true : undefined), 15_000);
  const movedMs = Date.now() - killedAt;
  t.diagnostic(`binds moved to the survivors ${movedMs} ms after the kill (lease ${LEASE_SECONDS} s)`);
  // The lease, a renewal round (a third of it) and the binding itself.
  assert.ok(movedMs < LEASE_SECONDS * 1000 * 2 + 2000, `binds took ${movedMs} ms to move`);
  assert.ok(sim.bound <= BINDS);
  const dropped = await gone;
  t.diagnostic(`the killed worker left GET /v1/connectors ${dropped.ms} ms after the kill`);
  // Its report lives a lease; the api node reads every 250 ms and its HTTP side takes the delivery thread's view every second.
  assert.ok(dropped.ms < LEASE_SECONDS * 1000 + 2000, `the killed worker was shown ${dropped.ms} ms after the kill`);
  assert.deepEqual([...shown(dropped.c).keys()].sort(), survivors.map((w) => w.child.pid!).sort());
  const moved = await until('the api node shows the 4 binds on the survivors, 2 each', async () => {
    const c = await operator();
    return matches(c, survivors) ? c : undefined;
  }, 15_000);
  assert.equal(moved.status, 'up');
  assert.deepEqual(survivors.map((w) => shown(moved).get(w.child.pid!)), [2, 2]);

  await send(30, 30);
  await until('every receipt on node A', async () => (ids.every((id) => receipts.has(id)) ? true : undefined), 30_000);
  assert.equal(receipts.size >= ids.length, true);
  assert.equal(sim.bound, BINDS, 'never more than the configured binds');

  // A burst over HTTP: the survivors fill their binds' windows, and no bind ever has more unanswered submits.
  const before = sim.submits.length;
  const burst = Array.from({ length: 400 }, (_, i) => `+7916${String(3_000_000 + i)}`);
  const res = await fetch(`${url}/v1/messages/bulk`, { method: 'POST', headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ to: burst, text: 'window' }) });
  assert.equal(res.status, 202, await res.text());
  await until('the burst submitted', async () => (sim.submits.length - before >= burst.length ? true : undefined), 30_000);
  const most = Math.max(...sim.binds.map((b) => b.maxOutstanding));
  t.diagnostic(`most unanswered submits on one bind: ${most} (window ${WINDOW}); binds open at once at most: ${sim.peakBound}`);
  assert.ok(most <= WINDOW, `a bind had ${most} unanswered submits, over its window of ${WINDOW}`);
  assert.equal(most, WINDOW, 'the burst filled a window (else this check proves nothing)');
  assert.ok(sim.peakBound <= BINDS, `the operator saw ${sim.peakBound} binds at once, more than the configured ${BINDS}`);
});
