import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Connector } from '../connectors/types.ts';
import { EventBus } from '../events/bus.ts';
import { createLogger } from '../log.ts';
import { AccountsRepository } from '../store/accounts.ts';
import { openDatabase } from '../store/db.ts';
import { MessagesRepository } from '../store/messages.ts';
import { WriteBatcher } from '../store/write-batcher.ts';
import { prepareMessage } from './accept.ts';
import { Rotation } from './rotation.ts';
import { RoutingTable } from './router.ts';
import { Sender } from './sender.ts';

test('a message whose connector has its binds on other nodes is handed back unsent: due at once, no lease, its attempt given back, queued recorded once', async () => {
  const database = await openDatabase({ sqlitePath: ':memory:' });
  await database.migrate();
  const db = database.db;
  try {
    const now = Date.now();
    const account = await new AccountsRepository(db).createAccount({ name: 'A', defaultRegion: 'RU', defaultTtlSeconds: 86400, maxParts: 10 }, now);
    const p = prepareMessage(account, { to: '+79161234567', text: 'hi' }, now, null, { operators: undefined, senders: undefined });
    assert.ok(p.ok);
    await db.transaction().execute((tx) => MessagesRepository.insertAccepted(tx, [p.row]));
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
      await sender.process([p.row.id]);
      const row = await db.selectFrom('messages').select(['status', 'attempts', 'lease_until', 'due_at']).where('id', '=', p.row.id).executeTakeFirstOrThrow();
      assert.deepEqual([row.status, row.attempts, row.lease_until], ['queued', 0, null], `round ${round}`);
      assert.ok(Number(row.due_at) <= Date.now(), 'due at once');
    }
    assert.equal(sent, 0);
    assert.deepEqual(handedBack, [[p.row.id], [p.row.id]]);
    const events = await db.selectFrom('message_events').select('status').where('message_id', '=', p.row.id).execute();
    assert.deepEqual(events.map((e) => e.status), ['queued'], 'queued once, however often it is handed back');
  } finally {
    await database.close();
  }
});
