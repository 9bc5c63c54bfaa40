import { PostgresAdapter, sql, type Kysely } from 'kysely';

/**
 * A mailing's `template_id` and `list_id` no longer reference their template
 * and contact list by a foreign key: a template or list that only finished or
 * cancelled mailings name can be deleted (the mailing keeps the id it ran
 * with, as its `templates` map always did), and a template a live mailing
 * uses can be deleted too, which cancels the mailing (docs/contacts.md). A
 * list a live mailing uses is refused by the API (`contact_list_in_use`).
 * SQLite cannot drop a constraint: the table is rebuilt from its own
 * definition without the two REFERENCES clauses (nothing references
 * `mailings`, so the rebuild touches no other table), its indexes made again.
 * Self-contained: it reads the table's definition rather than restating it.
 */
const REFERENCES = [/ references "templates" \("id"\)/, / references "contact_lists" \("id"\)/];

export async function up(db: Kysely<unknown>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    const fks = await sql<{ conname: string }>`
      select conname from pg_constraint
      where conrelid = 'mailings'::regclass and contype = 'f' and confrelid in ('templates'::regclass, 'contact_lists'::regclass)`.execute(db);
    for (const { conname } of fks.rows) await sql`alter table mailings drop constraint ${sql.id(conname)}`.execute(db);
    return;
  }
  await rebuild(db, (definition) => REFERENCES.reduce((d, r) => d.replace(r, ''), definition));
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`alter table mailings add foreign key (template_id) references templates (id)`.execute(db);
    await sql`alter table mailings add foreign key (list_id) references contact_lists (id)`.execute(db);
    return;
  }
  await rebuild(db, (definition) => definition.replace('"template_id" text not null', '"template_id" text not null references "templates" ("id")').replace('"list_id" text', '"list_id" text references "contact_lists" ("id")'));
}

/** SQLite: `mailings` made again from its definition as `change` gives it, with its rows and indexes. */
async function rebuild(db: Kysely<unknown>, change: (definition: string) => string): Promise<void> {
  const objects = await sql<{ type: string; sql: string | null }>`select type, sql from sqlite_master where tbl_name = 'mailings'`.execute(db);
  const table = objects.rows.find((o) => o.type === 'table')!.sql!;
  const indexes = objects.rows.filter((o) => o.type === 'index' && o.sql !== null).map((o) => o.sql!);
  const rebuilt = change(table).replace(/^CREATE TABLE "mailings"/, 'CREATE TABLE "mailings_rebuilt"');
  if (rebuilt === table || !rebuilt.startsWith('CREATE TABLE "mailings_rebuilt"')) throw new Error(`unexpected definition of mailings: ${table}`);
  await sql.raw(rebuilt).execute(db);
  await sql`insert into mailings_rebuilt select * from mailings`.execute(db);
  await sql`drop table mailings`.execute(db);
  await sql`alter table mailings_rebuilt rename to mailings`.execute(db);
  for (const index of indexes) await sql.raw(index).execute(db);
}
