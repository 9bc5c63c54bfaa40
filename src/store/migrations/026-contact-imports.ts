import type { Kysely } from 'kysely';

/**
 * Staged contact imports (docs/contacts.md): a job per uploaded file and its
 * checked rows, written in short transactions while the file streams in, then
 * applied to `contacts` only when no row is bad. A lease (`owner`,
 * `lease_until`) makes one process the job's; on SQLite the apply goes in
 * chunks and `applied_row` is where a process that took over resumes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('contact_imports')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('format', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    // JSON array of the contact columns the file has (an update changes only these)
    .addColumn('columns', 'text', (c) => c.notNull())
    .addColumn('rows', 'integer', (c) => c.notNull())
    .addColumn('bad_rows', 'integer', (c) => c.notNull())
    // JSON array of { field: "row N", issue } (the first 100)
    .addColumn('problems', 'text', (c) => c.notNull())
    .addColumn('last_row', 'integer', (c) => c.notNull())
    .addColumn('applied_row', 'integer', (c) => c.notNull())
    .addColumn('created', 'integer', (c) => c.notNull())
    .addColumn('updated', 'integer', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('created_by', 'text')
    .addColumn('owner', 'text')
    .addColumn('lease_until', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('received_at', 'bigint')
    .addColumn('completed_at', 'bigint')
    .execute();
  await db.schema.createIndex('contact_imports_account').on('contact_imports').columns(['account_id', 'id']).execute();
  await db.schema.createIndex('contact_imports_status').on('contact_imports').columns(['status', 'lease_until']).execute();
  await db.schema
    .createTable('contact_import_rows')
    .addColumn('import_id', 'text', (c) => c.notNull().references('contact_imports.id').onDelete('cascade'))
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('row_no', 'integer', (c) => c.notNull())
    // the id the contact gets if the row creates it
    .addColumn('contact_id', 'text', (c) => c.notNull())
    .addColumn('guid', 'text')
    .addColumn('first_name', 'text')
    .addColumn('last_name', 'text')
    .addColumn('middle_name', 'text')
    .addColumn('gender', 'text')
    .addColumn('phones', 'text', (c) => c.notNull())
    .addColumn('emails', 'text', (c) => c.notNull())
    .addColumn('messenger_ids', 'text', (c) => c.notNull())
    .addColumn('time_zone', 'text')
    .addColumn('attributes', 'text', (c) => c.notNull())
    .addColumn('consent', 'text', (c) => c.notNull())
    .addColumn('blocked', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('contact_import_rows_pk', ['import_id', 'row_no'])
    .execute();
  // A guid twice in one file is a bad row: found with this index once the file is in.
  await db.schema.createIndex('contact_import_rows_guid').on('contact_import_rows').columns(['import_id', 'guid']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('contact_import_rows').execute();
  await db.schema.dropTable('contact_imports').execute();
}
