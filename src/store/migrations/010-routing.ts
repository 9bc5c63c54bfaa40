import type { Kysely } from 'kysely';

/**
 * Failover: the connectors that refused a message for a reason another
 * connector may not have (comma-separated ids, tried in the route's order),
 * and connectors switched off through the API (file or API connectors alike).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').addColumn('failed_connectors', 'text').execute();
  await db.schema
    .createTable('connector_switches')
    .addColumn('connector_id', 'text', (c) => c.primaryKey())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('connector_switches').execute();
  await db.schema.alterTable('messages').dropColumn('failed_connectors').execute();
}
