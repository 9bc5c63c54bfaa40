/**
 * The API key caches of two API nodes of a cluster (two gateways in this
 * process, on one PostgreSQL schema and one Redis prefix of this suite's
 * own): a key revoked on node A is refused on node B as soon as the
 * revocation has answered, though B had it cached (for 30 s, CACHE_TTL_MS),
 * and its stream open on B ends at once with `key_revoked` rather than at
 * B's next key check (KEY_CHECK_MS); an account's settings changed on A are
 * what B answers next. No waiting: the revocation answers once the other
 * API nodes dropped the key (cluster/auth-notices.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { startGateway, type Gateway } from '../src/gateway.ts';
import { CACHE_TTL_MS } from '../src/ingress/http/auth.ts';
import { KEY_CHECK_MS } from '../src/ingress/http/routes/events.ts';
import { createLogger } from '../src/log.ts';
import { generateApiKey } from '../src/store/accounts.ts';
import { clusterSkip, dropRedisPrefix, TEST_REDIS_URL } from './cluster-nodes.ts';
import { openStream } from './events-client.ts';
import { TEST_DATABASE_URL } from './helpers.ts';

const skip = await clusterSkip();

test('cluster: a key revoked on node A is refused on node B at once, though B had it cached; its stream on B ends; account changes reach B too', { skip, timeout: 120_000 }, async (t) => {
  const pgSchema = `t_${randomBytes(6).toString('hex')}`;
  const prefix = `tkc-${Date.now().toString(36)}`;
  const apiKey = generateApiKey();
  const gateways: Gateway[] = [];
  const dirs: string[] = [];
  t.after(async () => {
    for (const g of gateways.reverse()) await g.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
    await client.end();
    await dropRedisPrefix(prefix);
  });
  const node = async (roles: string) => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'depesha-keycache-'));
    dirs.push(dataDir);
    const config = loadConfig({
      DEPESHA_DATA_DIR: dataDir,
      DEPESHA_BOOTSTRAP_API_KEY: apiKey,
      LOG_LEVEL: 'silent',
      SMPP_ENABLED: 'false',
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      DEPESHA_REDIS_PREFIX: prefix,
      DEPESHA_ROLES: roles,
    });
    const gateway = await startGateway(config, { log: createLogger('silent'), listen: false, print: () => {}, pollMs: 50, pgSchema });
    gateways.push(gateway);
    return gateway;
  };
  // A first: it migrates and bootstraps.
  const a = await node('api,worker,scheduler,smpp');
  const b = await node('api');
  const call = async (g: Gateway, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, key: string, body?: unknown) => {
    const res = await g.app.inject({ method, url, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
    return { status: res.statusCode, body: res.body === '' ? null : res.json() };
  };

  const made = await call(a, 'POST', '/v1/api-keys', apiKey, { name: 'to revoke' });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const key = made.body as { id: string; key: string };
  // B takes the key and caches it.
  assert.equal((await call(b, 'GET', '/v1/account', key.key)).status, 200);
  assert.equal((await call(b, 'GET', '/v1/account', key.key)).status, 200, 'cached on B');
  const baseB = await b.app.listen({ port: 0, host: '127.0.0.1' });
  const stream = await openStream(baseB, key.key);
  t.after(() => stream.close());
  assert.equal(stream.status, 200, stream.body);

  const revoked = await call(a, 'DELETE', `/v1/api-keys/${key.id}`, apiKey);
  assert.equal(revoked.status, 204, JSON.stringify(revoked.body));
  const revokedAt = Date.now();
  const refused = await call(b, 'GET', '/v1/account', key.key);
  assert.equal(refused.status, 401, `B refuses the key revoked on A at once, not after its cache's ${CACHE_TTL_MS} ms`);
  assert.equal(refused.body.error.code, 'unauthorized');

  let timer: NodeJS.Timeout | undefined;
  await Promise.race([stream.ended, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the stream on B still open')), KEY_CHECK_MS * 3)))]);
  clearTimeout(timer);
  const endedAfter = Date.now() - revokedAt;
  assert.ok(endedAfter < KEY_CHECK_MS, `the stream on B ended ${endedAfter} ms after the revocation: at once, not at B's key check`);
  const last = stream.events.at(-1)!;
  assert.equal(last.event, 'dropped');
  assert.equal((JSON.parse(last.data) as { reason: string }).reason, 'key_revoked');

  // The account as B cached it with the bootstrap key, then changed on A.
  assert.equal((await call(b, 'GET', '/v1/account', apiKey)).status, 200);
  const renamed = await call(a, 'PATCH', '/v1/account', apiKey, { name: 'Renamed on A' });
  assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
  const seen = await call(b, 'GET', '/v1/account', apiKey);
  assert.equal(seen.status, 200);
  assert.equal(seen.body.name, 'Renamed on A', 'B answers with the account as changed on A');
});
