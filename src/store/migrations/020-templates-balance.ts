import type { Kysely } from 'kysely';

/**
 * Template registration with operators (a status per template and operator,
 * and the history of every decision), prices per account beside the
 * platform's, and what a message was priced at and matched: `price_minor`
 * (per part; null when it costs nothing, so unpriced messages are written as
 * before) and `template_id` (the approved template it matched).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').addColumn('price_minor', 'bigint').execute();
  await db.schema.alterTable('messages').addColumn('template_id', 'text').execute();

  // '*': the platform's price list; an account's own rows win over it.
  await db.schema.alterTable('prices').addColumn('account_id', 'text', (c) => c.notNull().defaultTo('*')).execute();
  await db.schema.dropIndex('prices_key').execute();
  await db.schema.createIndex('prices_account_key').unique().on('prices').columns(['account_id', 'channel', 'operator', 'traffic_type']).execute();

  await db.schema
    .createTable('template_registrations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
    .addColumn('template_id', 'text', (c) => c.notNull().references('templates.id').onDelete('cascade'))
    .addColumn('operator', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    // the sender name the template is registered for (operators register templates per sender); null: any
    .addColumn('sender', 'text')
    // the template text that was submitted (and so approved): a later edit needs a new submission
    .addColumn('text', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('template_registrations_key').unique().on('template_registrations').columns(['template_id', 'operator']).execute();
  await db.schema.createIndex('template_registrations_account').on('template_registrations').columns(['account_id', 'status']).execute();
  await db.schema
    .createTable('template_registration_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('template_id', 'text', (c) => c.notNull().references('templates.id').onDelete('cascade'))
    .addColumn('operator', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('template_registration_events_template').on('template_registration_events').columns(['template_id', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('template_registration_events').execute();
  await db.schema.dropTable('template_registrations').execute();
  await db.schema.dropIndex('prices_account_key').execute();
  await db.schema.alterTable('prices').dropColumn('account_id').execute();
  await db.schema.createIndex('prices_key').unique().on('prices').columns(['channel', 'operator', 'traffic_type']).execute();
  await db.schema.alterTable('messages').dropColumn('template_id').execute();
  await db.schema.alterTable('messages').dropColumn('price_minor').execute();
}
