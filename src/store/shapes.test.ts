import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompiledQuery, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';
import { openDatabase } from './db.ts';
import type { DB } from './schema.ts';
import { fixedChunks, inLists, insertChunks } from './shapes.ts';

test('rows are cut into a few fixed sizes and none is lost', () => {
  const rows = Array.from({ length: 345 }, (_, i) => i);
  const chunks = fixedChunks(rows);
  assert.deepEqual(chunks.map((c) => c.length), [256, 64, 16, 4, 4, 1]);
  assert.deepEqual(chunks.flat(), rows);
  assert.deepEqual(fixedChunks([]), []);
});

test('IN lists are padded to a power of two with the last value, at most 512 long', () => {
  assert.deepEqual(inLists(['a', 'b', 'c']), [['a', 'b', 'c', 'c']]);
  assert.deepEqual(inLists(['a']), [['a']]);
  const many = inLists(Array.from({ length: 600 }, (_, i) => i));
  assert.deepEqual(many.map((l) => l.length), [512, 128]);
  assert.deepEqual(new Set(many.flat()).size, 600);
  assert.deepEqual(inLists([]), []);
});

/** A Kysely whose driver only records what it is asked to run. */
function recording(dialect: 'sqlite' | 'postgres'): { db: Kysely<DB>; ran: CompiledQuery[] } {
  const ran: CompiledQuery[] = [];
  const connection: DatabaseConnection = {
    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      ran.push(query);
      return { rows: [] };
    },
    async *streamQuery() {},
  };
  const driver: Driver = { async init() {}, async acquireConnection() { return connection; }, async beginTransaction() {}, async commitTransaction() {}, async rollbackTransaction() {}, async releaseConnection() {}, async destroy() {} };
  const db = new Kysely<DB>({
    dialect: {
      createAdapter: () => (dialect === 'sqlite' ? new SqliteAdapter() : new PostgresAdapter()),
      createDriver: () => driver,
      createIntrospector: (k) => (dialect === 'sqlite' ? new SqliteIntrospector(k) : new PostgresIntrospector(k)),
      createQueryCompiler: () => (dialect === 'sqlite' ? new SqliteQueryCompiler() : new PostgresQueryCompiler()),
    },
  });
  return { db, ran };
}

const event = (i: number, reason: string | null) => ({ id: `evt_${i}`, account_id: 'acc_1', message_id: `msg_${i}`, status: 'sent', reason_code: reason, provider_code: null, created_at: 1_000 + i });

for (const dialect of ['sqlite', 'postgres'] as const) {
  test(`insertChunks runs exactly what Kysely builds, the first time and from its kept text (${dialect})`, async () => {
    const { db, ran } = recording(dialect);
    const expected = (rows: readonly object[]) => fixedChunks(rows).map((c) => db.insertInto('message_events').values(c as never).compile());
    for (const rows of [
      Array.from({ length: 277 }, (_, i) => event(i, i % 3 ? null : 'x')),
      Array.from({ length: 277 }, (_, i) => event(i + 5_000, i % 2 ? 'y' : null)), // the same shapes again: from the kept text
      // keys in another order in one row, and a reason given as undefined (Kysely leaves that column to its default)
      [event(1, null), { created_at: 7, id: 'evt_b', account_id: 'acc_1', message_id: 'm', status: 'sent', reason_code: 'z', provider_code: null }, { ...event(2, null), reason_code: undefined }, event(3, null)],
    ]) {
      ran.length = 0;
      await insertChunks(db, 'message_events', rows as never);
      assert.deepEqual(ran.map((q) => [q.sql, q.parameters]), expected(rows).map((q) => [q.sql, q.parameters]));
    }
    ran.length = 0;
    const parts = [{ message_id: 'm', part_index: 1, account_id: 'a', connector_id: 'c', provider_message_id: 'p', status: 'sent', reason_code: null, provider_code: null, sent_at: 1, done_at: null, concat_ref: 5 }];
    for (let i = 0; i < 2; i++) await insertChunks(db, 'message_parts', parts, { onConflictDoNothing: ['message_id', 'part_index'] });
    const own = db.insertInto('message_parts').values(parts).onConflict((oc) => oc.columns(['message_id', 'part_index']).doNothing()).compile();
    assert.deepEqual(ran.map((q) => [q.sql, q.parameters]), [[own.sql, own.parameters], [own.sql, own.parameters]]);
  });
}

test('insertChunks writes every row with its own values into SQLite, from the kept text too', async () => {
  const db = await openDatabase({});
  await db.migrate();
  try {
    const rows = (base: number) => Array.from({ length: 300 }, (_, i) => event(base + i, i % 7 ? null : `r${i}`));
    await insertChunks(db.db, 'message_events', rows(0));
    await insertChunks(db.db, 'message_events', rows(1_000));
    const read = await db.db.selectFrom('message_events').selectAll().orderBy('created_at').execute();
    assert.deepEqual(read.map((r) => ({ ...r })), [...rows(0), ...rows(1_000)]);
  } finally {
    await db.close();
  }
});
