import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Connector, OutboundMessage, SendResult } from '../connectors/types.ts';
import { EventBus } from '../events/bus.ts';
import type { EventOutbox } from '../events/webhooks/outbox.ts';
import { createLogger } from '../log.ts';
import { CascadesRepository } from '../store/cascades.ts';
import { MessagesRepository } from '../store/messages.ts';
import { WriteBatcher } from '../store/write-batcher.ts';
import { cancelMessage } from './cancel.ts';
import type { AcceptContext } from './accept.ts';
import { CascadeEngine, prepareCascade } from './cascade.ts';
import type { Dispatcher } from './dispatcher.ts';
import { Rotation } from './rotation.ts';
import { RoutingTable } from './router.ts';
import { Sender } from './sender.ts';
import { insertEvents } from './transitions.ts';
import { storeWithAccount } from './test-store.ts';

/** Accept with no operator lookup, sender registry or prices (as test-store.ts preparedMessage). */
const NO_CONTEXT = { operators: undefined, senders: undefined } as AcceptContext;

/**
 * A cascade whose first step is a long SMS (3 parts) that its connector took
 * in part: parts 1 and 3 out, part 2 refused for now (throttled) and waiting
 * for its retry. The step is on its way to the handset, as a sent one is.
 */
async function cascadeWithPartsOut() {
  const now = Date.now();
  const store = await storeWithAccount(now);
  const { db, account } = store;
  const p = prepareCascade(account, { to: '+79161234567', text: 'Three parts. '.repeat(30), cascade: [{ channel: 'sms', timeout_seconds: 60 }, { channel: 'sms', text: 'Short fallback' }] }, now, null, NO_CONTEXT);
  assert.ok(p.ok, p.ok ? '' : p.error.message);
  assert.equal(p.first.parts_count, 3);
  await db.transaction().execute(async (tx) => {
    await MessagesRepository.insertAccepted(tx, [p.parent, p.first]);
    await CascadesRepository.insert(tx, [p.cascade]);
  });
  const batcher = new WriteBatcher(db);
  const bus = new EventBus();
  const engine = new CascadeEngine(db, batcher, bus, createLogger('silent'));
  const none: EventOutbox = { messageEvents: async () => {}, inboundMessage: async () => {} };
  const outbox = engine.outbox(none);
  const dispatched: string[] = [];
  engine.wire({ enqueue: (ids: readonly string[]) => dispatched.push(...ids) } as unknown as Dispatcher, outbox);
  const calls: OutboundMessage[] = [];
  const answer = async (m: OutboundMessage): Promise<SendResult> =>
    m.attempt === 1 && m.parts.length > 1
      ? { providerIds: ['p1', '', 'p3'], deferred: [{ part: 2, reason: { code: 'operator_throttled', providerCode: '0x00000058' } }], concatRef: 12 }
      : { providerIds: m.parts.map((part) => m.resume?.taken.get(part.index) ?? `${m.id}-${part.index}`), concatRef: m.resume?.concatRef };
  const connector = {
    id: 'sandbox',
    state: () => ({ id: 'sandbox', type: 'sandbox', status: 'up', detail: null, since: now, links: { up: 1, total: 1 }, inFlight: 0 }),
    send: async (m: OutboundMessage) => {
      calls.push(m);
      return answer(m);
    },
  } as unknown as Connector;
  const sender = new Sender(batcher, { table: new RoutingTable(), rotation: new Rotation(), connector: (id) => (id === 'sandbox' ? connector : undefined) }, bus, createLogger('silent'), {
    retry: { initialDelayMs: 1000, maxDelayMs: 60_000 },
    outbox,
  });
  const status = async (id: string) => ({ ...(await db.selectFrom('messages').select(['status', 'reason_code']).where('id', '=', id).executeTakeFirstOrThrow()) });
  // 1. Step 1 is sent in part: parts 1 and 3 out, the message waits in queued for part 2's retry.
  await sender.process([p.first.id]);
  assert.deepEqual(await status(p.first.id), { status: 'queued', reason_code: 'operator_throttled' });
  assert.equal((await db.selectFrom('message_parts').select('part_index').where('message_id', '=', p.first.id).execute()).length, 2);
  return { ...store, batcher, engine, outbox, sender, calls, dispatched, status, parent: p.parent, first: p.first, cascade: p.cascade };
}

test("a long SMS step with parts out when its timeout passes is not withdrawn: it keeps going as a sent step does, and the next step starts", async () => {
  const t = await cascadeWithPartsOut();
  try {
    // 2. The step's timeout passes while part 2 waits: the next step starts, step 1 is not cancelled.
    await t.engine.fire(t.parent.id, t.cascade.timer_at! + 1);
    const [c] = await CascadesRepository.byIds(t.db, [t.parent.id]);
    assert.equal(c!.step, 2);
    assert.deepEqual(await t.status(t.first.id), { status: 'queued', reason_code: 'operator_throttled' }, 'not cancelled (cascade_superseded) with parts out');
    // 3. Its retry sends part 2 alone under the same reference: every part reaches the handset once, and the message is sent.
    await t.db.updateTable('messages').set({ due_at: 0 }).where('id', '=', t.first.id).execute();
    await t.sender.process([t.first.id]);
    assert.deepEqual([...t.calls[1]!.resume!.taken.keys()], [1, 3]);
    assert.equal((await t.status(t.first.id)).status, 'sent');
    assert.deepEqual((await t.db.selectFrom('message_parts').select(['part_index', 'status']).where('message_id', '=', t.first.id).orderBy('part_index').execute()).map((r) => [r.part_index, r.status]), [
      [1, 'sent'],
      [2, 'sent'],
      [3, 'sent'],
    ]);
  } finally {
    await t.engine.stop();
    await t.database.close();
  }
});

test('a cascade that ends (its verification used up) while the running long SMS step has parts out: the step is not withdrawn, it decides as the last step', async () => {
  const t = await cascadeWithPartsOut();
  try {
    assert.equal(await t.engine.stopAfterCurrent(t.parent.id), true);
    assert.deepEqual(await t.status(t.first.id), { status: 'queued', reason_code: 'operator_throttled' });
    const [c] = await CascadesRepository.byIds(t.db, [t.parent.id]);
    assert.deepEqual([c!.status, c!.step], ['running', 1], 'the step goes on; the cascade waits for it');
  } finally {
    await t.engine.stop();
    await t.database.close();
  }
});

test("cancelling the parent while its long SMS step has parts out is refused: the parent and the step go on", async () => {
  const t = await cascadeWithPartsOut();
  try {
    const { result, events } = await t.batcher.run(async (tx) => {
      const r = await cancelMessage(tx, t.account.id, t.parent.id, Date.now());
      await insertEvents(tx, r.events, t.outbox);
      return r;
    });
    assert.equal(result.outcome, 'not_cancellable');
    assert.deepEqual(events, []);
    assert.equal((await t.status(t.first.id)).status, 'queued');
    const [c] = await CascadesRepository.byIds(t.db, [t.parent.id]);
    assert.equal(c!.status, 'running');
  } finally {
    await t.engine.stop();
    await t.database.close();
  }
});
