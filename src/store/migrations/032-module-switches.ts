import type { Kysely } from 'kysely';

/**
 * Platform modules switched off and on through the API (channels and
 * integrations, docs/modules.md): a row only for a module that was switched;
 * a module without one is on.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('module_switches')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('module_switches').execute();
}
