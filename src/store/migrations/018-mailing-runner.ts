import type { Kysely } from 'kysely';

/**
 * The mailing runner and saved segments: a mailing's audience may be a
 * segment (saved filters on contact attributes), its schedule recurring
 * (cron) and at each recipient's local time; each run writes one
 * `mailing_recipients` row per contact in the transaction that accepts the
 * contact's message, so its primary key makes a second message to the same
 * contact in the same run impossible, and the largest contact id of a run is
 * where the run resumes after a crash. Messages carry their mailing's id.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('segments')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    // JSON: { conditions: [...], consent: channel | null, include_blocked: boolean }
    .addColumn('filter', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('segments_account_id').on('segments').columns(['account_id', 'id']).execute();

  await db.schema.alterTable('mailings').addColumn('segment_id', 'text').execute();
  await db.schema.alterTable('mailings').addColumn('schedule_cron', 'text').execute();
  await db.schema.alterTable('mailings').addColumn('time_zone', 'text').execute();
  await db.schema.alterTable('mailings').addColumn('local_time', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('mailings').addColumn('traffic_type', 'text', (c) => c.notNull().defaultTo('advertising')).execute();
  await db.schema.alterTable('mailings').addColumn('sender', 'text').execute();
  await db.schema.alterTable('mailings').addColumn('error_threshold_percent', 'integer').execute();
  await db.schema.alterTable('mailings').addColumn('error_min_sample', 'integer').execute();
  await db.schema.alterTable('mailings').addColumn('run_number', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('mailings').addColumn('next_run_at', 'bigint').execute();
  await db.schema.alterTable('mailings').addColumn('paused_reason', 'text').execute();
  await db.schema.createIndex('mailings_status_next_run').on('mailings').columns(['status', 'next_run_at']).execute();

  await db.schema
    .createTable('mailing_recipients')
    .addColumn('mailing_id', 'text', (c) => c.notNull())
    .addColumn('run_number', 'integer', (c) => c.notNull())
    .addColumn('contact_id', 'text', (c) => c.notNull())
    .addColumn('account_id', 'text', (c) => c.notNull())
    // null when the contact was skipped (no consent, blocked, no address, the template failed)
    .addColumn('message_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('mailing_recipients_pk', ['mailing_id', 'run_number', 'contact_id'])
    .execute();

  await db.schema.alterTable('messages').addColumn('mailing_id', 'text').execute();
  await db.schema.createIndex('messages_mailing').on('messages').columns(['mailing_id', 'status']).where('mailing_id', 'is not', null).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('messages_mailing').execute();
  await db.schema.alterTable('messages').dropColumn('mailing_id').execute();
  await db.schema.dropTable('mailing_recipients').execute();
  await db.schema.dropIndex('mailings_status_next_run').execute();
  for (const column of ['paused_reason', 'next_run_at', 'run_number', 'error_min_sample', 'error_threshold_percent', 'sender', 'traffic_type', 'local_time', 'time_zone', 'schedule_cron', 'segment_id']) {
    await db.schema.alterTable('mailings').dropColumn(column).execute();
  }
  await db.schema.dropTable('segments').execute();
}
