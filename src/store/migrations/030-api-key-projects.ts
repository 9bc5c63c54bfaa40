import type { Kysely } from 'kysely';

/**
 * An API key may belong to one project of its account (S15): its messages
 * take that project's code when they name none, and may not name another.
 * Null: the key reaches every project, as before.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('api_keys').addColumn('project_id', 'text', (c) => c.references('projects.id')).execute();
  await db.schema.createIndex('api_keys_project').on('api_keys').columns(['account_id', 'project_id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('api_keys_project').execute();
  await db.schema.alterTable('api_keys').dropColumn('project_id').execute();
}
