import type { Kysely } from 'kysely';

/**
 * A mailing's message counts by status (its stats, the live progress events,
 * the runner's checks) are asked with the account id, as every tenant query
 * is; with the account at the end of the index the count is still read from
 * the index alone, and `(mailing_id, status)` lookups use it as before.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('messages_mailing').execute();
  await db.schema.createIndex('messages_mailing').on('messages').columns(['mailing_id', 'status', 'account_id']).where('mailing_id', 'is not', null).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('messages_mailing').execute();
  await db.schema.createIndex('messages_mailing').on('messages').columns(['mailing_id', 'status']).where('mailing_id', 'is not', null).execute();
}
