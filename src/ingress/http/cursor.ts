import { ApiError } from '../../errors.ts';

/** List cursors: the last id of the page, opaque to clients (ids sort by time, newest first). */
export function encodeCursor(id: string): string {
  return Buffer.from(JSON.stringify({ b: id })).toString('base64url');
}

/** The id inside a cursor this API returned for objects with this id prefix; invalid_cursor otherwise. */
export function decodeCursor(cursor: string, prefix: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { b?: unknown };
    if (typeof parsed.b === 'string' && parsed.b.startsWith(`${prefix}_`) && /^[a-z]+_[0-9A-Z]{26}$/.test(parsed.b)) return parsed.b;
  } catch {
    // fall through
  }
  throw invalidCursor();
}

const invalidCursor = () => new ApiError('invalid_cursor', 'cursor is not one this API returned; start again without it', [{ field: 'cursor', issue: 'malformed' }]);

/** A cursor for a list ordered by several fields (not by one id): the last row's key, opaque to clients. */
export function encodeKeyCursor(key: Record<string, string>): string {
  return Buffer.from(JSON.stringify({ k: key })).toString('base64url');
}

/** The key inside a cursor encodeKeyCursor made, with each of `fields` a string that `valid` accepts; invalid_cursor otherwise. */
export function decodeKeyCursor<F extends string>(cursor: string, fields: readonly F[], valid: (field: F, value: string) => boolean): Record<F, string> {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k?: Record<string, unknown> };
    const key = parsed.k;
    if (key && typeof key === 'object' && fields.every((f) => typeof key[f] === 'string' && valid(f, key[f] as string))) return Object.fromEntries(fields.map((f) => [f, key[f]])) as Record<F, string>;
  } catch {
    // fall through
  }
  throw invalidCursor();
}
