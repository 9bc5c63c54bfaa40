import type { Kysely } from 'kysely';

/**
 * Channels beyond SMS: what a message carries besides its text (an e-mail's
 * subject and HTML body, a WhatsApp/Viber template) as JSON; null for SMS.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').addColumn('content', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').dropColumn('content').execute();
}
