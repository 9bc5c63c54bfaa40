import type { Kysely } from 'kysely';

/**
 * Contact imports: `skipped_rows` counts the rows of a file with no value in
 * any cell (`,,,`, a blank line, an empty sheet row), which are neither
 * imported nor bad; a staged row keeps `file_row`, its number in the file (a
 * CSV file's line where the row starts, an XLSX sheet's row number), so the
 * report of a guid repeated across rows names the rows as the file numbers
 * them. `row_no` stays the count of rows read, without gaps, which the apply
 * resumes by.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('contact_imports').addColumn('skipped_rows', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('contact_import_rows').addColumn('file_row', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('contact_import_rows').dropColumn('file_row').execute();
  await db.schema.alterTable('contact_imports').dropColumn('skipped_rows').execute();
}
