import type { Kysely } from 'kysely';

/**
 * What an account's service and transactional SMS get when their text matches
 * none of its approved templates (docs/templates.md): `keep` (sent as they are,
 * the default and the behaviour before), `advertising` (sent and priced as
 * advertising, as operators bill unregistered service traffic) or `reject`
 * (refused at accept with `template_not_matched`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('accounts').addColumn('unmatched_templates', 'text', (c) => c.notNull().defaultTo('keep')).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('accounts').dropColumn('unmatched_templates').execute();
}
