import { sql, type Kysely } from 'kysely';

/**
 * A message that was sent but whose receipt never comes is finished as
 * `expired` (`no_receipt`) once its validity and a grace period are over. The
 * scheduler looks for those by `expires_at` among `sent` messages only: this
 * partial index holds just the messages waiting for a receipt, so finding the
 * few whose wait is over never scans the history.
 *
 * As with `messages_due`, the condition is a literal that the scheduler's
 * query repeats word for word (SQLite uses a partial index only then).
 */
export const SENT_CONDITION = sql<boolean>`status = 'sent'`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('messages_sent_expiry').on('messages').columns(['expires_at']).where(SENT_CONDITION).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('messages_sent_expiry').execute();
}
