import { sql, type Kysely } from 'kysely';

/**
 * The `callback_url` deliveries that were given up, found by account (the
 * account's list, newest first) and by message (the message's webhooks).
 * They are few, so two partial indexes over them cost little; delivered and
 * pending ones are in neither.
 *
 * The condition is a literal that the queries repeat word for word (SQLite
 * uses a partial index only then).
 */
export const GIVEN_UP_CALLBACK_CONDITION = sql<boolean>`webhook_id is null and status = 'failed'`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('webhook_deliveries_callback_given_up').on('webhook_deliveries').columns(['account_id', 'id']).where(GIVEN_UP_CALLBACK_CONDITION).execute();
  await db.schema.createIndex('webhook_deliveries_callback_given_up_message').on('webhook_deliveries').columns(['account_id', 'order_key', 'id']).where(GIVEN_UP_CALLBACK_CONDITION).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('webhook_deliveries_callback_given_up_message').execute();
  await db.schema.dropIndex('webhook_deliveries_callback_given_up').execute();
}
