/**
 * A live stream opened with an API key lasts as long as the key: revoking it
 * through the API ends its open streams on that node at once, and a key
 * revoked elsewhere (another node of a cluster: here, straight in the
 * database) within the key check's period (KEY_CHECK_MS), each with
 * `event: dropped`, reason `key_revoked`. Other keys' streams go on. The
 * cluster case proper is in cluster-cabinet-stream.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KEY_CHECK_MS } from '../src/ingress/http/routes/events.ts';
import { AccountsRepository } from '../src/store/accounts.ts';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';
import { openStream, type SseClient } from './events-client.ts';

const reasonOf = (s: SseClient) => {
  const dropped = s.events.find((e) => e.event === 'dropped');
  return dropped && (JSON.parse(dropped.data) as { reason: string }).reason;
};

for (const dialect of await dialects()) {
  describe(`the live streams of a revoked API key on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let base: string;
    before(async () => {
      t = await startTestGateway(dialect.name);
      base = await t.gateway.app.listen({ port: 0, host: '127.0.0.1' });
    });
    after(() => t.close());

    const newKey = async () => {
      const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/api-keys', headers: { authorization: `Bearer ${t.apiKey}` }, payload: { name: 'streams' } });
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as { id: string; key: string };
    };
    const send = async () => {
      const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/messages', headers: { authorization: `Bearer ${t.apiKey}` }, payload: { to: '+79161234567', text: 'hi' } });
      assert.equal(res.statusCode, 202, res.body);
      return res.json().id as string;
    };
    const heard = (s: SseClient, id: string) => s.events.some((e) => e.event !== 'dropped' && JSON.parse(e.data).data.message_id === id);

    test('revoking a key through the API ends its open streams at once with key_revoked; another key\'s go on', { timeout: 60_000 }, async () => {
      const key = await newKey();
      const streams = [await openStream(base, key.key), await openStream(base, key.key), await openStream(base, t.apiKey)];
      after(() => streams.forEach((s) => s.close()));
      const [one, two, other] = streams as [SseClient, SseClient, SseClient];
      for (const s of streams) assert.equal(s.status, 200, s.body);

      const revoked = await t.gateway.app.inject({ method: 'DELETE', url: `/v1/api-keys/${key.id}`, headers: { authorization: `Bearer ${t.apiKey}` } });
      assert.equal(revoked.statusCode, 204, revoked.body);
      const revokedAt = Date.now();
      await Promise.all([one.ended, two.ended]);
      assert.ok(Date.now() - revokedAt < KEY_CHECK_MS, 'ended before any check could have: by the revoke itself');
      assert.deepEqual([reasonOf(one), reasonOf(two)], ['key_revoked', 'key_revoked']);
      const again = await openStream(base, key.key);
      assert.equal(again.status, 401, 'the revoked key opens no stream');

      const id = await send();
      await waitForStatus(t.gateway, id, ['delivered']);
      await other.until((c) => heard(c, id), 'the other key\'s stream hearing a later message');
      assert.equal(reasonOf(other), undefined, 'not dropped');
      assert.equal(t.gateway.live.size, 1);
    });

    test('a key revoked elsewhere (not through this node) ends its streams within the key check', { timeout: 60_000 }, async () => {
      const key = await newKey();
      const [mine, other] = [await openStream(base, key.key), await openStream(base, t.apiKey)];
      after(() => [mine, other].forEach((s) => s.close()));
      assert.equal(mine.status, 200, mine.body);
      // As another node does it: the row changes, and nothing of this node hears of it.
      assert.ok(await new AccountsRepository(t.gateway.database.db).revokeApiKey(t.accountId, key.id));
      const revokedAt = Date.now();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([mine.ended, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the stream still open 3 checks after the revoke')), KEY_CHECK_MS * 3)))]);
      clearTimeout(timer);
      assert.ok(Date.now() - revokedAt <= KEY_CHECK_MS + 3000, 'within a check period and room for a loaded machine');
      assert.equal(reasonOf(mine), 'key_revoked');
      const id = await send();
      await waitForStatus(t.gateway, id, ['delivered']);
      await other.until((c) => heard(c, id), 'the live key\'s stream going on');
      assert.equal(reasonOf(other), undefined);
    });
  });
}
