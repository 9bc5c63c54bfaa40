import { PostgresAdapter, type Kysely } from 'kysely';

/**
 * Routes switched off and on through the API (config-file and API routes
 * alike, by the id they are listed with), and background exports kept in
 * the database, so a ready file downloads from any API node: the file in
 * chunks, a lease held by the process writing it (another process fails the
 * job only when the lease lapsed), and when the file expires.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('route_switches')
    .addColumn('route_id', 'text', (c) => c.primaryKey())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.alterTable('exports').addColumn('owner', 'text').execute();
  await db.schema.alterTable('exports').addColumn('lease_until', 'bigint').execute();
  await db.schema.alterTable('exports').addColumn('expires_at', 'bigint').execute();
  const blob = db.getExecutor().adapter instanceof PostgresAdapter ? 'bytea' : 'blob';
  await db.schema
    .createTable('export_chunks')
    .addColumn('export_id', 'text', (c) => c.notNull().references('exports.id').onDelete('cascade'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('data', blob, (c) => c.notNull())
    .addPrimaryKeyConstraint('export_chunks_pk', ['export_id', 'seq'])
    .execute();
  await db.schema.createIndex('exports_expires').on('exports').column('expires_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('export_chunks').execute();
  await db.schema.dropIndex('exports_expires').execute();
  await db.schema.alterTable('exports').dropColumn('expires_at').execute();
  await db.schema.alterTable('exports').dropColumn('lease_until').execute();
  await db.schema.alterTable('exports').dropColumn('owner').execute();
  await db.schema.dropTable('route_switches').execute();
}
