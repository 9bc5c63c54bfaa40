import type { Kysely } from 'kysely';

/**
 * A mailing's audience size for its current (or last) run: how many contacts
 * its list, or the whole project, held when the runner started the run,
 * corrected at the run's end to the number of recipients the run actually
 * went through (contacts added or removed while it ran change it). Null
 * before the first run, and for a segment's run until it reaches the end of
 * its audience: a segment's filter is evaluated contact by contact as the
 * pages are read, so its size is only known by walking the whole project.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('mailings').addColumn('audience_size', 'integer').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('mailings').dropColumn('audience_size').execute();
}
