/**
 * Redis and PostgreSQL restarting under load (issue 5): a cluster (an API
 * node, two workers running one of the operator's two binds each, a
 * scheduler) on a Redis and a PostgreSQL of the test's own, a client sending
 * all the while and retrying what failed with the same Idempotency-Key, as a
 * client of an HTTP API does. Redis is killed and started again empty (no
 * persistence: the queued jobs, the leader lock and the bind leases are
 * gone) within two thirds of a bind lease, so that both workers still run
 * their binds when it is back: the operator must never see more than the two
 * binds configured. Then PostgreSQL crashes (an immediate stop) and starts
 * again. Nothing is restarted by hand on the Depesha side: the nodes must
 * recover by themselves, and every acknowledged message must be delivered.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import pg from 'pg';
import { generateApiKey } from '../src/store/accounts.ts';
import { SmscSimulator } from '../src/smpp/simulator.ts';
import { clusterEnv, clusterSkip, freePort, Node, privatePostgres, privateRedis, until } from './cluster-nodes.ts';

const skip = await clusterSkip();

const BINDS = 2;
/** the bind lease: Redis is back within two thirds of it, while the workers still run their binds */
const BIND_LEASE_SECONDS = 9;

test('Redis restarted empty, then PostgreSQL crashed and restarted, under load: the cluster recovers by itself and every acknowledged message is delivered', { skip, timeout: 300_000 }, async (t) => {
  const redis = await privateRedis();
  const postgres = await privatePostgres();
  const sim = new SmscSimulator({ accounts: { depesha: 'secret1' }, receiptDelayMs: 50 });
  const simPort = await sim.start();
  const apiKey = generateApiKey();
  const env = {
    ...clusterEnv({
      databaseUrl: postgres.url,
      prefix: 'outage',
      apiKey,
      configFile: {
        connectors: [{ id: 'operator', type: 'smpp', host: '127.0.0.1', port: simPort, system_id: 'depesha', password: 'secret1', reconnect_min_ms: 20, reconnect_max_ms: 200, binds: BINDS }],
        routes: [{ connector: 'operator' }],
      },
    }),
    REDIS_URL: redis.url,
    DEPESHA_RETRY_INITIAL_DELAY_MS: '100',
    DEPESHA_LEASE_SECONDS: '10',
    DEPESHA_BIND_LEASE_SECONDS: String(BIND_LEASE_SECONDS),
  };
  const port = await freePort();
  const nodes = [new Node('api', 'api', { ...env, PORT: String(port) })];
  t.after(async () => {
    // DEPESHA_TEST_DUMP=/tmp/x keeps every node's log lines in /tmp/x.<node>, to see what went wrong.
    if (process.env.DEPESHA_TEST_DUMP) for (const n of nodes) writeFileSync(`${process.env.DEPESHA_TEST_DUMP}.${n.name}`, n.lines.map((l) => JSON.stringify(l)).join('\n'));
    for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    await sim.stop();
    await redis.stop();
    await postgres.stop();
  });
  // The API node first: it runs the migrations.
  await nodes[0]!.started();
  nodes.push(new Node('worker-1', 'worker', env), new Node('worker-2', 'worker', env), new Node('scheduler', 'scheduler', env));
  await Promise.all(nodes.map((n) => n.started()));
  const bindsOf = (n: Node) => Number(n.lines.filter((l) => l.msg === 'binds of this connector on this node').at(-1)?.binds ?? 0);
  const workers = nodes.filter((n) => n.name.startsWith('worker'));
  await until('one bind on each worker', async () => (sim.bound === BINDS && workers.every((w) => bindsOf(w) === 1) ? true : undefined), 30_000);

  const base = `http://127.0.0.1:${port}`;
  const acked = new Map<string, string>();
  const failures = new Map<string, number>();
  const gaveUp: string[] = [];
  let seq = 0;
  let loading = true;
  // A failing step ends the load too: the clients would otherwise go on trying the stopped nodes and the file never end.
  t.after(() => {
    loading = false;
  });
  const send = async (i: number) => {
    const text = `outage ${i}`;
    const body = JSON.stringify({ to: `+7916${String(3_000_000 + i).padStart(7, '0')}`, text });
    // A key whose first try died with the database stays in use for 30 s (IDEMPOTENCY_CLAIM_STALE_MS): a client keeps trying past that.
    for (const deadline = Date.now() + 90_000; Date.now() < deadline; ) {
      let status = 0;
      let json: { id?: string; error?: { code: string } } = {};
      try {
        const res = await fetch(`${base}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'idempotency-key': `outage-${i}` }, body, signal: AbortSignal.timeout(10_000) });
        status = res.status;
        json = (await res.json()) as typeof json;
      } catch {
        status = -1; // no answer
      }
      if (status === 202) return void acked.set(text, json.id!);
      // 5xx while the database is away, or a first try still in progress: a client tries again, with the same key.
      const kind = status === -1 ? 'no answer' : `${status} ${json.error?.code ?? ''}`.trim();
      failures.set(kind, (failures.get(kind) ?? 0) + 1);
      if (status !== -1 && status < 500 && status !== 409) return void gaveUp.push(`${text}: ${kind}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    gaveUp.push(`${text}: still failing`);
  };
  const client = async () => {
    while (loading) {
      await send(seq++);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const load = Promise.all([client(), client()]);
  const more = (n: number, what: string) => {
    const before = acked.size;
    return until(what, async () => (acked.size >= before + n ? true : undefined), 60_000);
  };
  // The test's own reads; its connections die with the server like the nodes' do (that must not crash the test).
  const openPool = () => {
    const pool = new pg.Pool({ connectionString: postgres.url, max: 2 });
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    return pool;
  };
  const deliveredCount = async (db: pg.Pool, ids: string[]) =>
    ids.length === 0 ? 0 : (await db.query<{ n: number }>(`select count(*)::int as n from messages where status = 'delivered' and id = any($1)`, [ids])).rows[0]!.n;

  await more(30, 'load before the Redis restart');
  // Redis dies: the queue's jobs, the leader lock and the rate schedule with it. The API still accepts (the row is the truth).
  await redis.kill();
  const redisKilledAt = Date.now();
  await more(5, 'messages accepted while Redis is down');
  await redis.start();
  const redisBackAt = Date.now();
  const redisDownMs = redisBackAt - redisKilledAt;
  t.diagnostic(`Redis was down ${redisDownMs} ms (bind lease ${BIND_LEASE_SECONDS} s)`);
  // Back before the workers close their binds (two thirds of a lease without renewing): they still run them.
  assert.ok(redisDownMs < (BIND_LEASE_SECONDS * 1000 * 2) / 3, `Redis was down ${redisDownMs} ms: the workers may have closed their binds, which this test is not about`);
  const afterRedis = [...acked.values()];
  let db = openPool();
  await until('every message accepted up to the Redis restart delivered', async () => ((await deliveredCount(db, afterRedis)) === afterRedis.length ? true : undefined), 60_000);
  await db.end();
  // The empty Redis's first rounds (a round every third of a lease), the lease in which the workers only take back the
  // slots of the binds they run, and a round after it: each worker keeps its bind, none takes the other's. What must
  // not happen has no event to wait for: this watches for a bounded time.
  await until('a bind lease and a round after the Redis restart', async () => (Date.now() > redisBackAt + (BIND_LEASE_SECONDS * 1000 * 4) / 3 ? true : undefined), 30_000);
  assert.ok(sim.peakBound <= BINDS, `after Redis restarted empty the operator saw ${sim.peakBound} binds at once, more than the ${BINDS} configured`);
  assert.deepEqual([sim.bound, ...workers.map(bindsOf)], [BINDS, 1, 1], 'each worker kept its bind');

  await more(20, 'load before the PostgreSQL crash');
  const failedBefore = [...failures.values()].reduce((a, b) => a + b, 0);
  await postgres.crash();
  // Requests fail while it is down (the client retries them); wait until some did, then bring it back.
  await until('requests failing while PostgreSQL is down', async () => ([...failures.values()].reduce((a, b) => a + b, 0) >= failedBefore + 5 ? true : undefined), 30_000);
  await postgres.start();
  await more(30, 'load after PostgreSQL is back');
  loading = false;
  await load;

  assert.deepEqual(gaveUp, [], `every request was acknowledged in the end (retried with its key); failed tries: ${JSON.stringify(Object.fromEntries(failures))}; API log: ${nodes[0]!.lines.filter((l) => (l.level as number) >= 40).slice(-5).map((l) => JSON.stringify(l)).join(' | ')}`);
  const ids = [...acked.values()];
  db = openPool();
  t.after(() => db.end());
  await until('every acknowledged message delivered', async () => ((await deliveredCount(db, ids)) === ids.length ? true : undefined), 90_000).catch(async (err: Error) => {
    const open = (await db.query(`select id, status, attempts, due_at, lease_until, reason_code from messages where status <> 'delivered' and id = any($1) limit 5`, [ids])).rows;
    const logs = nodes.map((n) => `${n.name}: ${n.lines.filter((l) => (l.level as number) >= 40).slice(-4).map((l) => JSON.stringify(l).slice(0, 400)).join(' | ')}`);
    throw new Error(`${err.message}; not delivered (first 5): ${JSON.stringify(open)}; now ${Date.now()}; logs: ${logs.join(' || ')}`);
  });
  const stored = (await db.query<{ status: string; n: number }>(`select status, count(*)::int as n from messages group by status order by status`)).rows;
  const submits = new Map<string, number>();
  for (const s of sim.submits) submits.set(s.body.toString('latin1'), (submits.get(s.body.toString('latin1')) ?? 0) + 1);
  const twice = [...submits].filter(([, n]) => n > 1).length;
  t.diagnostic(`${ids.length} acknowledged, all delivered; stored by status ${JSON.stringify(stored)}; failed tries retried: ${JSON.stringify(Object.fromEntries(failures))}; submitted twice: ${twice}`);
  for (const text of acked.keys()) assert.ok((submits.get(text) ?? 0) >= 1, `${text} reached the operator`);
  assert.ok(sim.peakBound <= BINDS, `the operator saw ${sim.peakBound} binds at once, more than the ${BINDS} configured`);
  // Every node is still the one started: none had to be restarted to recover.
  for (const n of nodes) assert.equal(n.child.exitCode, null, `${n.name} is still running`);
});
