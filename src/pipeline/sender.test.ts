import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Connector } from '../connectors/types.ts';
import { EventBus } from '../events/bus.ts';
import { createLogger } from '../log.ts';
import { MessagesRepository } from '../store/messages.ts';
import { WriteBatcher } from '../store/write-batcher.ts';
import { Rotation } from './rotation.ts';
import { RoutingTable } from './router.ts';
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
