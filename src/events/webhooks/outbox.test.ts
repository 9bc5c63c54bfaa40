import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import type { DB } from '../../store/schema.ts';
import { WebhookOutboxWriter } from './outbox.ts';
import { Subscriptions } from './subscriptions.ts';

/** A transaction that fails the test on any use: the outbox must not touch it. */
const untouchable = new Proxy({}, { get: (_, name) => assert.fail(`the outbox used tx.${String(name)}`) }) as Kysely<DB>;

test('events nobody subscribes to cost the outbox no statement', async () => {
  const subscriptions = new Subscriptions();
  subscriptions.replace([
    { id: 'whk_1', accountId: 'acc_other', url: 'https://example.com/', eventTypes: new Set(['message.delivered']), secret: 'whsec_x', enabled: true, failingSince: null },
    { id: 'whk_2', accountId: 'acc_a', url: 'https://example.com/', eventTypes: new Set(['message.delivered']), secret: 'whsec_x', enabled: false, failingSince: null },
  ]);
  let written = 0;
  const outbox = new WebhookOutboxWriter(subscriptions, 'sqlite', () => written++);
  await outbox.messageEvents(untouchable, [
    { id: 'evt_1', accountId: 'acc_a', messageId: 'msg_1', status: 'delivered', at: 1 }, // its subscription is disabled
    { id: 'evt_2', accountId: 'acc_other', messageId: 'msg_2', status: 'sent', at: 1 }, // not a subscribed type
  ]);
  await outbox.inboundMessage(untouchable, { id: 'inb_1', account_id: 'acc_a', connector_id: 'c', sender: '+1', recipient: '1', body: 'x', parts_expected: 1, parts_received: 1, complete: 1, received_at: 1 });
  assert.equal(written, 0);
});
