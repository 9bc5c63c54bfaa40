import type { Kysely } from 'kysely';

/**
 * A mailing's own template parameters: `params` is a JSON object of
 * name → string | number | boolean | null (null column: none), given to every
 * recipient's render beside the contact's fields (a promo code, a date), as
 * `params` are in a template preview and a test send.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('mailings').addColumn('params', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('mailings').dropColumn('params').execute();
}
