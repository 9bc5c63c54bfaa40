import { PostgresAdapter, sql, type Kysely } from 'kysely';

/**
 * PostgreSQL only (SQLite: nothing). The contact import staging table (026)
 * holds a row from its upload to its apply, which copies it into `contacts`
 * (logged) and deletes it, so:
 *
 * - it becomes unlogged: its rows are not written to the WAL as well. The
 *   price: crash recovery (and a fail-over to a replica) empties an unlogged
 *   table, while the jobs (`contact_imports`, logged) stay. A job can so
 *   outlive its staged rows; ContactImportsRepository counts them at the check
 *   and in the apply and fails such a job, nothing of it applied, rather than
 *   complete it short. A clean shutdown and restart keeps the rows.
 * - its (import_id, guid) index goes: keeping it up to date was about a
 *   quarter of PostgreSQL's CPU while rows are staged, and the one query that
 *   used it (guids repeated in one file, once per import) sorts the file's
 *   rows instead. SQLite keeps the index.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`alter table contact_import_rows set unlogged`.execute(db);
  await db.schema.dropIndex('contact_import_rows_guid').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await db.schema.createIndex('contact_import_rows_guid').on('contact_import_rows').columns(['import_id', 'guid']).execute();
  await sql`alter table contact_import_rows set logged`.execute(db);
}
