import { Stream } from 'node:stream';
import type { ErrorDetail } from '../errors.ts';

/**
 * The first place in a parsed request part (body, query string, path) where a
 * string holds U+0000, as a dotted path; undefined when none does.
 *
 * PostgreSQL's text cannot hold the NUL character (it fails the statement, so
 * the request would end in a 500 there and be stored as given on SQLite): the
 * API refuses it up front, the same on both databases. JSON can carry it only
 * as the escape `\u0000`, a query string as `%00`.
 */
export function findNul(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return value.includes('\0') ? path || '(body)' : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findNul(value[i], `${path}.${i}`.replace(/^\./, ''));
      if (found !== undefined) return found;
    }
    return undefined;
  }
  // A Buffer or a stream (a file upload) is not text to check here.
  if (ArrayBuffer.isView(value) || value instanceof Stream) return undefined;
  for (const [key, item] of Object.entries(value)) {
    if (key.includes('\0')) return path ? `${path}.${key.replace(/\0/g, '\\u0000')}` : key.replace(/\0/g, '\\u0000');
    const found = findNul(item, path ? `${path}.${key}` : key);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The `validation_failed` detail for a NUL found by `findNul`. */
export function nulDetail(field: string): ErrorDetail {
  return { field, issue: 'must not contain the NUL character (U+0000)' };
}
