import type { Kysely } from 'kysely';

/**
 * The SMPP server for customers: credentials per account, which messages came
 * in over SMPP and want a receipt, and how far each credential has been sent
 * its receipts. Receipts are read from `message_events` (the durable log of
 * status changes) after the stored position, so a receipt survives restarts
 * and waits, in order, while the customer has no receiving bind.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('smpp_credentials')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
    .addColumn('system_id', 'text', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('allowed_ips', 'text', (c) => c.notNull())
    .addColumn('max_binds', 'integer', (c) => c.notNull())
    .addColumn('max_submits_per_second', 'integer', (c) => c.notNull())
    .addColumn('receipt_hold_seconds', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema.createIndex('smpp_credentials_account').on('smpp_credentials').columns(['account_id', 'id']).execute();

  await db.schema
    .createTable('smpp_submits')
    .addColumn('message_id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('credential_id', 'text', (c) => c.notNull())
    .addColumn('registered_delivery', 'integer', (c) => c.notNull())
    .addColumn('source_addr', 'text', (c) => c.notNull())
    .addColumn('destination_addr', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('smpp_receipt_cursors')
    .addColumn('credential_id', 'text', (c) => c.primaryKey())
    .addColumn('last_event_id', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  // Receipts (and later webhooks) read an account's events in order.
  await db.schema.createIndex('message_events_account').on('message_events').columns(['account_id', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('message_events_account').execute();
  await db.schema.dropTable('smpp_receipt_cursors').execute();
  await db.schema.dropTable('smpp_submits').execute();
  await db.schema.dropTable('smpp_credentials').execute();
}
