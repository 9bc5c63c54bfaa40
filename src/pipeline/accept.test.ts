import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WriteBatcher, type WriteWork } from '../store/write-batcher.ts';
import { AcceptWriter } from './accept.ts';
import { preparedMessage, storeWithAccount } from './test-store.ts';

test('a group whose transaction failed before it ran (the database away) is closed: later jobs go into a new group and are stored', async () => {
  let down = true;
  let ran = 0;
  // A batcher whose transaction cannot start while `down` (no connection), as on PostgreSQL during an outage.
  const batcher = {
    run<T>(_work: WriteWork<T>): Promise<T> {
      return new Promise<T>((resolve, reject) =>
        setImmediate(() => {
          if (down) return reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
          ran++;
          // Stored: the group reports no failed job (what its work needs of a transaction is not the point here).
          resolve({ failed: new Map(), claimed: new Map() } as T);
        }),
      );
    },
  } as unknown as WriteBatcher;
  const writer = new AcceptWriter(batcher);
  await assert.rejects(writer.write({ messages: [] }), /ECONNREFUSED/);
  await assert.rejects(writer.write({ messages: [] }), /ECONNREFUSED/);
  down = false;
  await writer.write({ messages: [] });
  assert.equal(ran, 1, 'the job after the outage ran in a transaction of its own');
});

test('a claiming job is written with its due messages already queued for the sender, the claim event beside them; later ones stay accepted', async () => {
  const now = Date.now();
  const { database, db, account } = await storeWithAccount(now);
  try {
    const row = (text: string, sendAt?: string) => preparedMessage(account, now, { text, ...(sendAt ? { send_at: sendAt } : {}) });
    const writer = new AcceptWriter(new WriteBatcher(db), { claims: { leaseMs: 60_000 } });
    const due = row('now');
    const later = row('later', new Date(now + 3_600_000).toISOString());
    const claimed = await writer.write({ messages: [due, later], claim: true });
    assert.ok(claimed);
    assert.deepEqual(claimed.rows.map((r) => [r.id, r.status, r.attempts, r.lease_until === r.due_at && r.lease_until! >= claimed.at + 60_000]), [[due.id, 'queued', 1, true]]);
    assert.deepEqual(claimed.changes.map((c) => [c.messageId, c.status]), [[due.id, 'queued']]);
    const stored = await db.selectFrom('messages').select(['id', 'status', 'attempts', 'lease_until', 'queued_at']).orderBy('id').execute();
    assert.deepEqual(stored.map((r) => [r.id, r.status, r.attempts, r.lease_until !== null, r.queued_at !== null]), [
      [due.id, 'queued', 1, true, true],
      [later.id, 'accepted', 0, false, false],
    ]);
    const events = await db.selectFrom('message_events').select(['id', 'message_id', 'status']).execute();
    assert.deepEqual(events.map((e) => [e.id, e.message_id, e.status]), [[claimed.changes[0]!.eventId, due.id, 'queued']]);
    // Without `claim`, or from a writer made without claims, nothing is claimed.
    const plain = row('plain');
    assert.equal(await writer.write({ messages: [plain] }), undefined);
    const other = row('other');
    assert.equal(await new AcceptWriter(new WriteBatcher(db)).write({ messages: [other], claim: true }), undefined);
    const statuses = await db.selectFrom('messages').select('status').where('id', 'in', [plain.id, other.id]).execute();
    assert.deepEqual(statuses.map((s) => s.status), ['accepted', 'accepted']);
  } finally {
    await database.close();
  }
});
