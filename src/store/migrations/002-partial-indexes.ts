import { sql, type Kysely } from 'kysely';

/**
 * Every status change of a message rewrote its entries in `messages_due` and
 * `messages_batch`, and every message carried index entries for an empty
 * group, project and batch. These indexes now hold only the rows their queries
 * look for: the due list only open messages (so `sent → delivered` no longer
 * touches it), the others only rows that have the column set.
 *
 * The due index's condition is written as a literal, and the scheduler's
 * query repeats it word for word: SQLite uses a partial index only when the
 * query's WHERE contains the index's condition as it is.
 */
export const OPEN_STATUS_CONDITION = sql<boolean>`status in ('accepted', 'queued')`;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const name of ['messages_due', 'messages_batch', 'messages_group', 'messages_project']) await db.schema.dropIndex(name).execute();
  await db.schema.createIndex('messages_due').on('messages').columns(['due_at']).where(OPEN_STATUS_CONDITION).execute();
  await db.schema.createIndex('messages_batch').on('messages').columns(['batch_id', 'status']).where('batch_id', 'is not', null).execute();
  await db.schema.createIndex('messages_group').on('messages').columns(['account_id', 'group_tag', 'id']).where('group_tag', 'is not', null).execute();
  await db.schema.createIndex('messages_project').on('messages').columns(['account_id', 'project', 'id']).where('project', 'is not', null).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const name of ['messages_due', 'messages_batch', 'messages_group', 'messages_project']) await db.schema.dropIndex(name).execute();
  await db.schema.createIndex('messages_due').on('messages').columns(['status', 'due_at']).execute();
  await db.schema.createIndex('messages_batch').on('messages').columns(['batch_id', 'status']).execute();
  await db.schema.createIndex('messages_group').on('messages').columns(['account_id', 'group_tag', 'id']).execute();
  await db.schema.createIndex('messages_project').on('messages').columns(['account_id', 'project', 'id']).execute();
}
