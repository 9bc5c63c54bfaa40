import type { Kysely } from 'kysely';

/**
 * Cancelling a mailing cancels its messages not yet sent and stops its
 * cascades, a page of recipients at a time on the delivery side after the
 * mailing is marked cancelled. `cancel_cursor` is where that stands: null
 * when nothing is left to do, else `<run>:<contact id>` of the last recipient
 * done ('' before the first), so a crash in the middle resumes there.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('mailings').addColumn('cancel_cursor', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('mailings').dropColumn('cancel_cursor').execute();
}
