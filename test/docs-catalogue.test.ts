import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { REASONS } from '../src/domain/reasons.ts';
import { MESSAGE_STATUSES, STATUS_INFO } from '../src/domain/statuses.ts';
import { API_ERRORS } from '../src/errors.ts';

/**
 * The catalogues in code (statuses, failure reasons, API errors) and their
 * tables in docs/ must list the same codes with the same flags. Each side is
 * checked against the other, so a code added to either alone fails here.
 */

function readDoc(name: string): string {
  return readFileSync(new URL(`../docs/${name}`, import.meta.url), 'utf8');
}

/** Cells of one Markdown table row, trimmed; a `\|` inside a cell is not a separator. */
function cells(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split(/(?<!\\)\|/).map((cell) => cell.trim());
}

/**
 * The body rows of the one table whose header is exactly `header`. Fails when
 * there is no such table or more than one, so a renamed column is noticed.
 */
function table(markdown: string, header: readonly string[], doc: string): string[][] {
  const lines = markdown.split(/\r?\n/);
  const starts = lines.flatMap((line, i) => (line.trim().startsWith('|') && cells(line).join('\u0000') === header.join('\u0000') ? [i] : []));
  assert.equal(starts.length, 1, `${doc}: expected exactly one table with header | ${header.join(' | ')} |, found ${starts.length}`);
  const start = starts[0]!;
  const separator = lines[start + 1] ?? '';
  assert.match(separator, /^\s*\|(\s*:?-+:?\s*\|)+\s*$/, `${doc}: the line after the header | ${header.join(' | ')} | is not a table separator`);
  const rows: string[][] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.trim().startsWith('|'); i++) {
    const row = cells(lines[i]!);
    assert.equal(row.length, header.length, `${doc} line ${i + 1}: ${row.length} cells, expected ${header.length}`);
    rows.push(row);
  }
  assert.ok(rows.length > 0, `${doc}: the table | ${header.join(' | ')} | has no rows`);
  return rows;
}

/** `` `code` `` → `code`; anything else fails with the line's content. */
function codeCell(cell: string, doc: string): string {
  const m = /^`([a-z0-9_]+)`$/.exec(cell);
  assert.ok(m, `${doc}: code cell ${JSON.stringify(cell)} must be a snake_case code in backticks`);
  return m[1]!;
}

function yesNo(cell: string, doc: string, code: string): boolean {
  assert.ok(cell === 'yes' || cell === 'no', `${doc}: ${code} has ${JSON.stringify(cell)}; write yes or no`);
  return cell === 'yes';
}

/** Code → value, failing on a code listed twice. */
function byCode<T>(rows: string[][], doc: string, value: (row: string[], code: string) => T): Map<string, T> {
  const out = new Map<string, T>();
  for (const row of rows) {
    const code = codeCell(row[0]!, doc);
    assert.ok(!out.has(code), `${doc}: ${code} is listed twice`);
    assert.ok(row[row.length - 1]!.length > 0, `${doc}: ${code} has no meaning`);
    out.set(code, value(row, code));
  }
  return out;
}

/** Both directions, then the values, with messages that say which side to fix. */
function assertSameCatalogue<T>(what: string, doc: string, inCode: Map<string, T>, inDocs: Map<string, T>): void {
  const missingFromDocs = [...inCode.keys()].filter((c) => !inDocs.has(c));
  const missingFromCode = [...inDocs.keys()].filter((c) => !inCode.has(c));
  assert.deepEqual(missingFromDocs, [], `${what} in the code but not in docs/${doc}: ${missingFromDocs.join(', ')}`);
  assert.deepEqual(missingFromCode, [], `${what} in docs/${doc} but not in the code: ${missingFromCode.join(', ')}`);
  const show = (v: T | undefined) => (typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v));
  const differing = [...inCode].filter(([c, v]) => inDocs.get(c) !== v).map(([c, v]) => `${c}: code says ${show(v)}, docs say ${show(inDocs.get(c))}`);
  assert.deepEqual(differing, [], `${what} that docs/${doc} describes differently from the code`);
}

describe('docs/statuses.md', () => {
  const doc = 'statuses.md';
  const markdown = readDoc(doc);

  test('lists every message status with whether it is final', () => {
    const docs = byCode(table(markdown, ['status', 'final', 'meaning'], doc), doc, (row, code) => yesNo(row[1]!, doc, code));
    const code = new Map(MESSAGE_STATUSES.map((s) => [s, STATUS_INFO[s].final] as const));
    assertSameCatalogue('statuses', doc, code, docs);
  });

  test('lists every failure reason with whether it is permanent', () => {
    const docs = byCode(table(markdown, ['code', 'permanent', 'meaning'], doc), doc, (row, code) => yesNo(row[1]!, doc, code));
    const code = new Map(Object.entries(REASONS).map(([c, info]) => [c, info.permanent] as const));
    assertSameCatalogue('failure reasons', doc, code, docs);
  });
});

describe('docs/errors.md', () => {
  const doc = 'errors.md';
  const markdown = readDoc(doc);

  test('lists every API error code with its HTTP status', () => {
    const docs = byCode(table(markdown, ['code', 'HTTP', 'meaning'], doc), doc, (row, code) => {
      assert.match(row[1]!, /^[1-5]\d\d$/, `${doc}: ${code} has HTTP ${JSON.stringify(row[1])}; write the status number`);
      return Number(row[1]);
    });
    const code = new Map(Object.entries(API_ERRORS).map(([c, info]) => [c, info.status] as const));
    assertSameCatalogue('API error codes', doc, code, docs);
  });
});
