/**
 * Webhooks end to end on SQLite and PostgreSQL: subscriptions through the API,
 * real deliveries to receivers on 127.0.0.1, signatures checked with the
 * independent `standardwebhooks` package.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { SmscSimulator } from '../src/smpp/simulator.ts';
import { WebhookOutbox } from '../src/store/webhooks.ts';
import { dialects, startTestGateway, until, waitForStatus, type TestGateway } from './helpers.ts';
import { byMessage, Receiver } from './webhooks-receiver.ts';

const FAST_RETRIES = { DEPESHA_WEBHOOK_RETRY_BASE_MS: '20', DEPESHA_WEBHOOK_RETRY_MAX_MS: '200' };
const LIFECYCLE = ['message.queued', 'message.sent', 'message.delivered'];

const receivers: Receiver[] = [];
after(async () => {
  for (const r of receivers) await r.close();
});
const receiver = async (behaviour?: ConstructorParameters<typeof Receiver>[0]) => {
  const r = new Receiver(behaviour);
  receivers.push(r);
  return r.listen();
};

async function call(t: TestGateway, method: string, url: string, body?: unknown, apiKey = t.apiKey) {
  const res = await t.gateway.app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${apiKey}` }, ...(body === undefined ? {} : { payload: body as object }) });
  return { status: res.statusCode, body: res.body === '' ? undefined : (res.json() as Record<string, any>) };
}

async function subscribe(t: TestGateway, url: string, eventTypes = LIFECYCLE) {
  const res = await call(t, 'POST', '/v1/webhooks', { url, event_types: eventTypes });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { id: string; secret: string };
}

async function send(t: TestGateway, count: number, extra: Record<string, unknown> = {}): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await call(t, 'POST', '/v1/messages', { to: `+7916555${5000 + i}`, text: `hello ${i}`, ...extra });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    ids.push(res.body!.id as string);
  }
  return ids;
}

/** Every message has its whole lifecycle, in order, with nothing missing. */
function assertInOrder(r: Receiver, ids: string[]) {
  const got = byMessage(r.accepted);
  for (const id of ids) assert.deepEqual(got.get(id), LIFECYCLE, `events of ${id}`);
}
const allArrived = (r: Receiver, ids: string[]) => () => ids.every((id) => (byMessage(r.accepted).get(id)?.length ?? 0) >= LIFECYCLE.length);


for (const { name, skip } of await dialects()) {
  describe(`webhooks (${name})`, { skip }, () => {
    test('subscriptions: the secret is shown once, URLs are checked, other accounts get 404', async () => {
      const t = await startTestGateway(name);
      try {
        const created = await call(t, 'POST', '/v1/webhooks', { url: 'https://example.com/hook', event_types: ['message.delivered'], description: 'CRM' });
        assert.equal(created.status, 201);
        assert.match(created.body!.secret, /^whsec_/);
        assert.match(created.body!.id, /^whk_/);
        const read = await call(t, 'GET', `/v1/webhooks/${created.body!.id}`);
        assert.equal(read.status, 200);
        assert.equal(read.body!.secret, undefined, 'the secret is not shown again');
        assert.equal(read.body!.pending_deliveries, 0);
        assert.equal((await call(t, 'GET', '/v1/webhooks')).body!.data.length, 1);

        for (const url of ['ftp://example.com/x', 'not a url', 'https://user:pw@example.com/']) {
          const bad = await call(t, 'POST', '/v1/webhooks', { url, event_types: ['message.delivered'] });
          assert.equal(bad.status, 422, url);
          assert.equal(bad.body!.error.code, 'invalid_webhook_url');
        }
        const badType = await call(t, 'POST', '/v1/webhooks', { url: 'https://example.com/', event_types: ['message.exploded'] });
        assert.equal(badType.status, 400);
        const badSecret = await call(t, 'POST', '/v1/webhooks', { url: 'https://example.com/', event_types: ['message.sent'], secret: 'hunter2' });
        assert.equal(badSecret.body!.error.code, 'invalid_webhook_secret');
        const badCallback = await call(t, 'POST', '/v1/messages', { to: '+79161234567', text: 'x', callback_url: 'javascript:alert(1)' });
        assert.equal(badCallback.status, 422);
        assert.equal(badCallback.body!.error.code, 'invalid_webhook_url');

        const other = await t.makeAccount();
        const id = created.body!.id as string;
        for (const [method, url, body] of [
          ['GET', `/v1/webhooks/${id}`],
          ['PATCH', `/v1/webhooks/${id}`, { enabled: false }],
          ['DELETE', `/v1/webhooks/${id}`],
          ['POST', `/v1/webhooks/${id}/enable`],
          ['POST', `/v1/webhooks/${id}/replay`, { event_id: 'evt_x' }],
          ['GET', `/v1/webhooks/${id}/deliveries`],
        ] as const) {
          const res = await call(t, method, url, body, other.apiKey);
          assert.equal(res.status, 404, `${method} ${url}`);
        }
        assert.equal((await call(t, 'GET', '/v1/webhooks', undefined, other.apiKey)).body!.data.length, 0);

        const patched = await call(t, 'PATCH', `/v1/webhooks/${id}`, { url: 'https://example.org/new', enabled: false });
        assert.equal(patched.body!.url, 'https://example.org/new');
        assert.equal(patched.body!.enabled, false);
        const openapi = await t.gateway.app.inject({ method: 'GET', url: '/openapi.json' });
        const paths = Object.keys((openapi.json() as { paths: Record<string, unknown> }).paths);
        for (const p of ['/v1/webhooks', '/v1/webhooks/{id}', '/v1/webhooks/{id}/replay', '/v1/webhooks/{id}/enable', '/v1/webhooks/{id}/deliveries', '/v1/webhooks/callback-secret']) assert.ok(paths.includes(p), p);
        assert.equal((await call(t, 'DELETE', `/v1/webhooks/${id}`)).status, 204);
        assert.equal((await call(t, 'GET', `/v1/webhooks/${id}`)).status, 404);
      } finally {
        await t.close();
      }
    });

    test('events arrive signed (standardwebhooks verifies them), in order, with the message object; callback_url and batch.completed too', async () => {
      const t = await startTestGateway(name, FAST_RETRIES);
      try {
        const hooks = await receiver();
        const callbacks = await receiver();
        const sub = await subscribe(t, hooks.url, [...LIFECYCLE, 'batch.completed']);
        const ids = await send(t, 3);
        const viaCallback = await send(t, 1, { callback_url: callbacks.url });
        const bulk = await call(t, 'POST', '/v1/messages/bulk', { to: ['+79162005001', '+79162005002'], text: 'bulk' });
        assert.equal(bulk.status, 202);
        const bulkIds = (bulk.body!.messages as { id: string }[]).map((m) => m.id);
        const batchDone = () => hooks.accepted.some((r) => r.event.type === 'batch.completed');
        await hooks.waitFor(() => allArrived(hooks, [...ids, ...viaCallback, ...bulkIds])() && batchDone(), 'every event');
        await callbacks.waitFor(allArrived(callbacks, viaCallback), 'the callback events');

        assertInOrder(hooks, [...ids, ...viaCallback, ...bulkIds]);
        const verifier = new Webhook(sub.secret);
        for (const r of hooks.accepted) {
          const payload = verifier.verify(r.body, r.headers as Record<string, string>) as { id: string };
          assert.equal(r.headers['webhook-id'], payload.id);
        }
        const delivered = hooks.accepted.find((r) => r.event.type === 'message.delivered' && r.event.data.id === ids[0])!;
        assert.match(delivered.event.id, /^evt_/);
        assert.equal(delivered.event.data.status, 'delivered');
        assert.equal(delivered.event.data.to, '+79165555000');
        assert.equal(delivered.event.data.object, 'message');
        // The whole message as it is after the change (the transition itself returns only a few columns).
        assert.equal(delivered.event.data.text, 'hello 0');
        assert.ok(delivered.event.data.delivered_at && delivered.event.data.sent_at, 'the delivered message carries its times');
        const batch = hooks.accepted.filter((r) => r.event.type === 'batch.completed');
        assert.equal(new Set(batch.map((r) => r.event.id)).size, 1, 'one batch.completed');
        assert.equal(batch[0]!.event.data.id, bulk.body!.batch_id);
        assert.deepEqual(batch[0]!.event.data.counts, { delivered: 2 });

        // callback_url deliveries are signed with the account's callback secret.
        const { body } = await call(t, 'GET', '/v1/webhooks/callback-secret');
        const callbackVerifier = new Webhook(body!.secret);
        for (const r of callbacks.accepted) callbackVerifier.verify(r.body, r.headers as Record<string, string>);
        assert.throws(() => verifier.verify(callbacks.accepted[0]!.body, callbacks.accepted[0]!.headers as Record<string, string>));
        assert.equal((await call(t, 'GET', `/v1/messages/${viaCallback[0]}`)).body!.callback_url, callbacks.url);

        const log = await call(t, 'GET', `/v1/webhooks/${sub.id}/deliveries?limit=2`);
        assert.equal(log.body!.data.length, 2);
        assert.equal(log.body!.data[0].status, 'succeeded');
        assert.equal(log.body!.data[0].status_code, 200);
        assert.equal(log.body!.data[0].response_excerpt, 'ok');
        assert.ok(log.body!.next_cursor);
      } finally {
        await t.close();
      }
    });

    test('a receiver that refuses connections, then answers 500, then recovers gets everything, in order per message', async () => {
      const t = await startTestGateway(name, FAST_RETRIES);
      try {
        const down = new Receiver();
        receivers.push(down);
        const port = await down.reserve();
        const sub = await subscribe(t, `http://127.0.0.1:${port}/hook`);
        const ids = await send(t, 8);
        // 1. nothing listens: the log shows refused connections
        await until('a refused attempt', async () => {
          const log = await call(t, 'GET', `/v1/webhooks/${sub.id}/deliveries?status=failed`);
          return log.body!.data.some((a: { error: string | null }) => a.error?.includes('ECONNREFUSED')) ? true : undefined;
        });
        // 2. it comes back answering 500 to its first 10 requests, then 200
        down.behaviour = (n) => (n <= 10 ? 500 : 200);
        await down.listen(port);
        await down.waitFor(allArrived(down, ids), 'every event after the recovery');
        assertInOrder(down, ids);
        assert.ok(down.received.length > down.accepted.length, 'some requests were refused with 500');
        const webhook = await call(t, 'GET', `/v1/webhooks/${sub.id}`);
        assert.equal(webhook.body!.enabled, true);
        assert.equal(webhook.body!.failing_since, null, 'working again');
        const failures = await call(t, 'GET', `/v1/webhooks/${sub.id}/deliveries?status=failed&limit=1000`);
        assert.ok(failures.body!.data.some((a: { status_code: number | null }) => a.status_code === 500));
      } finally {
        await t.close();
      }
    });

    test('private addresses are refused unless the operator allows them: an IP literal at subscription and in a message\'s callback_url, a name when connecting', async () => {
      const t = await startTestGateway(name, { ...FAST_RETRIES, DEPESHA_WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'false' });
      try {
        const r = await receiver();
        for (const url of [r.url, 'http://[::1]/hook', 'http://169.254.169.254/latest/meta-data', 'http://10.0.0.7/hook']) {
          const res = await call(t, 'POST', '/v1/webhooks', { url, event_types: LIFECYCLE });
          assert.equal(res.status, 422, url);
          assert.equal(res.body!.error.code, 'invalid_webhook_url');
          assert.match(res.body!.error.message, /private, loopback or link-local/);
          // The same rule at accept: the poster would refuse to post there.
          const message = await call(t, 'POST', '/v1/messages', { to: '+79161234567', text: 'x', callback_url: url });
          assert.equal(message.status, 422, `callback_url ${url}`);
          assert.deepEqual([message.body!.error.code, message.body!.error.details[0].field], ['invalid_webhook_url', 'callback_url']);
          assert.match(message.body!.error.message, /private, loopback or link-local/);
        }
        const bulk = await call(t, 'POST', '/v1/messages/bulk', { messages: [{ to: '+79161234567', text: 'x', callback_url: 'http://10.0.0.7/hook' }] });
        assert.deepEqual([bulk.status, bulk.body!.error.code, bulk.body!.error.details[0].field], [422, 'bulk_all_invalid', 'messages.0.callback_url'], JSON.stringify(bulk.body));
        // A name is accepted, but where it points is checked at every connection.
        const sub = await subscribe(t, r.url.replace('127.0.0.1', 'localhost'));
        await send(t, 1);
        const attempt = await until('a refused attempt', async () => {
          const log = await call(t, 'GET', `/v1/webhooks/${sub.id}/deliveries?status=failed`);
          return log.body!.data[0] as { error: string } | undefined;
        });
        assert.match(attempt.error, /^EBLOCKEDADDRESS: localhost resolves only to addresses webhooks may not reach/);
        assert.equal(r.received.length, 0, 'nothing reached the receiver');
      } finally {
        await t.close();
      }
    });

    test('a callback_url delivery that is given up is listed: in the message\'s webhooks and in the account\'s given-up callback deliveries', async () => {
      const t = await startTestGateway(name, FAST_RETRIES);
      try {
        // 1. A message accepted while the operator allowed private addresses, sent after they were refused: its
        //    callback_url at a private IP cannot change, so each delivery is given up at its first attempt.
        const [viaCallback] = await send(t, 1, { callback_url: 'http://10.0.0.7/hook', send_at: new Date(Date.now() + 3_600_000).toISOString() });
        t.config.webhooks.allowPrivateAddresses = false;
        await t.restart();
        const refused = await call(t, 'POST', '/v1/messages', { to: '+79161234567', text: 'x', callback_url: 'http://10.0.0.7/hook' });
        assert.deepEqual([refused.status, refused.body!.error.code], [422, 'invalid_webhook_url'], 'refused at accept now');
        // Due now rather than in an hour (the scheduler takes it from the store).
        const due = Date.now();
        const moved = await t.gateway.database.db.updateTable('messages').set({ send_at: due, due_at: due }).where('id', '=', viaCallback!).where('status', '=', 'accepted').executeTakeFirst();
        assert.equal(Number(moved.numUpdatedRows), 1, 'still waiting for its send_at');
        await waitForStatus(t.gateway, viaCallback!, ['delivered']);
        // 2. The message's webhooks show them as failed (they are no longer pending), not as gone.
        const hooks = await until('the callback_url deliveries given up', async () => {
          const data = (await call(t, 'GET', `/v1/messages/${viaCallback}/webhooks`)).body!.data as { webhook_id: string | null; status: string; url: string; event_type: string }[];
          return data.length === LIFECYCLE.length && data.every((h) => h.status === 'failed') ? data : undefined;
        });
        assert.deepEqual(hooks.map((h) => [h.webhook_id, h.url, h.event_type]), LIFECYCLE.map((type) => [null, 'http://10.0.0.7/hook', type]));
        const tried = await t.gateway.database.db.selectFrom('webhook_attempts').select(['error', 'next_attempt_at']).where('webhook_id', 'is', null).where('url', '=', 'http://10.0.0.7/hook').execute();
        assert.equal(tried.length, LIFECYCLE.length, 'one attempt per event');
        for (const a of tried) {
          assert.match(a.error!, /^EBLOCKEDADDRESS: 10\.0\.0\.7/);
          assert.equal(a.next_attempt_at, null);
        }
        // 3. The account's list of given-up callback deliveries: newest first, paged; another account sees none of them.
        const first = await call(t, 'GET', '/v1/webhooks/callback-deliveries?limit=2');
        assert.equal(first.status, 200, JSON.stringify(first.body));
        const second = await call(t, 'GET', `/v1/webhooks/callback-deliveries?limit=2&cursor=${first.body!.next_cursor}`);
        assert.equal(second.body!.next_cursor, null);
        const listed = [...first.body!.data, ...second.body!.data] as { id: string; message_id: string; url: string; event_type: string; status: string; attempts: number }[];
        assert.deepEqual(listed.map((d) => [d.message_id, d.url, d.event_type, d.status, d.attempts]), [...LIFECYCLE].reverse().map((type) => [viaCallback, 'http://10.0.0.7/hook', type, 'failed', 1]));
        assert.deepEqual(listed.map((d) => d.id), listed.map((d) => d.id).sort().reverse(), 'newest first');
        const other = await t.makeAccount();
        assert.deepEqual((await call(t, 'GET', '/v1/webhooks/callback-deliveries', undefined, other.apiKey)).body!.data, []);
        assert.equal((await call(t, 'GET', `/v1/messages/${viaCallback}/webhooks`, undefined, other.apiKey)).status, 404);
        assert.equal((await call(t, 'GET', '/v1/webhooks/callback-deliveries?cursor=nonsense')).body!.error.code, 'invalid_cursor');
      } finally {
        await t.close();
      }
    });

    test('a receiver that never answers does not hold up a fast one', async () => {
      const t = await startTestGateway(name, { ...FAST_RETRIES, DEPESHA_WEBHOOK_TIMEOUT_MS: '10000' });
      try {
        const slow = await receiver(() => 'hang');
        const fast = await receiver();
        const slowSub = await subscribe(t, slow.url);
        await subscribe(t, fast.url);
        const ids = await send(t, 10);
        await fast.waitFor(allArrived(fast, ids), 'the fast receiver got everything');
        assertInOrder(fast, ids);
        // The slow one has requests hanging and none has timed out yet: it delayed nothing but itself.
        assert.ok(slow.received.length > 0);
        const log = await call(t, 'GET', `/v1/webhooks/${slowSub.id}/deliveries`);
        assert.equal(log.body!.data.length, 0, 'no attempt of the slow receiver has ended yet');
      } finally {
        await t.close();
      }
    });

    test('a message a subscriber sends to the account\'s number arrives as inbound_message.received', async () => {
      const sim = new SmscSimulator({ accounts: { depesha: 'secret1' } });
      const port = await sim.start();
      const t = await startTestGateway(name, FAST_RETRIES, {
        configFile: { connectors: [{ id: 'operator', type: 'smpp', host: '127.0.0.1', port, system_id: 'depesha', password: 'secret1', reconnect_min_ms: 20, reconnect_max_ms: 200 }], routes: [{ connector: 'operator' }] },
      });
      try {
        const r = await receiver();
        const sub = await subscribe(t, r.url, ['inbound_message.received']);
        assert.equal((await call(t, 'POST', '/v1/numbers', { number: '79160009999', account_id: t.accountId })).status, 201);
        await until('the operator bound', async () => ((await call(t, 'GET', '/v1/connectors')).body!.data.some((c: { id: string; status: string }) => c.id === 'operator' && c.status === 'up') ? true : undefined));
        await sim.sendMo({ from: '79161112233', to: '79160009999', text: 'STOP' });
        await r.waitFor(() => r.accepted.length > 0, 'the inbound event');
        const { event, body, headers } = r.accepted[0]!;
        new Webhook(sub.secret).verify(body, headers as Record<string, string>);
        assert.equal(event.type, 'inbound_message.received');
        assert.match(String(event.data.id), /^inb_/);
        assert.equal(event.data.text, 'STOP');
        assert.equal(event.data.from, '+79161112233');
        assert.equal(event.data.to, '79160009999');
      } finally {
        await t.close();
        await sim.stop();
      }
    });

    test('a subscription failing for the whole retry window is disabled with a reason; enabling sends what waited, replay sends again', async () => {
      const t = await startTestGateway(name, { ...FAST_RETRIES, DEPESHA_WEBHOOK_DISABLE_AFTER_MS: '300' });
      try {
        const r = await receiver(() => 503);
        const sub = await subscribe(t, r.url);
        const ids = await send(t, 3);
        for (const id of ids) await waitForStatus(t.gateway, id, ['delivered']);
        const disabled = await until('the subscription disabled', async () => {
          const res = await call(t, 'GET', `/v1/webhooks/${sub.id}`);
          return res.body!.enabled === false ? res.body! : undefined;
        });
        assert.match(disabled.disabled_reason, /failed since .*answered 503.*enable/);
        assert.ok(disabled.pending_deliveries > 0, 'its deliveries wait');
        // Retention removes the log and finished deliveries, never what is still pending.
        const removed = await t.gateway.database.db.transaction().execute((tx) => WebhookOutbox.purge(tx, Date.now() + 1000, 10_000));
        assert.ok(removed > 0);
        assert.equal((await call(t, 'GET', `/v1/webhooks/${sub.id}/deliveries`)).body!.data.length, 0);
        assert.equal((await call(t, 'GET', `/v1/webhooks/${sub.id}`)).body!.pending_deliveries, disabled.pending_deliveries);

        r.behaviour = () => 200;
        const before = r.received.length;
        const enabled = await call(t, 'POST', `/v1/webhooks/${sub.id}/enable`);
        assert.equal(enabled.body!.enabled, true);
        assert.equal(enabled.body!.disabled_reason, null);
        await r.waitFor(allArrived(r, ids), 'everything after enabling');
        assertInOrder(r, ids);
        assert.ok(r.received.length > before);

        // Replay one event, then a period.
        const one = r.accepted[0]!.event;
        const count = r.accepted.filter((x) => x.event.id === one.id).length;
        const replay = await call(t, 'POST', `/v1/webhooks/${sub.id}/replay`, { event_id: one.id });
        assert.equal(replay.status, 202);
        assert.equal(replay.body!.replayed, 1);
        await r.waitFor(() => r.accepted.filter((x) => x.event.id === one.id).length > count, 'the replayed event');
        const nothing = await call(t, 'POST', `/v1/webhooks/${sub.id}/replay`, { event_id: 'evt_01KAT0NOSUCHEVENT000000000' });
        assert.equal(nothing.body!.error.code, 'replay_nothing_found');
        const accepted = r.accepted.length;
        const range = await call(t, 'POST', `/v1/webhooks/${sub.id}/replay`, { since: new Date(Date.now() - 60_000).toISOString(), until: new Date().toISOString() });
        assert.equal(range.body!.replayed, ids.length * LIFECYCLE.length);
        await r.waitFor(() => r.accepted.length >= accepted + ids.length * LIFECYCLE.length, 'the replayed period');
      } finally {
        await t.close();
      }
    });
  });
}
