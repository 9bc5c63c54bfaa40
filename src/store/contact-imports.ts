import { sql, type Kysely, type Selectable } from 'kysely';
import type pg from 'pg';
import { newId } from '../domain/ids.ts';
import type { ErrorDetail } from '../errors.ts';
import { CONTACT_DEFAULTS, type ContactPatch } from './contacts.ts';
import type { Database } from './db.ts';
import { copyRows } from './pg-copy.ts';
import type { ContactImportRowsTable, ContactImportsTable, DB } from './schema.ts';
import { insertChunks } from './shapes.ts';

export type ContactImportRow = Selectable<ContactImportsTable>;
export type ContactImportStatus = 'received' | 'checking' | 'applying' | 'completed' | 'failed';

/** The problems a job keeps (with row number and issue); the rest are only counted. */
export const MAX_KEPT_PROBLEMS = 100;
/** Rows per apply transaction on SQLite: a few tens of milliseconds of the write lock the delivery thread also needs. */
export const APPLY_CHUNK_ROWS = 2000;
/** Staged rows deleted per transaction when a failed job is cleaned up on SQLite. */
const DELETE_CHUNK_ROWS = 5000;

const STAGED_COLUMNS = ['contact_id', 'guid', 'first_name', 'last_name', 'middle_name', 'gender', 'phones', 'emails', 'messenger_ids', 'time_zone', 'attributes', 'consent', 'blocked'] as const;
/** The staging table's columns, in the order a PostgreSQL stage batch is copied. */
const STAGED_KEYS = ['import_id', 'account_id', 'row_no', 'file_row', 'contact_id', 'guid', 'first_name', 'last_name', 'middle_name', 'gender', 'phones', 'emails', 'messenger_ids', 'time_zone', 'attributes', 'consent', 'blocked'] as const satisfies readonly (keyof ContactImportRowsTable)[];
const CONTACT_COLUMNS = ['id', 'guid', 'first_name', 'last_name', 'middle_name', 'gender', 'phones', 'emails', 'messenger_ids', 'time_zone', 'attributes', 'consent', 'blocked'] as const;

/** The row number of a problem (`row 12` → 12), for keeping the report in file order. */
const rowOf = (p: ErrorDetail) => Number(p.field.slice(4));

/** A job's report while its file is read: the columns, rows read (not skipped), bad and skipped rows, the first problems. */
export interface ImportProgress {
  columns: readonly string[];
  rows: number;
  badRows: number;
  /** rows with no value in any cell; 0 when not given */
  skippedRows?: number;
  problems: ErrorDetail[];
}

/**
 * Staged contact imports (migrations 026, 041): the job, its checked rows in
 * `contact_import_rows` while it runs, and the apply into `contacts`.
 * Tenant-scoped: every read and write of one job takes the account id; the
 * lease sweeps (`lapsed`) are the gateway's own and span accounts.
 *
 * Lifecycle: `received` (the file streams in; rows are checked and staged in
 * short transactions, `stage`), `checking` (the file is in; `check` looks for a
 * guid repeated across rows), then `failed` with the report if any row is bad,
 * otherwise `applying` (`applyAll`) and `completed`. Staged rows are deleted
 * when the job ends.
 */
export class ContactImportsRepository {
  readonly #db: Kysely<DB>;
  readonly #dialect: 'sqlite' | 'postgres';
  readonly #pool: pg.Pool | undefined;

  constructor(database: Pick<Database, 'db' | 'dialect' | 'pool'>) {
    this.#db = database.db;
    this.#dialect = database.dialect;
    this.#pool = database.pool;
  }

  async create(input: { accountId: string; projectId: string; format: 'csv' | 'xlsx'; createdBy: string | null; owner: string; leaseUntil: number }, now = Date.now()): Promise<ContactImportRow> {
    const row: ContactImportRow = {
      id: newId('imp', now),
      account_id: input.accountId,
      project_id: input.projectId,
      format: input.format,
      status: 'received',
      columns: '[]',
      rows: 0,
      bad_rows: 0,
      skipped_rows: 0,
      problems: '[]',
      last_row: 0,
      applied_row: 0,
      created: 0,
      updated: 0,
      error: null,
      created_by: input.createdBy,
      owner: input.owner,
      lease_until: input.leaseUntil,
      created_at: now,
      received_at: null,
      completed_at: null,
    };
    await this.#db.insertInto('contact_imports').values(row).execute();
    return row;
  }

  async get(accountId: string, id: string): Promise<ContactImportRow | undefined> {
    return this.#db.selectFrom('contact_imports').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  }

  async list(accountId: string, limit: number, beforeId?: string): Promise<ContactImportRow[]> {
    let q = this.#db.selectFrom('contact_imports').selectAll().where('account_id', '=', accountId);
    if (beforeId !== undefined) q = q.where('id', '<', beforeId);
    return q.orderBy('id', 'desc').limit(limit).execute();
  }

  /**
   * Writes one batch of checked rows and the job's counts so far, in one short
   * transaction: on PostgreSQL a `COPY … FROM STDIN` of the batch, on SQLite
   * multi-row inserts. Throws when the job is no longer this owner's `received`
   * one (another process's sweep failed it); the batch is rolled back then.
   * A row's `row` is its count among the rows read (no gaps), `at` its number
   * in the file (the report's; `row` when not given).
   */
  async stage(accountId: string, id: string, owner: string, rows: { row: number; at?: number; patch: ContactPatch }[], progress: ImportProgress): Promise<void> {
    const now = Date.now();
    const staged: ContactImportRowsTable[] = rows.map(({ row, at, patch }) => ({ ...CONTACT_DEFAULTS, ...patch, import_id: id, account_id: accountId, row_no: row, file_row: at ?? row, contact_id: newId('cnt', now) }));
    const counts = this.#db
      .updateTable('contact_imports')
      .set({ columns: JSON.stringify(progress.columns), rows: progress.rows, bad_rows: progress.badRows, skipped_rows: progress.skippedRows ?? 0, problems: JSON.stringify(progress.problems), last_row: staged.length > 0 ? staged[staged.length - 1]!.row_no : sql<number>`last_row` })
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .where('owner', '=', owner)
      .where('status', '=', 'received')
      .compile();
    if (this.#pool) {
      const client = await this.#pool.connect();
      try {
        await client.query('begin');
        if (staged.length > 0) await copyRows(client, 'contact_import_rows', STAGED_KEYS, staged.map((r) => STAGED_KEYS.map((c) => r[c])));
        const moved = await client.query(counts.sql, counts.parameters as unknown[]);
        if (moved.rowCount !== 1) throw new JobTakenOver(id);
        await client.query('commit');
        client.release();
      } catch (err) {
        // A connection that cannot even roll back is dropped from the pool, not handed to the next query.
        await client.query('rollback').then(
          () => client.release(),
          (rollbackErr: Error) => client.release(rollbackErr),
        );
        throw err;
      }
      return;
    }
    await this.#db.transaction().execute(async (tx) => {
      await insertChunks(tx, 'contact_import_rows', staged);
      const moved = await tx.executeQuery(counts);
      // Failed meanwhile by another process's sweep (this one's lease lapsed): the rows go with the transaction.
      if (Number(moved.numAffectedRows) !== 1) throw new JobTakenOver(id);
    });
  }

  /**
   * The file is in: looks for guids repeated across rows (the later rows are
   * bad, naming the first), merges them into the report, and decides. Returns
   * the job as it now is: `failed` (bad rows, or staged rows lost to a
   * PostgreSQL crash; staged rows deleted), or `applying`. Undefined when the
   * job is no longer this owner's. The report names the rows by their
   * number in the file (`file_row`, staged with each row).
   */
  async check(accountId: string, id: string, owner: string, outcome: ImportProgress): Promise<ContactImportRow | undefined> {
    const now = Date.now();
    const moved = await this.#db
      .updateTable('contact_imports')
      .set({ status: 'checking', received_at: now, columns: JSON.stringify(outcome.columns), rows: outcome.rows, bad_rows: outcome.badRows, skipped_rows: outcome.skippedRows ?? 0, problems: JSON.stringify(outcome.problems) })
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .where('owner', '=', owner)
      .where('status', '=', 'received')
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) !== 1) return undefined;
    const repeats = await this.#db
      .selectFrom((eb) =>
        eb
          .selectFrom('contact_import_rows')
          .select(['row_no', 'file_row', 'guid', sql<number>`min(row_no) over (partition by guid)`.as('first_row'), sql<number>`first_value(file_row) over (partition by guid order by row_no)`.as('first_file_row')])
          .where('import_id', '=', id)
          .where('account_id', '=', accountId)
          .where('guid', 'is not', null)
          .as('r'),
      )
      .select(['row_no', 'file_row', 'guid', 'first_file_row', sql<number>`count(*) over ()`.as('total')])
      .whereRef('row_no', '>', 'first_row')
      .orderBy('row_no')
      .limit(MAX_KEPT_PROBLEMS)
      .execute();
    const repeated = repeats.length === 0 ? 0 : Number(repeats[0]!.total);
    const problems = [...outcome.problems, ...repeats.map((r) => ({ field: `row ${r.file_row}`, issue: `guid ${r.guid} repeats row ${r.first_file_row}` }))]
      .sort((a, b) => rowOf(a) - rowOf(b))
      .slice(0, MAX_KEPT_PROBLEMS);
    const badRows = outcome.badRows + repeated;
    const staged = badRows > 0 ? outcome.rows : await this.#stagedCount(accountId, id);
    if (staged !== outcome.rows) {
      await this.fail(accountId, id, lostRows(outcome.rows - staged, 0));
    } else if (badRows > 0) {
      await this.#deleteStaged(accountId, id);
      await this.#db
        .updateTable('contact_imports')
        .set({ status: 'failed', bad_rows: badRows, problems: JSON.stringify(problems), error: `${badRows} bad row(s); nothing was imported`, completed_at: Date.now(), owner: null, lease_until: null })
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .execute();
    } else {
      await this.#db.updateTable('contact_imports').set({ status: 'applying' }).where('account_id', '=', accountId).where('id', '=', id).where('owner', '=', owner).execute();
    }
    return this.get(accountId, id);
  }

  /**
   * Applies a checked job to `contacts`: rows with a guid replace the
   * project's contact with that guid (only the columns the file has), the
   * others are new contacts. On PostgreSQL in one transaction. On SQLite in
   * transactions of APPLY_CHUNK_ROWS rows, each writing the contacts, deleting
   * their staged rows and moving `applied_row` together, so a process that
   * takes the job over resumes after the last chunk applied; `yieldEvery` lets
   * the event loop (and the lease renewal) run between chunks. Every range
   * applied must find all its staged rows; if some are gone (a PostgreSQL
   * crash emptied the unlogged staging table), the job is failed instead, its
   * apply rolled back. Returns false when the job did not complete here: it is
   * not this owner's (another process took it over), or it failed so.
   */
  async applyAll(accountId: string, id: string, owner: string, between: () => Promise<void> = () => new Promise((resolve) => setImmediate(resolve))): Promise<boolean> {
    const job = await this.get(accountId, id);
    if (!job || job.status !== 'applying' || job.owner !== owner) return false;
    const columns = JSON.parse(job.columns) as (keyof ContactPatch)[];
    if (this.#dialect === 'postgres') return this.#applyRange(job, owner, columns, job.applied_row, job.last_row, true);
    for (let from = job.applied_row; from < job.last_row; from += APPLY_CHUNK_ROWS) {
      if (!(await this.#applyRange(job, owner, columns, from, Math.min(from + APPLY_CHUNK_ROWS, job.last_row), false))) return false;
      await between();
    }
    return this.#complete(job, owner);
  }

  /** Rows `from < row_no <= to` into contacts, in one transaction; with `last`, the job completes in it too. */
  async #applyRange(job: ContactImportRow, owner: string, columns: readonly (keyof ContactPatch)[], from: number, to: number, last: boolean): Promise<boolean> {
    const now = Date.now();
    const set = Object.fromEntries([...columns.filter((c) => c !== 'guid'), 'updated_at'].map((c) => [c, (eb: { ref(name: string): unknown }) => eb.ref(`excluded.${c}`)]));
    return this.#db.transaction().execute(async (tx) => {
      const insert = tx
        .insertInto('contacts')
        .columns([...CONTACT_COLUMNS, 'account_id', 'project_id', 'created_at', 'updated_at'])
        .expression((eb) =>
          eb
            .selectFrom('contact_import_rows')
            .select([
              ...STAGED_COLUMNS,
              'account_id',
              eb.val(job.project_id).as('project_id'),
              sql<number>`cast(${now} as bigint)`.as('created_at'),
              sql<number>`cast(${now} as bigint)`.as('updated_at'),
            ])
            .where('import_id', '=', job.id)
            .where('account_id', '=', job.account_id)
            .where('row_no', '>', from)
            .where('row_no', '<=', to)
            .orderBy('row_no'),
        )
        .onConflict((oc) => oc.columns(['account_id', 'project_id', 'guid']).doUpdateSet(set as never));
      let counts: { rows: number | string; created: number | string };
      if (this.#dialect === 'postgres') {
        // xmax is 0 on a row this statement inserted, the updating transaction's id on one it updated.
        const result = await sql<{ rows: string; created: string }>`with ins as (${insert.returning(sql<boolean>`(xmax = 0)`.as('inserted'))}) select count(*) as rows, count(*) filter (where inserted) as created from ins`.execute(tx);
        counts = result.rows[0]!;
      } else {
        await insert.execute();
        // A staged row whose contact id is now in contacts created it; the others updated a contact with their guid.
        counts = await tx
          .selectFrom('contact_import_rows as s')
          .leftJoin('contacts as c', 'c.id', 's.contact_id')
          .select([sql<number>`count(*)`.as('rows'), sql<number>`count(c.id)`.as('created')])
          .where('s.import_id', '=', job.id)
          .where('s.account_id', '=', job.account_id)
          .where('s.row_no', '>', from)
          .where('s.row_no', '<=', to)
          .executeTakeFirstOrThrow();
      }
      // Rows are numbered from 2 without gaps: fewer than that means staged rows are gone.
      const missing = Math.max(0, to - Math.max(from, 1)) - Number(counts.rows);
      if (missing > 0) throw new StagedRowsLost(missing);
      const created = Number(counts.created);
      const updated = Number(counts.rows) - created;
      await tx.deleteFrom('contact_import_rows').where('import_id', '=', job.id).where('account_id', '=', job.account_id).where('row_no', '>', from).where('row_no', '<=', to).execute();
      const moved = await tx
        .updateTable('contact_imports')
        .set((eb) => ({
          applied_row: to,
          created: eb('created', '+', created),
          updated: eb('updated', '+', updated),
          ...(last ? { status: 'completed', completed_at: Date.now(), owner: null, lease_until: null } : {}),
        }))
        .where('account_id', '=', job.account_id)
        .where('id', '=', job.id)
        .where('owner', '=', owner)
        .where('status', '=', 'applying')
        .where('applied_row', '=', from)
        .executeTakeFirst();
      if (Number(moved.numUpdatedRows) !== 1) throw new JobTakenOver(job.id);
      return true;
    }).catch(async (err: unknown) => {
      if (err instanceof JobTakenOver) return false;
      if (err instanceof StagedRowsLost) {
        await this.fail(job.account_id, job.id, lostRows(err.missing, Math.max(0, from - 1)));
        return false;
      }
      throw err;
    });
  }

  async #complete(job: ContactImportRow, owner: string): Promise<boolean> {
    const done = await this.#db
      .updateTable('contact_imports')
      .set({ status: 'completed', completed_at: Date.now(), owner: null, lease_until: null })
      .where('account_id', '=', job.account_id)
      .where('id', '=', job.id)
      .where('owner', '=', owner)
      .where('status', '=', 'applying')
      .executeTakeFirst();
    return Number(done.numUpdatedRows) === 1;
  }

  /** Fails the job (staged rows deleted), unless it ended already. */
  async fail(accountId: string, id: string, error: string, report?: Omit<ImportProgress, 'columns'>): Promise<void> {
    await this.#deleteStaged(accountId, id);
    await this.#db
      .updateTable('contact_imports')
      .set({ status: 'failed', error, completed_at: Date.now(), owner: null, lease_until: null, ...(report ? { rows: report.rows, bad_rows: report.badRows, skipped_rows: report.skippedRows ?? 0, problems: JSON.stringify(report.problems) } : {}) })
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .where('status', 'in', ['received', 'checking', 'applying'])
      .execute();
  }

  async #stagedCount(accountId: string, id: string): Promise<number> {
    const { n } = await this.#db.selectFrom('contact_import_rows').select(sql<number | string>`count(*)`.as('n')).where('import_id', '=', id).where('account_id', '=', accountId).executeTakeFirstOrThrow();
    return Number(n);
  }

  /** Deletes a job's staged rows, in short transactions on SQLite. */
  async #deleteStaged(accountId: string, id: string): Promise<void> {
    if (this.#dialect === 'postgres') {
      await this.#db.deleteFrom('contact_import_rows').where('import_id', '=', id).where('account_id', '=', accountId).execute();
      return;
    }
    for (;;) {
      const result = await this.#db
        .deleteFrom('contact_import_rows')
        .where('import_id', '=', id)
        .where('account_id', '=', accountId)
        .where('row_no', 'in', (eb) => eb.selectFrom('contact_import_rows').select('row_no').where('import_id', '=', id).where('account_id', '=', accountId).orderBy('row_no').limit(DELETE_CHUNK_ROWS))
        .executeTakeFirst();
      if (Number(result.numDeletedRows) < DELETE_CHUNK_ROWS) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** The owner's unfinished jobs stay its own while it lives: their lease moves on. */
  async renew(owner: string, until: number): Promise<void> {
    await this.#db.updateTable('contact_imports').set({ lease_until: until }).where('owner', '=', owner).where('status', 'in', ['received', 'checking', 'applying']).execute();
  }

  /**
   * Jobs whose process stopped (lease lapsed). An upload that was still
   * coming in (`received`, `checking`) cannot be resumed: failed, its staged
   * rows deleted. An `applying` job is taken over by `owner` and returned, to
   * be applied on from where it stopped.
   */
  async lapsed(owner: string, leaseUntil: number, now = Date.now()): Promise<ContactImportRow[]> {
    const lapsed = await this.#db
      .selectFrom('contact_imports')
      .select(['id', 'account_id', 'status'])
      .where('status', 'in', ['received', 'checking', 'applying'])
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .execute();
    const taken: ContactImportRow[] = [];
    for (const job of lapsed) {
      const result = await this.#db
        .updateTable('contact_imports')
        .set(job.status === 'applying' ? { owner, lease_until: leaseUntil } : { status: 'failed', error: 'the upload was cut off (the gateway process receiving it stopped); upload the file again', completed_at: now, owner: null, lease_until: null })
        .where('id', '=', job.id)
        .where('status', '=', job.status)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) continue;
      if (job.status === 'applying') taken.push((await this.get(job.account_id, job.id))!);
      else await this.#deleteStaged(job.account_id, job.id);
    }
    return taken;
  }
}

/**
 * The error of a job some of whose staged rows are gone. On PostgreSQL the
 * staging table is unlogged (migration 034): crash recovery (or a fail-over to
 * a replica) empties it, while the jobs, logged, stay. Such a job is failed
 * (nothing of it applied on PostgreSQL, whose apply is one transaction), not
 * completed with the rows that happened to survive.
 */
function lostRows(missing: number, applied: number): string {
  return `${missing} staged row(s) were lost (a PostgreSQL crash empties the staging table)${applied > 0 ? ` after ${applied} row(s) were written` : '; nothing was imported'}; upload the file again`;
}

/** Thrown inside an apply transaction (rolling it back) when staged rows of its range are missing. */
class StagedRowsLost extends Error {
  readonly missing: number;
  constructor(missing: number) {
    super(`${missing} staged row(s) are missing`);
    this.missing = missing;
  }
}

class JobTakenOver extends Error {
  constructor(id: string) {
    super(`contact import ${id} was taken over by another process`);
  }
}
