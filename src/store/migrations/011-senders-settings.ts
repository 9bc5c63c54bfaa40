import type { Kysely } from 'kysely';

/**
 * Account settings (time zone, quiet hours, sender policy) and the registry
 * of sender names with their status per operator.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('accounts').addColumn('time_zone', 'text', (c) => c.notNull().defaultTo('Europe/Moscow')).execute();
  await db.schema.alterTable('accounts').addColumn('quiet_hours_start', 'text').execute();
  await db.schema.alterTable('accounts').addColumn('quiet_hours_end', 'text').execute();
  await db.schema.alterTable('accounts').addColumn('require_registered_senders', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('accounts').addColumn('fallback_sender', 'text').execute();
  await db.schema
    .createTable('sender_names')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('sender_names_account_name').unique().on('sender_names').columns(['account_id', 'name']).execute();
  await db.schema
    .createTable('sender_name_statuses')
    .addColumn('sender_name_id', 'text', (c) => c.notNull().references('sender_names.id').onDelete('cascade'))
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('operator', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('sender_name_statuses_pk', ['sender_name_id', 'operator'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('sender_name_statuses').execute();
  await db.schema.dropTable('sender_names').execute();
  for (const column of ['fallback_sender', 'require_registered_senders', 'quiet_hours_end', 'quiet_hours_start', 'time_zone']) {
    await db.schema.alterTable('accounts').dropColumn(column).execute();
  }
}
