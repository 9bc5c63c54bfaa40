import { CompiledQuery, type Insertable, type Kysely } from 'kysely';
import type { DB } from './schema.ts';

/**
 * Statement shapes. Every distinct SQL text is a prepared statement that the
 * driver keeps (SQLite) or plans (PostgreSQL); a batch of 137 rows and one of
 * 138 would be two texts. Rows are therefore written in chunks of a few fixed
 * sizes and `IN (…)` lists are padded to a power of two, so the pipeline uses a
 * small, reused set of statements instead of thousands of one-off ones whose
 * native memory the garbage collector does not see.
 */

const SIZES = [256, 64, 16, 4, 1];

/** Splits rows into chunks of 256, 64, 16, 4 and 1 (at most ~4 statements per size class). */
export function fixedChunks<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  let i = 0;
  for (const size of SIZES) {
    while (rows.length - i >= size) {
      out.push(rows.slice(i, i + size));
      i += size;
    }
  }
  return out;
}

/**
 * Splits values for `IN (…)` into lists of at most 512, each padded to a power
 * of two by repeating its last value (a repeated value in `IN` changes nothing).
 */
export function inLists<T>(values: readonly T[], max = 512): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += max) {
    const list = values.slice(i, i + max);
    let size = 1;
    while (size < list.length) size *= 2;
    const last = list[list.length - 1]!;
    while (list.length < size) list.push(last);
    out.push(list);
  }
  return out;
}

type Plain = string | number | bigint | boolean | null | Uint8Array;
type PlainRow = Record<string, Plain | undefined>;

/** Kysely's text for one shape, per dialect adapter (the tests run SQLite and PostgreSQL in one process). */
const insertTexts = new WeakMap<object, Map<string, string>>();

/**
 * Inserts rows in fixedChunks, without building each statement anew. Kysely
 * makes a node for every value and compiles them all on every call: for a
 * chunk of 256 `messages` rows (41 columns) that took about as long as
 * SQLite took to write them. The text depends only on the table, the columns
 * and the row count, so the first statement of each shape is Kysely's own and
 * later ones reuse its text with the new rows' values, in the order Kysely
 * puts them (row by row, each in its columns' order). That holds for rows of
 * plain values sharing one set of columns; any other chunk (a missing or
 * undefined column, an expression) is Kysely's, built as usual.
 */
export async function insertChunks<T extends keyof DB & string>(tx: Kysely<DB>, table: T, rows: readonly Insertable<DB[T]>[], options: { onConflictDoNothing?: readonly string[] } = {}): Promise<void> {
  const adapter = tx.getExecutor().adapter;
  let texts = insertTexts.get(adapter);
  if (!texts) insertTexts.set(adapter, (texts = new Map()));
  for (const chunk of fixedChunks(rows)) {
    const columns = plainColumns(chunk as readonly PlainRow[]);
    const key = columns ? `${table}|${chunk.length}|${options.onConflictDoNothing?.join(',') ?? ''}|${columns.join(',')}` : undefined;
    const text = key === undefined ? undefined : texts.get(key);
    if (text !== undefined) {
      const parameters: unknown[] = new Array(chunk.length * columns!.length);
      let i = 0;
      for (const row of chunk as readonly PlainRow[]) for (const c of columns!) parameters[i++] = row[c];
      await tx.executeQuery(CompiledQuery.raw(text, parameters));
      continue;
    }
    let query = tx.insertInto(table).values(chunk as never);
    if (options.onConflictDoNothing) query = query.onConflict((oc) => oc.columns(options.onConflictDoNothing as never).doNothing());
    const compiled = query.compile();
    if (key !== undefined) texts.set(key, compiled.sql);
    await tx.executeQuery(compiled);
  }
}

/** The columns of rows that all have the same plain, defined values under the same keys; undefined otherwise. */
function plainColumns(rows: readonly PlainRow[]): string[] | undefined {
  const columns = Object.keys(rows[0]!);
  for (const row of rows) {
    let n = 0;
    for (const key in row) {
      const value = row[key];
      if (value === undefined || (typeof value === 'object' && value !== null && !(value instanceof Uint8Array))) return undefined;
      n++;
    }
    if (n !== columns.length) return undefined;
    for (const c of columns) if (!(c in row)) return undefined;
  }
  return columns;
}
