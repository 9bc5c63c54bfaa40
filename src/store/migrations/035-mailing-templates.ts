import type { Kysely } from 'kysely';

/**
 * A mailing's template per channel: `templates` is a JSON object
 * `{"<channel>": "<template id>"}` (null: none), each a template of the
 * mailing's project made for that channel; a channel without an entry uses
 * `template_id`. A column beside `channels` rather than a table: it is read
 * with the mailing, at most one entry per channel of it (eight), never queried.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('mailings').addColumn('templates', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('mailings').dropColumn('templates').execute();
}
