/**
 * One delivery the receiver always refuses while it takes every other: the
 * others keep flowing (the probe of the paused endpoint is not always that
 * delivery), the subscription stays enabled, and the refused delivery is
 * given up after its own retry window, then the rest of its message's chain
 * goes, in order.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { webhookOwnAttempts } from '../src/events/webhooks/sender.ts';
import { dialects, startTestGateway, until, waitForStatus, type TestGateway } from './helpers.ts';
import { byMessage, Receiver } from './webhooks-receiver.ts';

const LIFECYCLE = ['message.queued', 'message.sent', 'message.delivered'];
const WINDOW_MS = 3000;
const RETRY_MAX_MS = 200;

async function call(t: TestGateway, method: string, url: string, body?: unknown) {
  const res = await t.gateway.app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${t.apiKey}` }, ...(body === undefined ? {} : { payload: body as object }) });
  return res.json() as Record<string, any>;
}


for (const { name, skip } of await dialects()) {
  describe(`a delivery the receiver keeps refusing (${name})`, { skip }, () => {
    test('does not hold up other messages nor get the subscription disabled; it is given up after its own window and its followers go', async () => {
      const t = await startTestGateway(name, { DEPESHA_WEBHOOK_RETRY_BASE_MS: '20', DEPESHA_WEBHOOK_RETRY_MAX_MS: String(RETRY_MAX_MS), DEPESHA_WEBHOOK_DISABLE_AFTER_MS: String(WINDOW_MS) });
      let poison = '';
      const isPoison = (r: { event: { type: string; data: Record<string, unknown> } }) => r.event.type === 'message.sent' && r.event.data.id === poison;
      const r: Receiver = new Receiver();
      r.behaviour = () => (isPoison(r.received.at(-1)!) ? 400 : 200);
      await r.listen();
      try {
        const sub = await call(t, 'POST', '/v1/webhooks', { url: r.url, event_types: LIFECYCLE });
        // 1. message P's message.sent is refused, every time
        poison = (await call(t, 'POST', '/v1/messages', { to: '+79165555000', text: 'p' })).id;
        await waitForStatus(t.gateway, poison, ['delivered']);
        await r.waitFor(() => r.received.filter(isPoison).length >= 2, 'P retried');
        // 2. other messages, sent while P fails, arrive whole and in order (before the fix: the probe was always P)
        const others: string[] = [];
        for (let i = 0; i < 10; i++) others.push((await call(t, 'POST', '/v1/messages', { to: `+7916555510${i}`, text: 'b' })).id);
        await r.waitFor(() => others.every((id) => byMessage(r.accepted).get(id)?.length === LIFECYCLE.length), 'the other messages\' events');
        for (const id of others) assert.deepEqual(byMessage(r.accepted).get(id), LIFECYCLE, id);
        // 3. no more traffic, and a restart (what the sender remembered of the endpoint's successes is gone, the log
        //    has them): P's message.sent is still the only failing delivery. It is given up after its own window,
        //    rather than the subscription disabled for it, and P's message.delivered, behind it, then goes.
        await t.restart();
        await r.waitFor(() => r.accepted.some((x) => x.event.type === 'message.delivered' && x.event.data.id === poison), 'P\'s message.delivered', 30_000);
        assert.deepEqual(byMessage(r.accepted).get(poison), ['message.queued', 'message.delivered']);
        type Hook = { event_type: string; status: string; attempts: number };
        const hooks = await until('P\'s deliveries recorded', async () => {
          const data = (await call(t, 'GET', `/v1/messages/${poison}/webhooks`)).data as Hook[];
          return data.every((h) => h.status !== 'pending') ? data : undefined;
        });
        const sent = hooks.find((h) => h.event_type === 'message.sent')!;
        assert.equal(sent.status, 'failed');
        assert.ok(sent.attempts >= webhookOwnAttempts(WINDOW_MS, RETRY_MAX_MS), `${sent.attempts} attempts`);
        assert.equal(hooks.find((h) => h.event_type === 'message.delivered')!.status, 'delivered');
        const last = (await call(t, 'GET', `/v1/webhooks/${sub.id}/deliveries?status=failed&limit=1`)).data[0];
        assert.equal(last.event_type, 'message.sent');
        assert.equal(last.next_attempt_at, null, 'the last attempt says no retry follows');
        // Its own back-off: not retried at every resume of the endpoint (about every 20 ms here), but at most every 200 ms or so.
        const tries = r.received.filter(isPoison).map((x) => x.at);
        assert.ok(tries.length < (tries.at(-1)! - tries[0]!) / 50 + 5, `${tries.length} tries in ${tries.at(-1)! - tries[0]!} ms`);
        const webhook = await call(t, 'GET', `/v1/webhooks/${sub.id}`);
        assert.equal(webhook.enabled, true);
        assert.equal(webhook.pending_deliveries, 0);
      } finally {
        await r.close();
        await t.close();
      }
    });

    test('deliveries that waited while the subscription was disabled are kept when enabling it meets a receiver still failing', async () => {
      const t = await startTestGateway(name, { DEPESHA_WEBHOOK_RETRY_BASE_MS: '20', DEPESHA_WEBHOOK_RETRY_MAX_MS: String(RETRY_MAX_MS), DEPESHA_WEBHOOK_DISABLE_AFTER_MS: '300' });
      const r = await new Receiver(() => 503).listen();
      try {
        const sub = await call(t, 'POST', '/v1/webhooks', { url: r.url, event_types: LIFECYCLE });
        const id = (await call(t, 'POST', '/v1/messages', { to: '+79165555000', text: 'p' })).id;
        await waitForStatus(t.gateway, id, ['delivered']);
        // 1. failing for the whole (short) window: disabled, its deliveries kept
        const disabled = await until('disabled', async () => ((await call(t, 'GET', `/v1/webhooks/${sub.id}`)).enabled === false ? true : undefined));
        assert.ok(disabled);
        const pending = (await call(t, 'GET', `/v1/webhooks/${sub.id}`)).pending_deliveries as number;
        assert.equal(pending, LIFECYCLE.length);
        // 2. enabled while the receiver still fails: old enough and tried before, but no delivery is given up; disabled again
        const before = r.received.length;
        assert.equal((await call(t, 'POST', `/v1/webhooks/${sub.id}/enable`)).enabled, true);
        await r.waitFor(() => r.received.length > before, 'an attempt after enabling');
        await until('disabled again', async () => ((await call(t, 'GET', `/v1/webhooks/${sub.id}`)).enabled === false ? true : undefined));
        assert.equal((await call(t, 'GET', `/v1/webhooks/${sub.id}`)).pending_deliveries, pending);
      } finally {
        await r.close();
        await t.close();
      }
    });
  });
}
