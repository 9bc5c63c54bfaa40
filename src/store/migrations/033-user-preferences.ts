import type { Kysely } from 'kysely';

/**
 * A cabinet user's own preferences (docs/cabinet.md): the time zone dates are
 * shown in and the language, both null until the user chooses (then the
 * account's time zone, and the browser's language, apply).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('time_zone', 'text').execute();
  await db.schema.alterTable('users').addColumn('language', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('language').execute();
  await db.schema.alterTable('users').dropColumn('time_zone').execute();
}
