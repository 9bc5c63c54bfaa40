import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { startGateway } from '../src/gateway.ts';
import { createLogger } from '../src/log.ts';
import { InProcessDispatcher } from '../src/pipeline/dispatcher.ts';
import { Scheduler } from '../src/pipeline/scheduler.ts';
import { IDEMPOTENCY_CLAIM_STALE_MS, IDEMPOTENCY_TTL_MS, IdempotencyRepository } from '../src/store/idempotency.ts';
import { dialects, startTestGateway, waitForStatus } from './helpers.ts';

describe('first start', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'depesha-boot-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('prints the administrator and the API key once, never again and never in the logs', async () => {
    const key = 'dpk_bootstrap_known_value_1234';
    const config = loadConfig({ DEPESHA_DATA_DIR: dataDir, DEPESHA_BOOTSTRAP_API_KEY: key });
    const printed: string[] = [];
    const logged: string[] = [];
    const log = createLogger('trace', { write: (line: string) => logged.push(line) });
    const first = await startGateway(config, { log, listen: false, print: (t) => printed.push(t) });
    const res = await first.app.inject({ method: 'POST', url: '/v1/messages', headers: { authorization: `Bearer ${key}` }, payload: { to: '+79161234567', text: 'hi' } });
    assert.equal(res.statusCode, 202);
    await first.close();
    const second = await startGateway(config, { log, listen: false, print: (t) => printed.push(t) });
    await second.close();
    assert.equal(printed.length, 1);
    const password = /administrator: +admin@depesha\.local +\/ +(\S{8,})/.exec(printed[0]!)?.[1];
    assert.ok(password !== undefined, 'the administrator and password line is printed');
    assert.ok(printed[0]!.includes(key));
    const logs = logged.join('');
    assert.ok(logs.length > 0);
    assert.ok(!logs.includes(key), 'the API key appeared in the logs');
    assert.ok(!logs.includes(password), 'the administrator password appeared in the logs');
    assert.ok(!logs.includes('+79161234567'), 'a phone number appeared unmasked in the logs');
  });
});

for (const dialect of await dialects()) {
  describe(`message lifecycle on ${dialect.name}`, { skip: dialect.skip }, () => {
    test('a message whose validity ends before it is sent expires with the reason', async () => {
      const t = await startTestGateway(dialect.name);
      try {
        const res = await t.gateway.app.inject({
          method: 'POST',
          url: '/v1/messages',
          headers: { authorization: `Bearer ${t.apiKey}` },
          payload: { to: '+79161234567', text: 'too late', send_at: new Date(Date.now() + 3_600_000).toISOString() },
        });
        assert.equal(res.statusCode, 202);
        const id = res.json().id as string;
        // The validity runs out while the message waits for its send_at; then its time comes (the test stands in for the
        // passing hour; a send_at only 300 ms ahead raced this update on a loaded machine).
        const now = Date.now();
        await t.gateway.database.db.updateTable('messages').set({ expires_at: now - 1, due_at: now }).where('id', '=', id).execute();
        assert.equal(await waitForStatus(t.gateway, id, ['expired', 'delivered']), 'expired');
        const got = (await t.gateway.app.inject({ method: 'GET', url: `/v1/messages/${id}`, headers: { authorization: `Bearer ${t.apiKey}` } })).json();
        assert.equal(got.reason.code, 'validity_expired');
        assert.equal(got.sent_at, null);
      } finally {
        await t.close();
      }
    });

    test('after a crash, leased messages are due at once while retry back-offs are kept', async () => {
      const t = await startTestGateway(dialect.name);
      try {
        const ids: string[] = [];
        for (let i = 0; i < 2; i++) {
          const res = await t.gateway.app.inject({
            method: 'POST',
            url: '/v1/messages',
            headers: { authorization: `Bearer ${t.apiKey}` },
            payload: { to: '+79161234567', text: `held ${i}`, send_at: new Date(Date.now() + 3_600_000).toISOString() },
          });
          ids.push(res.json().id);
        }
        const later = Date.now() + 3_600_000;
        const db = t.gateway.database.db;
        // One was in a sender's hands when the process died; the other waits out a back-off.
        await db.updateTable('messages').set({ status: 'queued', due_at: later, lease_until: later }).where('id', '=', ids[0]!).execute();
        await db.updateTable('messages').set({ status: 'queued', due_at: later, lease_until: null }).where('id', '=', ids[1]!).execute();
        const scheduler = new Scheduler(db, new InProcessDispatcher(), createLogger('silent'));
        const now = Date.now();
        assert.equal(await scheduler.recoverAfterCrash(now), 1);
        const rows = await db.selectFrom('messages').select(['id', 'due_at', 'lease_until']).where('id', 'in', ids).orderBy('id').execute();
        assert.deepEqual(rows.map((r) => ({ ...r })), [
          { id: ids[0], due_at: now, lease_until: null },
          { id: ids[1], due_at: later, lease_until: null },
        ]);
      } finally {
        await t.close();
      }
    });

    test('an Idempotency-Key is remembered for 24 h, then free for a new request', async () => {
      const t = await startTestGateway(dialect.name);
      try {
        const repo = new IdempotencyRepository(t.gateway.database.db);
        // Now, not a date long past: the scheduler purges keys older than 24 h on its own, and would race this test.
        const start = Date.now();
        assert.deepEqual(await repo.claim(t.accountId, 'k', 'hash-1', start), { kind: 'new', claimedAt: start });
        assert.deepEqual(await repo.claim(t.accountId, 'k', 'hash-2', start + IDEMPOTENCY_TTL_MS - 1), { kind: 'mismatch' });
        assert.deepEqual(await repo.claim(t.accountId, 'k', 'hash-1', start + 1), { kind: 'in_progress' });
        await t.gateway.database.db.transaction().execute((tx) => IdempotencyRepository.complete(tx, { accountId: t.accountId, key: 'k', claimedAt: start }, 202, '{}'));
        assert.deepEqual(await repo.claim(t.accountId, 'k', 'hash-1', start + IDEMPOTENCY_TTL_MS - 1), { kind: 'replay', status: 202, body: '{}' });
        assert.deepEqual(await repo.claim(t.accountId, 'k', 'hash-2', start + IDEMPOTENCY_TTL_MS + 1), { kind: 'new', claimedAt: start + IDEMPOTENCY_TTL_MS + 1 });
      } finally {
        await t.close();
      }
    });

    test('a claim abandoned for 30 s (its request died with the database away) is taken over by a retry; the first request, if it finishes after all, cannot store its work', async () => {
      const t = await startTestGateway(dialect.name);
      try {
        const repo = new IdempotencyRepository(t.gateway.database.db);
        const db = t.gateway.database.db;
        const start = Date.now();
        const first = { accountId: t.accountId, key: 'stale', claimedAt: start };
        assert.deepEqual(await repo.claim(t.accountId, 'stale', 'h', start), { kind: 'new', claimedAt: start });
        assert.deepEqual(await repo.claim(t.accountId, 'stale', 'h', start + IDEMPOTENCY_CLAIM_STALE_MS), { kind: 'in_progress' });
        const takeover = start + IDEMPOTENCY_CLAIM_STALE_MS + 1;
        assert.deepEqual(await repo.claim(t.accountId, 'stale', 'h', takeover), { kind: 'new', claimedAt: takeover });
        // A second retry at the same moment does not take it as well.
        assert.deepEqual(await repo.claim(t.accountId, 'stale', 'h', takeover), { kind: 'in_progress' });
        // The first request finishing late: its transaction fails, so its work rolls back; its give-back leaves the new claim alone.
        await assert.rejects(db.transaction().execute((tx) => IdempotencyRepository.complete(tx, first, 202, '{"first":true}')), /taken over/);
        await repo.release(first);
        await db.transaction().execute((tx) => IdempotencyRepository.complete(tx, { accountId: t.accountId, key: 'stale', claimedAt: takeover }, 202, '{"second":true}'));
        assert.deepEqual(await repo.claim(t.accountId, 'stale', 'h', takeover + 1), { kind: 'replay', status: 202, body: '{"second":true}' });
      } finally {
        await t.close();
      }
    });

    test('an operator-side expiry (sandbox 0003) ends the message as expired', async () => {
      const t = await startTestGateway(dialect.name);
      try {
        const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/messages', headers: { authorization: `Bearer ${t.apiKey}` }, payload: { to: '+79161230003', text: 'x' } });
        assert.equal(await waitForStatus(t.gateway, res.json().id, ['expired']), 'expired');
      } finally {
        await t.close();
      }
    });
  });
}
