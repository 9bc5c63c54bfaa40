import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';
import { envelope, openStream } from './events-client.ts';

for (const dialect of await dialects()) {
  describe(`message events and the live stream on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let base: string;
    const api = async (method: string, url: string, payload?: unknown, key = t.apiKey) => {
      const res = await t.gateway.app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${key}` }, ...(payload === undefined ? {} : { payload: payload as object }) });
      return { status: res.statusCode, body: res.json() };
    };
    const send = async (to: string, text = 'hello') => {
      const res = await api('POST', '/v1/messages', { to, text });
      assert.equal(res.status, 202);
      return res.body.id as string;
    };
    /** the account's stored events, oldest first */
    const stored = (accountId: string) => t.gateway.database.db.selectFrom('message_events').select(['id', 'message_id', 'status']).where('account_id', '=', accountId).orderBy('id').execute();

    before(async () => {
      t = await startTestGateway(dialect.name, { DEPESHA_STREAM_MAX_PER_KEY: '3', DEPESHA_STREAM_KEEPALIVE_SECONDS: '1' });
      base = await t.gateway.app.listen({ port: 0, host: '127.0.0.1' });
    });
    after(() => t.close());

    test('GET /v1/messages/{id}/events: the history oldest first, from accepted, in the event envelope, paginated', async () => {
      const id = await send('+79161230000'); // the sandbox reports it undeliverable
      await waitForStatus(t.gateway, id, ['undelivered']);
      const all = await api('GET', `/v1/messages/${id}/events`);
      assert.equal(all.status, 200);
      assert.deepEqual(
        all.body.data.map((e: { type: string }) => e.type),
        ['message.accepted', 'message.queued', 'message.sent', 'message.undelivered'],
      );
      assert.equal(all.body.next_cursor, null);
      const last = all.body.data[3];
      assert.match(last.id, /^evt_[0-9A-Z]{26}$/);
      assert.deepEqual(last.data, {
        object: 'status_change',
        message_id: id,
        status: 'undelivered',
        reason: { code: 'subscriber_unknown', description: last.data.reason.description, permanent: true, provider_code: 'stat:UNDELIV err:001' },
      });
      const ids = all.body.data.map((e: { id: string }) => e.id);
      assert.deepEqual([...ids].sort(), ids, 'ids sort in timeline order');
      const storedIds = (await stored(t.accountId)).filter((e) => e.message_id === id).map((e) => e.id);
      assert.deepEqual(ids.slice(1), storedIds, 'the stored steps carry their message_events ids');

      // Two at a time: the pages join up to the whole history.
      const page1 = await api('GET', `/v1/messages/${id}/events?limit=2`);
      assert.equal(page1.body.data.length, 2);
      assert.ok(page1.body.next_cursor);
      const page2 = await api('GET', `/v1/messages/${id}/events?limit=2&cursor=${page1.body.next_cursor}`);
      assert.equal(page2.body.data.length, 2);
      assert.deepEqual([...page1.body.data, ...page2.body.data], all.body.data);
      assert.equal(page2.body.next_cursor, null);
    });

    test("another account's message is a 404; a bad cursor is a 400", async () => {
      const id = await send('+79161234501');
      const other = await t.makeAccount();
      const res = await api('GET', `/v1/messages/${id}/events`, undefined, other.apiKey);
      assert.equal(res.status, 404);
      assert.equal(res.body.error.code, 'not_found');
      assert.equal((await api('GET', `/v1/messages/${id}/events?cursor=nonsense`)).body.error.code, 'invalid_cursor');
    });

    test('the stream needs an API key and refuses unknown event types', async () => {
      const anonymous = await openStream(base, 'dpk_not_a_key_at_all_123456');
      assert.equal(anonymous.status, 401);
      assert.equal(JSON.parse(anonymous.body).error.code, 'unauthorized');
      const bad = await openStream(base, t.apiKey, { query: 'types=message.accepted' });
      assert.equal(bad.status, 400);
      assert.equal(JSON.parse(bad.body).error.code, 'validation_failed');
      const badId = await openStream(base, t.apiKey, { lastEventId: 'evt_nope' });
      assert.equal(badId.status, 400);
    });

    test('live: every change of the account arrives with its stored id; a retry hint, keep-alives; nothing of other accounts', async () => {
      const other = await t.makeAccount();
      const mine = await openStream(base, t.apiKey);
      const theirs = await openStream(base, other.apiKey);
      try {
        assert.equal(mine.status, 200);
        assert.match(String(mine.headers['content-type']), /^text\/event-stream/);
        assert.ok(mine.headers['x-request-id']);
        // 1. A change of ours arrives on our stream.
        const id = await send('+79161234502');
        await mine.until((c) => c.events.some((e) => e.event === 'message.delivered' && envelope(e).data.message_id === id), 'delivered');
        const got = mine.events.filter((e) => envelope(e).data.message_id === id);
        assert.deepEqual(got.map((e) => e.event), ['message.queued', 'message.sent', 'message.delivered']);
        const storedIds = (await stored(t.accountId)).filter((e) => e.message_id === id).map((e) => e.id);
        assert.deepEqual(got.map((e) => e.id), storedIds, 'the SSE id is the message_events id');
        for (const e of got) assert.equal(envelope(e).id, e.id);
        assert.equal(mine.retry, 3000);
        // 2. Keep-alive comments come while nothing happens (every second in this suite).
        await mine.until((c) => c.comments.some((x) => x.trim() === 'keep-alive'), 'a keep-alive comment', 5000);
        // 3. The other account heard nothing of it.
        assert.equal(theirs.events.length, 0);
      } finally {
        mine.close();
        theirs.close();
      }
    });

    test('types= filters the stream', async () => {
      const stream = await openStream(base, t.apiKey, { query: 'types=message.delivered,message.undelivered' });
      try {
        const ok = await send('+79161234503');
        const bad = await send('+79161230000');
        await stream.until((c) => [ok, bad].every((id) => c.events.some((e) => envelope(e).data.message_id === id)), 'both final events');
        assert.ok(stream.events.every((e) => e.event === 'message.delivered' || e.event === 'message.undelivered'));
      } finally {
        stream.close();
      }
    });

    test('resume with Last-Event-ID after a disconnect while messages keep changing: no gap, no duplicate', async () => {
      const account = await t.makeAccount('Resume');
      const total = 30;
      const sent: string[] = [];
      // 1. The first connection is open before anything happens in this account.
      const first = await openStream(base, account.apiKey);
      // 2. Messages go on being sent through both connections and the gap between them.
      const sender = (async () => {
        for (let i = 0; i < total; i++) {
          const res = await api('POST', '/v1/messages', { to: `+7916123${String(4600 + i)}`, text: `m${i}` }, account.apiKey);
          sent.push(res.body.id);
          await new Promise((r) => setImmediate(r));
        }
      })();
      await first.until((c) => c.events.length >= 5, 'five events');
      const changedWhileAway = new Promise<void>((resolve) => {
        const off = t.gateway.bus.onStatus((changes) => {
          if (!changes.some((c) => c.accountId === account.accountId)) return;
          off();
          resolve();
        });
      });
      first.close();
      await first.ended;
      const seen = [...first.events];
      // 3. While it is away, changes are committed.
      await changedWhileAway;
      // 4. The second connection resumes after the last id the first one saw, until every message is delivered.
      const second = await openStream(base, account.apiKey, { lastEventId: seen[seen.length - 1]!.id! });
      try {
        await sender;
        const delivered = (id: string) => [...seen, ...second.events].some((e) => e.event === 'message.delivered' && envelope(e).data.message_id === id);
        await second.until(() => sent.every(delivered), 'every message delivered', 20_000);
        const ids = [...seen, ...second.events].map((e) => e.id!);
        assert.equal(new Set(ids).size, ids.length, 'no event twice');
        const all = (await stored(account.accountId)).map((e) => e.id);
        assert.equal(all.length, total * 3);
        if (dialect.name === 'sqlite') {
          assert.deepEqual(ids, all, 'every stored event, in order');
        } else {
          // PostgreSQL commits the delivery thread's transactions side by side: live events may arrive
          // out of id order by milliseconds (docs/ARCHITECTURE.md), so the order is not compared here.
          assert.deepEqual([...ids].sort(), all, 'every stored event');
        }
      } finally {
        second.close();
      }
    });

    test('resume from a query parameter, for clients that cannot set headers', async () => {
      const id = await send('+79161234504');
      await waitForStatus(t.gateway, id, ['delivered']);
      const events = (await stored(t.accountId)).filter((e) => e.message_id === id);
      const stream = await openStream(base, t.apiKey, { query: `last_event_id=${events[0]!.id}` });
      try {
        await stream.until((c) => c.events.some((e) => e.id === events[2]!.id), 'the replayed delivered event');
        assert.deepEqual(stream.events.filter((e) => envelope(e).data.message_id === id).map((e) => e.id), events.slice(1).map((e) => e.id));
      } finally {
        stream.close();
      }
    });

    test('a key may hold a limited number of streams; a closed one frees its place', async () => {
      const key = await t.makeAccount('Cap');
      const open = [await openStream(base, key.apiKey), await openStream(base, key.apiKey), await openStream(base, key.apiKey)];
      assert.ok(open.every((s) => s.status === 200));
      const refused = await openStream(base, key.apiKey);
      assert.equal(refused.status, 429);
      assert.equal(JSON.parse(refused.body).error.code, 'too_many_streams');
      const before = t.gateway.live.size;
      open[0]!.close();
      // The server notices the disconnect through the socket's close event; bounded wait for that.
      const deadline = Date.now() + 5000;
      while (t.gateway.live.size !== before - 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(t.gateway.live.size, before - 1);
      const again = await openStream(base, key.apiKey);
      assert.equal(again.status, 200);
      for (const s of [...open, again]) s.close();
    });
  });
}

describe('closing the gateway', () => {
  test('ends open streams with a reason instead of waiting for them', async () => {
    const t = await startTestGateway('sqlite');
    const base = await t.gateway.app.listen({ port: 0, host: '127.0.0.1' });
    const stream = await openStream(base, t.apiKey);
    await t.close();
    await stream.ended;
    const dropped = stream.events.find((e) => e.event === 'dropped');
    assert.ok(dropped, 'a dropped event before the end');
    assert.equal(JSON.parse(dropped.data).reason, 'shutting_down');
  });
});
