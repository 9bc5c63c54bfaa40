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
