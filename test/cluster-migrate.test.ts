/**
 * Three nodes started at once, as separate processes, on an empty PostgreSQL
 * database: every one starts, one applies the migrations (the others find none
 * pending), one bootstraps (the others find its account), and the first start's
 * rows exist once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clusterSkip, smppCluster } from './cluster-nodes.ts';

const skip = await clusterSkip();

test('cluster: three nodes starting at once on an empty database migrate it once and bootstrap it once', { skip, timeout: 240_000 }, async (t) => {
  const cluster = await smppCluster(t, { prefix: 'migrate', connector: { binds: 1 }, env: { DEPESHA_ADMIN_PASSWORD: 'first-start-secret' } });
  const nodes = [cluster.node('api-1', 'api'), cluster.node('api-2', 'api'), cluster.node('worker', 'worker,scheduler')];
  // Longer than started()'s minute: three processes type-strip and start at once, on a machine other suites share.
  const started = await Promise.all(nodes.map((n) => n.waitForLine((l) => l.msg === 'depesha started', 'start', 150_000)));

  const migrated = nodes.filter((n) => n.lines.some((l) => l.msg === 'migrations applied'));
  assert.equal(migrated.length, 1, `one node applies the migrations: ${migrated.map((n) => n.name).join(', ') || 'none'}`);
  const logged = migrated[0]!.lines.find((l) => l.msg === 'migrations applied')!.migrations as string[];
  const recorded = (await cluster.db.query<{ name: string }>('select name from kysely_migration order by name')).rows.map((r) => r.name);
  assert.deepEqual(logged, recorded, 'the node names every migration the database records');
  assert.equal(logged[0], '001-initial');

  const bootstrapped = nodes.filter((n) => n.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('bootstrapped')));
  assert.equal(bootstrapped.length, 1, `one node bootstraps: ${bootstrapped.map((n) => n.name).join(', ') || 'none'}`);
  const count = async (table: string) => Number((await cluster.db.query<{ n: string }>(`select count(*) as n from ${table}`)).rows[0]!.n);
  assert.deepEqual({ accounts: await count('accounts'), apiKeys: await count('api_keys'), users: await count('users') }, { accounts: 1, apiKeys: 1, users: 1 }, 'the first start\'s rows, once');

  // The one bootstrap key and administrator work on either API node.
  for (const url of started.slice(0, 2).map((l) => String(l.url))) {
    const key = await fetch(`${url}/v1/session`, { headers: { authorization: `Bearer ${cluster.apiKey}` } });
    assert.equal(key.status, 200, await key.text());
    const signIn = await fetch(`${url}/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'admin@depesha.local', password: 'first-start-secret' }) });
    assert.equal(signIn.status, 201, await signIn.text());
  }
  for (const n of nodes) assert.equal(n.child.exitCode, null, `${n.name} still runs`);
});
