import type { Kysely } from 'kysely';

/**
 * SMPP receipts sent above a login's stored position, kept in the database
 * instead of the SMPP node's memory: `waiting` ones were sent and not
 * acknowledged (refused, or unanswered), with their refusals and when they go
 * again; `acked` ones were acknowledged but the position may not pass them
 * yet (their events are newer than the settle time). The position moves over
 * both, so one receipt the customer keeps refusing no longer holds it (and
 * every receipt acknowledged after it) back for `receipt_hold_seconds`, and
 * a restart, a rebind or another node taking the feed sends again only what
 * is waiting, never what was acknowledged. Self-contained: one new table.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('smpp_receipt_marks')
    .addColumn('credential_id', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('refusals', 'integer', (c) => c.notNull())
    .addColumn('due_at', 'bigint', (c) => c.notNull())
    .addColumn('receipt_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('smpp_receipt_marks_pk', ['credential_id', 'event_id'])
    .execute();
  // Each round reads a login's waiting receipts that are due, and those past the hold time: ranges of these.
  await db.schema.createIndex('smpp_receipt_marks_due').on('smpp_receipt_marks').columns(['credential_id', 'state', 'due_at']).execute();
  await db.schema.createIndex('smpp_receipt_marks_age').on('smpp_receipt_marks').columns(['credential_id', 'state', 'receipt_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('smpp_receipt_marks').execute();
}
