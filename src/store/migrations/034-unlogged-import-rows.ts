import { PostgresAdapter, sql, type Kysely } from 'kysely';

/**
 * PostgreSQL: the contact import staging table (026) becomes unlogged. Its rows
 * live from the upload to the apply, which copies them into `contacts` (logged)
 * and deletes them; writing them to the WAL too roughly doubled the disk work of
 * an import. The price: crash recovery, and a fail-over to a replica, empty an
 * unlogged table. The jobs (`contact_imports`) stay logged, so a job can outlive
 * its staged rows; ContactImportsRepository counts them before and during the
 * apply and fails such a job (nothing of it applied) instead of completing it
 * short. A clean restart keeps the rows. SQLite has no such tables: nothing.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) await sql`alter table contact_import_rows set unlogged`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) await sql`alter table contact_import_rows set logged`.execute(db);
}
