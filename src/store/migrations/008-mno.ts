import { sql, type Kysely } from 'kysely';

/**
 * The operator of a number (S21). The numbering-plan registry is stored by
 * version: an import writes its ranges under a new version and, in the same
 * transaction, makes it the current one in `mno_state`, so a reader sees the
 * old ranges or the new, never a mix; the old version's rows are deleted
 * after. `mno_state` is also the cheap marker other processes poll: its
 * `registry_version` and `ported_revision` change with every import and every
 * change of `ported_numbers`. Messages record the recipient's operator and
 * region at accept time.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('mno_state')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('registry_version', 'integer')
    .addColumn('ported_revision', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await sql`insert into mno_state (id, registry_version, ported_revision, updated_at) values (1, null, 0, 0)`.execute(db);

  await db.schema
    .createTable('mno_versions')
    .addColumn('version', 'integer', (c) => c.primaryKey())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('ranges', 'integer', (c) => c.notNull())
    .addColumn('operators', 'integer', (c) => c.notNull())
    .addColumn('imported_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('mno_ranges')
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('range_start', 'bigint', (c) => c.notNull())
    .addColumn('range_end', 'bigint', (c) => c.notNull())
    .addColumn('operator', 'text', (c) => c.notNull())
    .addColumn('inn', 'text', (c) => c.notNull())
    .addColumn('operator_name', 'text', (c) => c.notNull())
    .addColumn('region', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('mno_ranges_pk', ['version', 'range_start'])
    .execute();

  await db.schema
    .createTable('ported_numbers')
    .addColumn('number', 'text', (c) => c.primaryKey())
    .addColumn('operator', 'text', (c) => c.notNull())
    .addColumn('inn', 'text', (c) => c.notNull())
    .addColumn('operator_name', 'text')
    .addColumn('region', 'text')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema.alterTable('messages').addColumn('operator', 'text').execute();
  await db.schema.alterTable('messages').addColumn('region', 'text').execute();
  // The `operator=` search filter, in the shape of the other filters; only rows that have an operator.
  await db.schema.createIndex('messages_operator').on('messages').columns(['account_id', 'operator', 'id']).where('operator', 'is not', null).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('messages_operator').execute();
  await db.schema.alterTable('messages').dropColumn('region').execute();
  await db.schema.alterTable('messages').dropColumn('operator').execute();
  for (const table of ['ported_numbers', 'mno_ranges', 'mno_versions', 'mno_state']) await db.schema.dropTable(table).execute();
}
