/**
 * A rolling restart of a whole cluster under load: the scheduler, both
 * workers and both API nodes are stopped with SIGTERM and started again, one
 * at a time, while a client keeps sending through the API nodes the way a
 * balancer would (a request whose connection was refused never reached a node
 * and goes to the other, with the same Idempotency-Key; a request cut any other
 * way may have been read, and counts as refused). No request may be refused, every acknowledged
 * message must be delivered, and none may be submitted twice: a node that
 * stops finishes or hands back what it holds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clusterSkip, freePort, type Node, smppCluster, until } from './cluster-nodes.ts';

const skip = await clusterSkip();

test('rolling restart of every node under load: no request refused, every message delivered once', { skip, timeout: 240_000 }, async (t) => {
  const cluster = await smppCluster(t, {
    prefix: 'tr',
    connector: { max_submits_per_second: 100, binds: 2 },
    env: { DEPESHA_RETRY_INITIAL_DELAY_MS: '100', DEPESHA_LEASE_SECONDS: '10' },
    poolSize: 2,
  });
  const { sim, db, apiKey } = cluster;
  /** the nodes running now, by name (the cluster stops every node it started, these and the restarted ones) */
  const running = new Map<string, Node>();
  const ports = { 'api-1': await freePort(), 'api-2': await freePort() };
  const roles: Record<string, string> = { 'api-1': 'api', 'api-2': 'api', scheduler: 'scheduler', 'worker-1': 'worker', 'worker-2': 'worker' };
  const start = async (name: string) => {
    const node = cluster.node(name, roles[name]!, { PORT: String(ports[name as keyof typeof ports] ?? 0) });
    running.set(name, node);
    await node.started();
    return node;
  };
  await start('api-1');
  for (const name of ['api-2', 'scheduler', 'worker-1', 'worker-2']) await start(name);
  await cluster.bound(2, 'two binds', 30_000);

  // The client: requests go round the API nodes; one that cannot reach a node goes to the other with the same key
  // (nginx's proxy_next_upstream error timeout, docs/deploy.md). Any answer but 202 is a refusal: a node on its way
  // down serves what reaches it, it does not answer 503.
  const bases = Object.values(ports).map((p) => `http://127.0.0.1:${p}`);
  const acked = new Map<string, string>();
  const refused: string[] = [];
  /** requests refused a connection (never sent), tried on the other node */
  let retried = 0;
  /** requests that failed any other way (counted among the refused) */
  let failed = 0;
  let seq = 0;
  let loading = true;
  // A failing step ends the load too: the clients would otherwise go on trying the stopped nodes and the file never end.
  t.after(() => {
    loading = false;
  });
  const send = async (i: number) => {
    const text = `roll ${i}`;
    const body = JSON.stringify({ to: `+7916${String(2_000_000 + i).padStart(7, '0')}`, text });
    for (let attempt = 0; attempt < 40; attempt++) {
      const base = bases[(i + attempt) % bases.length]!;
      let res: Response;
      try {
        res = await fetch(`${base}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'idempotency-key': `roll-${i}` }, body });
      } catch (err) {
        // Only a refused connection never reached a node (it is restarting): the balancer tries the other. Any other
        // failure (a reset, a socket closed under the request) may come after the node read the request: a refusal.
        if ((err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') {
          retried++;
          continue;
        }
        failed++;
        return void refused.push(`${text}: ${describe(err)}`);
      }
      const json = (await res.json()) as { id?: string; error?: { code: string } };
      if (res.status === 202) return void acked.set(text, json.id!);
      if (res.status === 409 && json.error?.code === 'idempotency_key_in_use') {
        await new Promise((resolve) => setTimeout(resolve, 200)); // its first try is still being answered
        continue;
      }
      return void refused.push(`${text}: ${res.status} ${JSON.stringify(json)}`);
    }
    refused.push(`${text}: no node answered`);
  };
  const client = async () => {
    while (loading) {
      await send(seq++);
      await new Promise((resolve) => setTimeout(resolve, 50)); // at most about 30 requests a second over 2 clients: bounded, and light beside the suites running alongside
    }
  };
  const load = Promise.all([client(), client()]);

  const restarts: string[] = [];
  for (const name of ['scheduler', 'worker-1', 'worker-2', 'api-1', 'api-2']) {
    const before = acked.size;
    await until(`load before restarting ${name}`, async () => (acked.size >= before + 20 ? true : undefined));
    const old = running.get(name)!;
    old.child.kill('SIGTERM');
    const exit = await old.exited;
    assert.equal(exit.code, 0, `${name} exited with ${exit.code ?? exit.signal} after SIGTERM`);
    await start(name);
    if (name.startsWith('worker')) await cluster.bound(2, 'the binds back', 30_000);
    restarts.push(name);
  }
  const before = acked.size;
  await until('load after the restarts', async () => (acked.size >= before + 20 ? true : undefined));
  loading = false;
  await load;
  t.diagnostic(`${retried} requests refused a connection and tried on the other node; ${failed} failed otherwise (after they may have been sent)`);
  assert.equal(failed, 0, `requests failed after they may have been sent: ${refused.join('; ')}`);
  assert.deepEqual(refused, [], 'no request refused');
  assert.deepEqual(restarts, ['scheduler', 'worker-1', 'worker-2', 'api-1', 'api-2']);

  const ids = [...acked.values()];
  await until(
    'every message final',
    async () => ((await db.query(`select count(*)::int as n from messages where status in ('accepted', 'queued', 'sent')`)).rows[0].n === 0 ? true : undefined),
    40_000,
  );
  const statuses = (await db.query<{ status: string; n: number }>(`select status, count(*)::int as n from messages group by status`)).rows;
  assert.deepEqual(statuses, [{ status: 'delivered', n: ids.length }], 'every acknowledged message delivered, and no other message stored');
  const submits = new Map<string, number>();
  for (const s of sim.submits) submits.set(s.body.toString('latin1'), (submits.get(s.body.toString('latin1')) ?? 0) + 1);
  const twice = [...submits].filter(([, n]) => n > 1);
  t.diagnostic(`${ids.length} messages over 5 restarts; ${twice.length} submitted twice`);
  assert.deepEqual(twice, [], 'no message submitted twice');
  for (const text of acked.keys()) assert.equal(submits.get(text), 1, `${text} submitted once`);
});

/** a fetch failure and its cause, as one line */
function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return `${(err as Error).message}${cause ? ` (${cause.code ?? ''} ${cause.message ?? ''})` : ''}`;
}
