import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectorError, type Connector, type OutboundMessage, type SendResult } from '../connectors/types.ts';
import { EventBus } from '../events/bus.ts';
import { createLogger } from '../log.ts';
import { MessagesRepository } from '../store/messages.ts';
import { WriteBatcher } from '../store/write-batcher.ts';
import { cancelMessage } from './cancel.ts';
import { Rotation } from './rotation.ts';
import { RoutingTable } from './router.ts';
import { ReceiptProcessor } from './receipts.ts';
import { Sender } from './sender.ts';
import { preparedMessage, storeWithAccount } from './test-store.ts';

test('a message whose connector has its binds on other nodes is handed back unsent: due at once, no lease, its attempt given back, queued recorded once', async () => {
  const now = Date.now();
  const { database, db, account } = await storeWithAccount(now);
  try {
    const message = preparedMessage(account, now, { text: 'hi' });
    await db.transaction().execute((tx) => MessagesRepository.insertAccepted(tx, [message]));
    let sent = 0;
    const elsewhere = {
      id: 'sandbox',
      hasBinds: false,
      state: () => ({ id: 'sandbox', type: 'smpp', status: 'up', detail: null, since: now, links: { up: 0, total: 0 }, inFlight: 0 }),
      send: async () => {
        sent++;
        return { providerIds: ['x'] };
      },
    } as unknown as Connector;
    const handedBack: string[][] = [];
    const sender = new Sender(new WriteBatcher(db), { table: new RoutingTable(), rotation: new Rotation(), connector: (id) => (id === 'sandbox' ? elsewhere : undefined) }, new EventBus(), createLogger('silent'), {
      retry: { initialDelayMs: 1000, maxDelayMs: 60_000 },
      handBack: (ids) => handedBack.push(ids),
    });
    for (let round = 0; round < 2; round++) {
      await sender.process([message.id]);
      const row = await db.selectFrom('messages').select(['status', 'attempts', 'lease_until', 'due_at']).where('id', '=', message.id).executeTakeFirstOrThrow();
      assert.deepEqual([row.status, row.attempts, row.lease_until], ['queued', 0, null], `round ${round}`);
      assert.ok(Number(row.due_at) <= Date.now(), 'due at once');
    }
    assert.equal(sent, 0);
    assert.deepEqual(handedBack, [[message.id], [message.id]]);
    const events = await db.selectFrom('message_events').select('status').where('message_id', '=', message.id).execute();
    assert.deepEqual(events.map((e) => e.status), ['queued'], 'queued once, however often it is handed back');
  } finally {
    await database.close();
  }
});

test('a stop hands back at once the messages waiting for a slot of the cluster rate: not sent, due at once, no lease, their attempt given back', async () => {
  const now = Date.now();
  const { database, db, account } = await storeWithAccount(now);
  try {
    const messages = [0, 1, 2].map((i) => preparedMessage(account, now, { text: `hi ${i}` }));
    await db.transaction().execute((tx) => MessagesRepository.insertAccepted(tx, messages));
    let sent = 0;
    const connector = {
      id: 'sandbox',
      state: () => ({ id: 'sandbox', type: 'smpp', status: 'up', detail: null, since: now, links: { up: 1, total: 1 }, inFlight: 0 }),
      send: async () => {
        sent++;
        return { providerIds: ['x'] };
      },
    } as unknown as Connector;
    // The rate's slots are far away (a backlog at a low rate): nothing is given out until the test ends.
    let paced = 0;
    let free: () => void = () => {};
    const far = new Promise<void>((resolve) => (free = resolve));
    const sender = new Sender(new WriteBatcher(db), { table: new RoutingTable(), rotation: new Rotation(), connector: (id) => (id === 'sandbox' ? connector : undefined) }, new EventBus(), createLogger('silent'), {
      retry: { initialDelayMs: 1000, maxDelayMs: 60_000 },
      pace: () => {
        paced++;
        return far;
      },
    });
    const run = sender.process(messages.map((m) => m.id));
    while (paced < messages.length) await new Promise((resolve) => setImmediate(resolve));
    sender.stopping();
    const ended = await Promise.race([run.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 2000))]);
    free();
    await run;
    assert.equal(ended, true, 'the batch ended without waiting for its slots');
    assert.equal(sent, 0);
    for (const m of messages) {
      const row = await db.selectFrom('messages').select(['status', 'attempts', 'lease_until', 'due_at']).where('id', '=', m.id).executeTakeFirstOrThrow();
      assert.deepEqual([row.status, row.attempts, row.lease_until], ['queued', 0, null]);
      assert.ok(Number(row.due_at) <= Date.now(), 'due at once');
    }
  } finally {
    await database.close();
  }
});

/** A 3-part message, a connector that answers each attempt as `answer` says, and a sender for it. */
async function resumable(answer: (message: OutboundMessage) => Promise<SendResult>) {
  const now = Date.now();
  const store = await storeWithAccount(now);
  const message = preparedMessage(store.account, now, { text: 'Three parts. '.repeat(30) });
  assert.equal(message.parts_count, 3);
  await store.db.transaction().execute((tx) => MessagesRepository.insertAccepted(tx, [message]));
  const calls: OutboundMessage[] = [];
  const connector = {
    id: 'sandbox',
    state: () => ({ id: 'sandbox', type: 'smpp', status: 'up', detail: null, since: now, links: { up: 1, total: 1 }, inFlight: 0 }),
    send: async (m: OutboundMessage) => {
      calls.push(m);
      return answer(m);
    },
  } as unknown as Connector;
  const sender = new Sender(new WriteBatcher(store.db), { table: new RoutingTable(), rotation: new Rotation(), connector: (id) => (id === 'sandbox' ? connector : undefined) }, new EventBus(), createLogger('silent'), {
    retry: { initialDelayMs: 1000, maxDelayMs: 60_000 },
  });
  const db = store.db;
  return {
    ...store,
    id: message.id,
    calls,
    sender,
    /** makes the retry due now (and, with `expire`, the message's validity over) */
    due: (expire = false) => db.updateTable('messages').set({ due_at: 0, ...(expire ? { expires_at: 1 } : {}) }).where('id', '=', message.id).execute(),
    message: () => db.selectFrom('messages').select(['status', 'reason_code', 'provider_code', 'sent_at', 'connector_id']).where('id', '=', message.id).executeTakeFirstOrThrow(),
    parts: async () =>
      (await db.selectFrom('message_parts').select(['part_index', 'provider_message_id', 'status', 'reason_code', 'concat_ref']).where('message_id', '=', message.id).orderBy('part_index').execute()).map((p) => [
        p.part_index,
        p.provider_message_id,
        p.status,
        p.reason_code,
        p.concat_ref ?? null,
      ]),
    events: async () => (await db.selectFrom('message_events').select(['status', 'reason_code']).where('message_id', '=', message.id).orderBy('id').execute()).map((e) => [e.status, e.reason_code]),
  };
}

const throttled = { code: 'operator_throttled', providerCode: '0x00000058' } as const;

test('a long text whose part 2 is deferred keeps parts 1 and 3 and their reference, and the retry sends part 2 alone: sent with all three ids', async () => {
  const t = await resumable(async (m) =>
    m.attempt === 1 ? { providerIds: ['p1', '', 'p3'], deferred: [{ part: 2, reason: throttled }], concatRef: 77 } : { providerIds: m.parts.map((p) => m.resume?.taken.get(p.index) ?? `p${p.index}-retry`), concatRef: m.resume?.concatRef },
  );
  try {
    // 1. The first attempt: parts 1 and 3 are stored as sent with the reference, the message waits in queued with the reason.
    await t.sender.process([t.id]);
    assert.deepEqual(await t.parts(), [
      [1, 'p1', 'sent', null, 77],
      [3, 'p3', 'sent', null, 77],
    ]);
    const waiting = await t.message();
    assert.deepEqual([waiting.status, waiting.reason_code, waiting.provider_code, waiting.sent_at], ['queued', 'operator_throttled', '0x00000058', null]);
    // Waiting for its retry, but with parts out: no longer cancellable.
    const cancel = await t.db.transaction().execute((tx) => cancelMessage(tx, t.account.id, t.id, Date.now()));
    assert.deepEqual(cancel.result, { outcome: 'not_cancellable', status: 'queued', leased: false });
    // 2. The retry: the connector is told what is out already and under which reference.
    await t.due();
    await t.sender.process([t.id]);
    assert.equal(t.calls.length, 2);
    assert.equal(t.calls[0]!.resume, undefined);
    assert.deepEqual([...t.calls[1]!.resume!.taken], [
      [1, 'p1'],
      [3, 'p3'],
    ]);
    assert.equal(t.calls[1]!.resume!.concatRef, 77);
    // 3. Sent, the parts out first keeping their ids (their receipts still match).
    assert.equal((await t.message()).status, 'sent');
    assert.deepEqual((await t.parts()).map((p) => p.slice(0, 3)), [
      [1, 'p1', 'sent'],
      [2, 'p2-retry', 'sent'],
      [3, 'p3', 'sent'],
    ]);
    assert.deepEqual(await t.events(), [
      ['queued', null],
      ['queued', 'operator_throttled'],
      ['sent', null],
    ]);
  } finally {
    await t.database.close();
  }
});

test('the rest of a long text refused for good on its retry: sent with the parts out, rejected at once, not rerouted', async () => {
  const t = await resumable(async (m) => {
    if (m.attempt === 1) return { providerIds: ['p1', '', ''], deferred: [{ part: 2, reason: throttled }, { part: 3, reason: throttled }], concatRef: 5 };
    throw new ConnectorError('refused', { retryable: false, reason: 'operator_rejected', providerCode: '0x00000045' });
  });
  try {
    await t.sender.process([t.id]);
    await t.due();
    await t.sender.process([t.id]);
    const m = await t.message();
    assert.deepEqual([m.status, m.reason_code, m.provider_code, m.sent_at !== null], ['rejected', 'operator_rejected', '0x00000045', true]);
    assert.deepEqual(await t.parts(), [
      [1, 'p1', 'sent', null, 5],
      [2, '', 'rejected', 'operator_rejected', null],
      [3, '', 'rejected', 'operator_rejected', null],
    ]);
    assert.deepEqual((await t.events()).map((e) => e[0]), ['queued', 'queued', 'sent', 'rejected']);
  } finally {
    await t.database.close();
  }
});

test('a long text whose validity ends while the rest waits for its retry: sent with the parts out and expired, the rest never sent', async () => {
  const t = await resumable(async () => ({ providerIds: ['p1', '', 'p3'], deferred: [{ part: 2, reason: throttled }], concatRef: 9 }));
  try {
    await t.sender.process([t.id]);
    await t.due(true);
    await t.sender.process([t.id]);
    assert.equal(t.calls.length, 1, 'nothing sent after the validity ended');
    const m = await t.message();
    assert.deepEqual([m.status, m.reason_code, m.sent_at !== null], ['expired', 'validity_expired', true]);
    assert.deepEqual((await t.parts()).map((p) => p.slice(0, 4)), [
      [1, 'p1', 'sent', null],
      [2, '', 'expired', 'validity_expired'],
      [3, 'p3', 'sent', null],
    ]);
    assert.deepEqual((await t.events()).map((e) => e[0]), ['queued', 'queued', 'sent', 'expired']);
  } finally {
    await t.database.close();
  }
});

/** Applies one receipt for part `providerId` of connector `sandbox` through a receipt processor on the test's store. */
async function receipt(db: Awaited<ReturnType<typeof storeWithAccount>>['db'], providerId: string, status: 'delivered' | 'undelivered'): Promise<void> {
  const receipts = new ReceiptProcessor(new WriteBatcher(db), new EventBus(), createLogger('silent'));
  const reason = status === 'undelivered' ? { code: 'subscriber_unknown' as const, providerCode: 'stat:UNDELIV err:001' } : undefined;
  await receipts.submit({ connectorId: 'sandbox', providerMessageId: providerId, status, reason, at: Date.now() });
  await receipts.stop();
}

const partTwoDeferred = async (m: OutboundMessage): Promise<SendResult> =>
  m.attempt === 1 ? { providerIds: ['p1', '', 'p3'], deferred: [{ part: 2, reason: throttled }], concatRef: 41 } : { providerIds: m.parts.map((p) => m.resume?.taken.get(p.index) ?? `p${p.index}-retry`), concatRef: m.resume?.concatRef };

test('a part out undelivered while the rest waits for its retry: the rest is never sent, the message is sent and undelivered at once by that part', async () => {
  const t = await resumable(partTwoDeferred);
  try {
    // 1. Parts 1 and 3 out, part 2 waits for its retry; then part 1's receipt says undeliverable.
    await t.sender.process([t.id]);
    assert.equal((await t.message()).status, 'queued');
    await receipt(t.db, 'p1', 'undelivered');
    // 2. At once, without waiting for the retry: sent (parts 1 and 3 went out) and undelivered with part 1's reason.
    const m = await t.message();
    assert.deepEqual([m.status, m.reason_code, m.provider_code, m.sent_at !== null], ['undelivered', 'subscriber_unknown', 'stat:UNDELIV err:001', true]);
    assert.deepEqual((await t.parts()).map((p) => p.slice(0, 4)), [
      [1, 'p1', 'undelivered', 'subscriber_unknown'],
      [2, '', 'cancelled', 'subscriber_unknown'],
      [3, 'p3', 'sent', null],
    ]);
    assert.deepEqual(await t.events(), [
      ['queued', null],
      ['queued', 'operator_throttled'],
      ['sent', null],
      ['undelivered', 'subscriber_unknown'],
    ]);
    // 3. The retry that was due finds nothing to send; part 3's late receipt updates only its part.
    await t.due();
    await t.sender.process([t.id]);
    assert.equal(t.calls.length, 1, 'part 2 never submitted');
    await receipt(t.db, 'p3', 'delivered');
    assert.equal((await t.message()).status, 'undelivered');
    assert.equal((await t.parts())[2]![2], 'delivered');
  } finally {
    await t.database.close();
  }
});

test('a part out undelivered while its retry is being submitted: the message ends undelivered once the rest is recorded, not sent and waiting', async () => {
  let release: () => void = () => {};
  let submitting: () => void = () => {};
  const inFlight = new Promise<void>((resolve) => (submitting = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  const t = await resumable(async (m) => {
    if (m.attempt === 1) return partTwoDeferred(m);
    submitting();
    await gate;
    return partTwoDeferred(m);
  });
  try {
    await t.sender.process([t.id]);
    await t.due();
    // 1. The retry is on its way (the sender holds the message); part 1's receipt comes meanwhile: recorded on the part only.
    const retry = t.sender.process([t.id]);
    await inFlight;
    await receipt(t.db, 'p1', 'undelivered');
    assert.equal((await t.message()).status, 'queued', 'a message a sender holds is left to it');
    // 2. The retry's answer is recorded: sent with every part, and at once undelivered by part 1.
    release();
    await retry;
    const m = await t.message();
    assert.deepEqual([m.status, m.reason_code], ['undelivered', 'subscriber_unknown']);
    assert.deepEqual((await t.parts()).map((p) => p.slice(0, 3)), [
      [1, 'p1', 'undelivered'],
      [2, 'p2-retry', 'sent'],
      [3, 'p3', 'sent'],
    ]);
    assert.deepEqual((await t.events()).map((e) => e[0]), ['queued', 'queued', 'sent', 'undelivered']);
  } finally {
    await t.database.close();
  }
});

test('a retry that finds a part out failed already (its receipt came while a sender held the message) sends nothing and ends the message by that part', async () => {
  const t = await resumable(partTwoDeferred);
  try {
    await t.sender.process([t.id]);
    // As the receipt processor leaves it when a sender holds the message: the part failed, the message still queued.
    await t.db.updateTable('message_parts').set({ status: 'expired', reason_code: 'validity_expired', provider_code: 'stat:EXPIRED err:000' }).where('message_id', '=', t.id).where('part_index', '=', 3).execute();
    await t.due();
    await t.sender.process([t.id]);
    assert.equal(t.calls.length, 1, 'part 2 never submitted');
    const m = await t.message();
    assert.deepEqual([m.status, m.reason_code, m.provider_code], ['expired', 'validity_expired', 'stat:EXPIRED err:000']);
    assert.deepEqual((await t.parts()).map((p) => p.slice(0, 3)), [
      [1, 'p1', 'sent'],
      [2, '', 'cancelled'],
      [3, 'p3', 'expired'],
    ]);
  } finally {
    await t.database.close();
  }
});
