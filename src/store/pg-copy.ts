import { once } from 'node:events';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** A value of one COPY column: text, an integer, or NULL. */
export type CopyValue = string | number | null;

const SPECIAL = /[\\\t\n\r]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * One field in PostgreSQL's COPY text format: NULL is `\N`; a backslash, tab,
 * newline or carriage return is backslash-escaped (the rest, Cyrillic and other
 * control characters included, goes as it is, UTF-8). A NUL character throws:
 * a PostgreSQL text value cannot hold it (a bound parameter fails the same way).
 */
export function copyField(value: CopyValue): string {
  if (value === null) return '\\N';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`COPY: ${value} is not an integer`);
    return String(value);
  }
  if (value.includes('\0')) throw new RangeError('COPY: a PostgreSQL text value cannot hold a NUL character');
  return SPECIAL.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c]!) : value;
}

/** Rows in COPY text format: fields tab-separated, each row ending in a newline. */
export function copyText(rows: readonly (readonly CopyValue[])[]): string {
  let out = '';
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) out += (i === 0 ? '' : '\t') + copyField(row[i]!);
    out += '\n';
  }
  return out;
}

/**
 * `COPY table (columns) FROM STDIN` of `rows` on `client` (in its transaction,
 * if one is open): one round trip of the whole batch, no statement to parse
 * and no parameters to bind. Resolves with the rows PostgreSQL took.
 */
export async function copyRows(client: pg.PoolClient, table: string, columns: readonly string[], rows: readonly (readonly CopyValue[])[]): Promise<number> {
  const ident = (name: string) => {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`COPY: bad identifier ${name}`);
    return name;
  };
  // Encoded before the COPY starts: a value that throws must not leave the connection inside a COPY.
  const text = copyText(rows);
  const stream = client.query(copyFrom(`copy ${ident(table)} (${columns.map(ident).join(', ')}) from stdin`));
  const done = once(stream, 'finish');
  stream.end(text);
  await done;
  return stream.rowCount;
}
