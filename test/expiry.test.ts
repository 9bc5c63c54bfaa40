import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EventBus } from '../src/events/bus.ts';
import { createLogger } from '../src/log.ts';
import { ReceiptProcessor } from '../src/pipeline/receipts.ts';
import { expireSent, insertEvents } from '../src/pipeline/transitions.ts';
import { WriteBatcher } from '../src/store/write-batcher.ts';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

for (const dialect of await dialects()) {
  describe(`validity expiry on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    before(async () => {
      // The only route goes to an operator that never answers: every attempt is a temporary failure.
      t = await startTestGateway(dialect.name, {}, {
        configFile: {
          connectors: [{ id: 'down', type: 'smpp', host: '127.0.0.1', port: 1, system_id: 'depesha', password: 'secret1', reconnect_min_ms: 1000, reconnect_max_ms: 1000 }],
          routes: [{ connector: 'down' }],
        },
      });
    });
    after(() => t.close());

    test('temporary failures are retried with back-off until the validity ends, then the message is expired with the reason', async () => {
      const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/messages', headers: { authorization: `Bearer ${t.apiKey}` }, payload: { to: '+79161234567', text: 'nobody answers' } });
      assert.equal(res.statusCode, 202);
      const id = res.json().id as string;
      // 1. The first attempt fails temporarily and the message waits for its retry.
      const retried = new Promise<void>((resolve) => {
        const off = t.gateway.bus.onStatus((changes) => {
          if (!changes.some((c) => c.messageId === id && c.status === 'queued' && c.reasonCode === 'operator_unavailable')) return;
          off();
          resolve();
        });
      });
      await retried;
      // 2. Its validity now ends shortly (the test stands in for the passing time): retries go on until then.
      await t.gateway.database.db.updateTable('messages').set({ expires_at: Date.now() + 300 }).where('id', '=', id).execute();
      assert.equal(await waitForStatus(t.gateway, id, ['expired', 'sent', 'delivered']), 'expired');
      const got = (await t.gateway.app.inject({ method: 'GET', url: `/v1/messages/${id}`, headers: { authorization: `Bearer ${t.apiKey}` } })).json();
      assert.equal(got.reason.code, 'validity_expired');
      assert.ok(got.attempts >= 2, `retried: ${got.attempts} attempts`);
      assert.equal(got.sent_at, null);
      const kinds = got.events.map((e: { status: string; reason: string | null }) => `${e.status}:${e.reason}`);
      assert.equal(kinds.at(-1), 'expired:validity_expired');
      assert.ok(kinds.filter((k: string) => k === 'queued:operator_unavailable').length >= 1);
    });
  });

  describe(`the end of sent on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    /** receipts applied from the test, as a connector would hand them over (the sandbox's own never come in this suite) */
    let receipts: ReceiptProcessor;
    const api = async (url: string) => (await t.gateway.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${t.apiKey}` } })).json();
    const send = async (text: string, to = '+79161234567') => {
      const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/messages', headers: { authorization: `Bearer ${t.apiKey}` }, payload: { to, text } });
      assert.equal(res.statusCode, 202);
      return res.json().id as string;
    };
    const parts = (id: string) => t.gateway.database.db.selectFrom('message_parts').select(['part_index', 'status', 'reason_code', 'provider_message_id']).where('message_id', '=', id).orderBy('part_index').execute();
    const receipt = (providerMessageId: string) => receipts.submit({ connectorId: 'sandbox', providerMessageId, status: 'delivered', at: Date.now() });

    before(async () => {
      t = await startTestGateway(dialect.name, { DEPESHA_SANDBOX_RECEIPT_DELAY_MS: '600000', DEPESHA_RECEIPT_GRACE_SECONDS: '0' });
      receipts = new ReceiptProcessor(new WriteBatcher(t.gateway.database.db, { batch: false }), new EventBus(), createLogger('silent'));
    });
    after(async () => {
      await receipts.stop();
      await t.close();
    });

    test('a sent message whose receipt never comes is expired (no_receipt) when its validity ends; parts still waiting are closed; a late receipt changes nothing', async () => {
      const single = await send('one part');
      const long = await send('a'.repeat(200)); // two GSM-7 parts
      const within = await send('still valid');
      for (const id of [single, long, within]) await waitForStatus(t.gateway, id, ['sent']);
      // 1. The first part of the long one gets its receipt; the message waits for the second.
      const [first] = await parts(long);
      await receipt(first!.provider_message_id);
      assert.equal((await api(`/v1/messages/${long}`)).status, 'sent');
      // 2. Their validity ends (the test stands in for the passing time); the grace is 0 in this suite.
      await t.gateway.database.db.updateTable('messages').set({ expires_at: Date.now() - 1 }).where('id', 'in', [single, long]).execute();
      for (const id of [single, long]) assert.equal(await waitForStatus(t.gateway, id, ['expired', 'delivered']), 'expired');
      const got = await api(`/v1/messages/${single}`);
      assert.equal(got.reason.code, 'no_receipt');
      assert.equal(got.reason.permanent, true);
      assert.ok(got.completed_at);
      assert.deepEqual(got.events.map((e: { status: string; reason: string | null }) => [e.status, e.reason]).at(-1), ['expired', 'no_receipt']);
      assert.deepEqual((await parts(long)).map((p) => [p.status, p.reason_code]), [['delivered', null], ['expired', 'no_receipt']]);
      assert.deepEqual((await parts(single)).map((p) => [p.status, p.reason_code]), [['expired', 'no_receipt']]);
      assert.equal((await api(`/v1/messages/${within}`)).status, 'sent', 'a message within its validity keeps waiting');
      // 3. The receipt comes after all: applied (the connector may acknowledge it), but nothing moves back.
      const eventsBefore = (await api(`/v1/messages/${single}/events`)).data.length;
      const [part] = await parts(single);
      await receipt(part!.provider_message_id);
      const after = await api(`/v1/messages/${single}`);
      assert.equal(after.status, 'expired');
      assert.equal(after.reason.code, 'no_receipt');
      assert.deepEqual((await parts(single)).map((p) => [p.status, p.reason_code]), [['expired', 'no_receipt']]);
      assert.equal((await api(`/v1/messages/${single}/events`)).data.length, eventsBefore, 'no new event');
    });

    test('expireSent works in bounded batches, oldest validity first, and only on sent messages past the given end', async () => {
      const older = await send('older');
      const newer = await send('newer');
      for (const id of [older, newer]) await waitForStatus(t.gateway, id, ['sent']);
      const db = t.gateway.database.db;
      const now = Date.now();
      // An hour ahead: the gateway's own scheduler leaves them alone while the test calls the transition,
      // and the messages of the test before (valid for a day) are not yet past it.
      const end = now + 3_600_000;
      await db.updateTable('messages').set({ expires_at: end - 2000 }).where('id', '=', older).execute();
      await db.updateTable('messages').set({ expires_at: end - 1000 }).where('id', '=', newer).execute();
      const run = (endedBefore: number) => db.transaction().execute(async (tx) => insertEvents(tx, await expireSent(tx, endedBefore, 1, now)));
      assert.deepEqual(await run(end - 2000), [], 'a validity that ends exactly then is not over before it');
      const firstBatch = await run(end);
      assert.deepEqual(firstBatch.map((c) => [c.messageId, c.status, c.reasonCode]), [[older, 'expired', 'no_receipt']]);
      assert.match(firstBatch[0]!.eventId, /^evt_/);
      assert.deepEqual((await run(end)).map((c) => c.messageId), [newer]);
      assert.deepEqual(await run(end), []);
    });
  });
}
