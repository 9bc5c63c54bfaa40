import type { Kysely } from 'kysely';

/**
 * Channels beyond SMS: what a message carries besides its text (an e-mail's
 * subject and HTML body, a WhatsApp/Viber template) as JSON, null for SMS;
 * and verifications (one-time codes), whose code is kept only as a salted hash.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').addColumn('content', 'text').execute();
  await db.schema
    .createTable('verifications')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
    .addColumn('recipient', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('code_salt', 'text', (c) => c.notNull())
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('verified_at', 'bigint')
    .execute();
  // The abuse limits count an account's and a number's recent verifications.
  await db.schema.createIndex('verifications_account_created').on('verifications').columns(['account_id', 'created_at']).execute();
  await db.schema.createIndex('verifications_recipient_created').on('verifications').columns(['account_id', 'recipient', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('verifications').execute();
  await db.schema.alterTable('messages').dropColumn('content').execute();
}
