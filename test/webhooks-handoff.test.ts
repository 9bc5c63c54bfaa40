/**
 * The webhook sender's direct hand-over on SQLite: once it holds every pending
 * delivery of an endpoint, new deliveries go to it from the transaction that
 * writes them (stored already leased, not read back), still in order per
 * message; a failure hands the waiting ones back to the store.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { WebhookOutboxWriter, type OutboxMessageEvent } from '../src/events/webhooks/outbox.ts';
import { DirectPoster } from '../src/events/webhooks/poster-http.ts';
import { WebhookSender } from '../src/events/webhooks/sender.ts';
import { Subscriptions } from '../src/events/webhooks/subscriptions.ts';
import { newId } from '../src/domain/ids.ts';
import type { MessageStatus } from '../src/domain/statuses.ts';
import { createLogger } from '../src/log.ts';
import { AccountsRepository } from '../src/store/accounts.ts';
import { openDatabase, type Database } from '../src/store/db.ts';
import type { MessageRow } from '../src/store/messages.ts';
import { SecretBox } from '../src/store/secrets.ts';
import { WebhookOutbox, WebhooksRepository } from '../src/store/webhooks.ts';
import { WriteBatcher } from '../src/store/write-batcher.ts';
import { byMessage, Receiver } from './webhooks-receiver.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'depesha-handoff-'));
let store: Database;
let receiver: Receiver;
let sender: WebhookSender;
let batcher: WriteBatcher;
let writer: WebhookOutboxWriter;
let accountId: string;
let webhookId: string;

before(async () => {
  store = await openDatabase({ sqlitePath: path.join(dir, 'db.sqlite') });
  await store.migrate();
  const box = new SecretBox(randomBytes(32));
  accountId = (await new AccountsRepository(store.db).createAccount({ name: 'handoff', defaultRegion: 'RU', defaultTtlSeconds: 3600, maxParts: 10 })).id;
  receiver = await new Receiver().listen();
  webhookId = (await new WebhooksRepository(store.db, box).create(accountId, { url: receiver.url, eventTypes: ['message.queued', 'message.sent', 'message.delivered'], description: null, secret: 'whsec_' + randomBytes(24).toString('base64') })).id;
  const subscriptions = new Subscriptions();
  subscriptions.replace(await WebhookOutbox.subscriptions(store.db, box));
  batcher = new WriteBatcher(store.db);
  const options = { timeoutMs: 2_000, concurrency: 4, retryBaseMs: 20, retryMaxMs: 40, disableAfterMs: 3_600_000, pollMs: 20, retentionMs: 86_400_000 };
  sender = new WebhookSender(store.db, 'sqlite', batcher, subscriptions, box, createLogger('silent'), options, new DirectPoster({ allowPrivateAddresses: true }), true);
  const written = new Set<string>();
  writer = new WebhookOutboxWriter(
    subscriptions,
    'sqlite',
    (endpoints) => endpoints.forEach((e) => written.add(e)),
    (rows) => {
      const taken = sender.admit(rows, Date.now());
      if (taken.length > 0) batcher.onSettled((stored) => sender.settle(taken, stored));
      return taken;
    },
  );
  // As the delivery thread does: endpoints written in a transaction are looked at once it has committed.
  const write = batcher.run.bind(batcher);
  batcher.run = (async (work) => {
    const result = await write(work);
    sender.track(written);
    written.clear();
    return result;
  }) as typeof batcher.run;
  await sender.start();
});

after(async () => {
  await sender.stop();
  await receiver.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function message(id: string): MessageRow {
  const now = Date.now();
  return {
    id, account_id: accountId, batch_id: null, channel: 'sms', recipient: '+79165550000', sender: null, body: 'hi', encoding: 'gsm7', characters: 2, parts_count: 1,
    traffic_type: 'service', group_tag: null, project: null, reference: null, status: 'accepted', reason_code: null, provider_code: null, reason_detail: null,
    connector_id: null, attempts: 0, ttl_seconds: 3600, send_at: null, expires_at: now + 3_600_000, due_at: now, lease_until: null, created_at: now, queued_at: null,
    sent_at: null, delivered_at: null, completed_at: null, updated_at: now, failed_connectors: null, operator: null, region: null, callback_url: null,
  };
}

/** The lifecycle events of these messages, written in one transaction (as one receipt batch would). */
async function writeEvents(ids: string[], statuses: MessageStatus[] = ['queued', 'sent', 'delivered']): Promise<string[]> {
  const events: OutboxMessageEvent[] = [];
  for (const id of ids) for (const status of statuses) events.push({ id: newId('evt'), accountId, messageId: id, status, at: Date.now(), row: { ...message(id), status } });
  await batcher.run((tx) => writer.messageEvents(tx, events));
  return events.map((e) => e.id);
}

const leasedAtCommit = async (eventIds: string[]) =>
  (await store.db.selectFrom('webhook_deliveries').select(['event_id', 'lease_until']).where('event_id', 'in', eventIds).execute()).filter((r) => r.lease_until !== null).length;

/** A bounded wait on state no event announces (the sender's own, or an outcome's commit). */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const nothingPending = async () => (await store.db.selectFrom('webhook_deliveries').select('id').where('status', '=', 'pending').execute()).length === 0;

const lifecycle = ['message.queued', 'message.sent', 'message.delivered'];
const allArrived = (ids: string[]) => () => ids.every((id) => byMessage(receiver.accepted).get(id)?.length === lifecycle.length);

test('1. an endpoint is first read from the store; once all it has is held, new deliveries are handed over leased, in order per message', async () => {
  const first = [newId('msg')];
  const firstEvents = await writeEvents(first);
  assert.equal(await leasedAtCommit(firstEvents), 0, 'not handed over: the sender did not know the endpoint yet');
  await receiver.waitFor(allArrived(first), 'the first message');
  await until('the endpoint is handed over directly', () => sender.handsOver(webhookId));

  const next = [newId('msg'), newId('msg'), newId('msg')];
  const nextEvents = await writeEvents(next);
  assert.equal(await leasedAtCommit(nextEvents), nextEvents.length, 'every delivery stored leased by its own transaction');
  await receiver.waitFor(allArrived(next), 'the handed-over messages');
  for (const id of [...first, ...next]) assert.deepEqual(byMessage(receiver.accepted).get(id), lifecycle, id);
});

test('2. a failure pauses the endpoint and hands the waiting deliveries back; they still arrive in order', async () => {
  await until('the endpoint is handed over directly', () => sender.handsOver(webhookId));
  const failFrom = receiver.received.length;
  receiver.behaviour = (n) => (n === failFrom + 1 ? 500 : 200);
  const ids = [newId('msg'), newId('msg')];
  await writeEvents(ids);
  await receiver.waitFor(allArrived(ids), 'every event after the failure');
  assert.ok(receiver.received.length > receiver.accepted.length, 'one request was refused');
  for (const id of ids) assert.deepEqual(byMessage(receiver.accepted).get(id), lifecycle, id);
  await until('every outcome recorded', nothingPending);
});

test('3. a delivery made pending outside the sender (a replay) is found after a refresh, and hand-over resumes', async () => {
  await until('the endpoint is handed over directly', () => sender.handsOver(webhookId));
  await until('every outcome recorded', nothingPending);
  const [eventId] = await writeEvents([newId('msg')], ['queued']);
  await receiver.waitFor(() => receiver.accepted.some((r) => r.event.id === eventId), 'the event');
  await until('its outcome recorded', nothingPending);
  const box = new SecretBox(randomBytes(32));
  assert.equal(await new WebhooksRepository(store.db, box).replay(accountId, webhookId, { eventId: eventId! }), 1);
  await sender.refresh();
  await receiver.waitFor(() => receiver.accepted.filter((r) => r.event.id === eventId).length === 2, 'the replayed event');
  await until('the endpoint is handed over directly again', () => sender.handsOver(webhookId));
  const ids = [newId('msg')];
  const events = await writeEvents(ids);
  assert.equal(await leasedAtCommit(events), events.length);
  await receiver.waitFor(allArrived(ids), 'the message after the replay');
});
