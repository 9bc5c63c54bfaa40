import type { Kysely } from 'kysely';

/**
 * Inbound (MO) messages and who owns which number: a message to a number an
 * account owns belongs to that account; one to nobody's number is kept with
 * no account, for administrators to see.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('numbers')
    .addColumn('number', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('numbers_account').on('numbers').columns(['account_id', 'number']).execute();

  await db.schema
    .createTable('inbound_messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text')
    .addColumn('connector_id', 'text', (c) => c.notNull())
    .addColumn('sender', 'text', (c) => c.notNull())
    .addColumn('recipient', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('parts_expected', 'integer', (c) => c.notNull())
    .addColumn('parts_received', 'integer', (c) => c.notNull())
    /** 1 when every part arrived; 0 when the reassembly timed out and this is what came */
    .addColumn('complete', 'integer', (c) => c.notNull())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('inbound_messages_account').on('inbound_messages').columns(['account_id', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('inbound_messages').execute();
  await db.schema.dropTable('numbers').execute();
}
