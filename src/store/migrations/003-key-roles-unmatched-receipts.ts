import type { Kysely } from 'kysely';

/**
 * API keys get a role: `admin` keys may also manage what the whole gateway
 * shares (connectors, routes); `account` keys reach only their account's data.
 * The key made at bootstrap is the installation's first and becomes `admin`.
 *
 * Receipts that match no sent part are kept, not dropped: operators' receipt
 * formats vary, and a receipt nobody can see is a delivery nobody can prove.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('api_keys').addColumn('role', 'text', (c) => c.notNull().defaultTo('account')).execute();
  await db.updateTable('api_keys' as never).set({ role: 'admin' } as never).where('name' as never, '=', 'bootstrap' as never).execute();

  await db.schema
    .createTable('unmatched_receipts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('connector_id', 'text', (c) => c.notNull())
    .addColumn('provider_message_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('provider_code', 'text')
    .addColumn('raw', 'text')
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('unmatched_receipts_connector').on('unmatched_receipts').columns(['connector_id', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('unmatched_receipts').execute();
  await db.schema.alterTable('api_keys').dropColumn('role').execute();
}
