import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { parse as parseCsv } from 'csv-parse';
import { stringify } from 'csv-stringify/sync';
import type ExcelJS from 'exceljs';
import { loadExcel } from '../xlsx.ts';
import { findNul, nulDetail } from '../../../domain/nul.ts';
import { normalizeContact, type Contact, type ContactInput, type ContactPatch } from '../../../store/contacts.ts';

/** Contacts files: CSV and XLSX, read and written as streams, one row at a time. */

export const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
/**
 * Rows per file. Imports are staged and applied in short transactions
 * (store/contact-imports.ts), so the limit is the staging table's size, not a
 * write lock: 5,000,000 rows.
 */
export const MAX_IMPORT_ROWS = 5_000_000;

/** A file holds more data rows than an import takes: thrown by checkContactsFile as soon as it reads the first row past the limit. */
export class TooManyRows extends Error {
  readonly limit: number;
  constructor(limit: number) {
    super(`the file holds more than ${limit} contacts (data rows); an import takes at most ${limit}: split it`);
    this.limit = limit;
  }
}

/** A row of a file with its number in the file: a CSV file's line where the record starts, an XLSX sheet's row number. */
export interface NumberedRow {
  row: number;
  cells: string[];
}

const LINE_BREAKS = /\r\n|\r|\n/g;

/** How much of a CSV file is looked at for its header line, to tell its separator. */
const SNIFF_BYTES = 64 * 1024;

/**
 * The separator of a CSV file: `;` if its header (the first line with a
 * value) holds more `;` than `,` outside quotes, otherwise `,`. One a file:
 * a `;` file (what Excel writes where the comma is the decimal separator)
 * leaves a value like `Москва, Тверская 1` unquoted, and splitting it too
 * would shift every cell after it. Undefined while no whole line is in.
 */
export function csvSeparator(head: string, complete: boolean): ',' | ';' | undefined {
  const lines = head.split(LINE_BREAKS);
  if (!complete) lines.pop(); // may be cut
  const header = lines.find((line) => line.trim() !== '');
  if (header === undefined) return complete ? ',' : undefined;
  let commas = 0;
  let semicolons = 0;
  let quoted = false;
  for (const c of header) {
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === ',') commas++;
    else if (!quoted && c === ';') semicolons++;
  }
  return semicolons > commas ? ';' : ',';
}

/** Holds the start of a file back until its separator is known (`separator`), then passes everything on. */
class SeparatorSniffer extends Transform {
  readonly separator: Promise<',' | ';'>;
  #decide!: (separator: ',' | ';') => void;
  #head: Buffer[] | undefined = [];
  #size = 0;

  constructor() {
    super();
    this.separator = new Promise((resolve, reject) => {
      this.#decide = resolve;
      this.once('error', reject);
    });
    this.separator.catch(() => {}); // an error reaches the reader through the parser too
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.#head) return callback(null, chunk);
    this.#head.push(chunk);
    this.#size += chunk.length;
    const separator = csvSeparator(Buffer.concat(this.#head).toString('utf8'), this.#size >= SNIFF_BYTES);
    if (separator) this.#release(separator);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.#head) this.#release(csvSeparator(Buffer.concat(this.#head).toString('utf8'), true)!);
    callback();
  }

  #release(separator: ',' | ';'): void {
    const head = Buffer.concat(this.#head!);
    this.#head = undefined;
    this.#decide(separator);
    if (head.length > 0) this.push(head);
  }
}

/**
 * Rows of a CSV file (`,` or `;` separated, told by its header line, UTF-8
 * with or without BOM), read as the stream comes, each numbered by the line of
 * the file it starts on (a quoted value may hold line breaks, so records and
 * lines part; an editor's "go to line" finds the row). A blank line is a row
 * of one empty cell.
 */
export async function* csvRows(input: string | Readable): AsyncGenerator<NumberedRow> {
  const source = typeof input === 'string' ? Readable.from([input]) : input;
  const sniffer = new SeparatorSniffer();
  source.once('error', (err) => sniffer.destroy(err));
  source.pipe(sniffer);
  const parser = sniffer.pipe(parseCsv({ bom: true, delimiter: await sniffer.separator, relax_column_count: true, skip_empty_lines: false, trim: true }));
  sniffer.once('error', (err) => parser.destroy(err));
  let line = 1;
  for await (const record of parser) {
    const cells = record as string[];
    yield { row: line, cells };
    // Every record ends with one line break; a line break outside quotes always ends a record.
    line += 1;
    for (const cell of cells) line += cell.match(LINE_BREAKS)?.length ?? 0;
  }
}

/** Rows of the first worksheet of an XLSX file, each cell as text, with the sheet's row number (rows the sheet does not store are not read). */
export async function* xlsxRows(file: Buffer | Readable): AsyncGenerator<NumberedRow> {
  const reader = new (await loadExcel()).stream.xlsx.WorkbookReader(Buffer.isBuffer(file) ? Readable.from([file]) : file, { sharedStrings: 'cache', worksheets: 'emit', hyperlinks: 'ignore', styles: 'ignore' });
  for await (const sheet of reader) {
    for await (const row of sheet as AsyncIterable<ExcelJS.Row>) {
      const values = Array.isArray(row.values) ? row.values.slice(1) : [];
      yield { row: row.number, cells: Array.from(values, cellText) };
    }
    return; // the first sheet only
  }
}

function cellText(value: ExcelJS.CellValue | undefined): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') {
    if ('richText' in value) return value.richText.map((r) => r.text).join('').trim();
    if ('text' in value) return String(value.text).trim();
    if ('result' in value) return value.result === undefined ? '' : cellText(value.result as ExcelJS.CellValue);
    return '';
  }
  return String(value).trim();
}

const TEXT_COLUMNS = ['guid', 'first_name', 'last_name', 'middle_name', 'gender', 'time_zone'] as const;
const JSON_COLUMNS = ['attributes', 'consent', 'messenger_ids'] as const;
const YES = new Set(['1', 'true', 'yes', 'да', 'y']);
const NO = new Set(['0', 'false', 'no', 'нет', 'n', '']);
const list = (cell: string) => cell.split(/[,;|]/).map((s) => s.trim()).filter(Boolean);

/**
 * What checkContactsFile yields: the header's columns first, then each data
 * row, good (its columns to write), bad (its issues) or skipped (no cell has a
 * value). `row` counts the rows read that are not skipped, without gaps (the
 * header is 1; what is staged); `at` is the row's number in the file, for
 * reports: a CSV file's line where the row starts, an XLSX sheet's row number.
 */
export type CheckedRow =
  | { header: (keyof ContactPatch)[]; at: number }
  | { row: number; at: number; patch: ContactPatch }
  | { row: number; at: number; issues: string[] }
  | { skipped: true; at: number };

/**
 * What a byte that is not UTF-8 reads as. A CSV file saved as Excel's plain
 * "CSV" where Cyrillic is written in Windows-1251 is full of it: such a row
 * is bad rather than imported as unreadable names.
 */
const NOT_UTF8 = '\uFFFD';
const notUtf8 = 'not UTF-8 text (a file saved as Excel\'s "CSV" is Windows-1251); save the file as "CSV UTF-8"';

/** The columns that say who a contact is: a row needs one of them with a value. */
const KEY_FIELDS = ['guid', 'phones', 'emails'] as const;

/**
 * Reads a contacts file a row at a time: a header row, then one contact a row.
 * Columns: guid, first_name, last_name, middle_name, gender, time_zone, phones
 * (or phone; several split by `,`/`;`/`|`), emails (or email), blocked,
 * consent.<channel>, messenger.<name>, attributes/consent/messenger_ids as
 * JSON objects, and any other column as a custom attribute. Every row is
 * checked on its own (normalizeContact); rows are reported by their number in
 * the file (`at`): a CSV row by the line it starts on (the header is line 1
 * unless blank lines come before it; a quoted value may span lines), an XLSX
 * row by its number in the sheet. A row with no value in any cell (`,,,`, a
 * blank line, an empty sheet row) is skipped, neither imported nor bad; a row
 * with values but none in the file's guid, phones, emails columns is bad. A
 * header naming none of guid, phones, emails is a bad header row, and an
 * empty file a bad row 1. A guid repeated across rows is found later, in the
 * staged rows (ContactImportsRepository.check), so nothing here grows with the file.
 * A file of more than `maxRows` data rows throws TooManyRows at the first row
 * past it (the file is refused whole, not reported row by row).
 */
export async function* checkContactsFile(source: AsyncIterable<NumberedRow>, defaultRegion: string, maxRows = MAX_IMPORT_ROWS): AsyncGenerator<CheckedRow> {
  let header: string[] | undefined;
  let columns: (keyof ContactPatch)[] = [];
  let rowNumber = 0;
  for await (const { row: at, cells } of source) {
    if (cells.every((c) => c.trim() === '')) {
      yield { skipped: true, at };
      continue;
    }
    rowNumber++;
    if (rowNumber > maxRows + 1) throw new TooManyRows(maxRows);
    if (!header) {
      header = cells.map((c) => c.trim());
      const lower = header.map((h) => h.toLowerCase());
      const set = new Set<keyof ContactPatch>();
      for (const h of lower) {
        if ((TEXT_COLUMNS as readonly string[]).includes(h)) set.add(h as keyof ContactPatch);
        else if (h === 'phone' || h === 'phones') set.add('phones');
        else if (h === 'email' || h === 'emails') set.add('emails');
        else if (h === 'blocked') set.add('blocked');
        else if (h === 'consent' || h.startsWith('consent.')) set.add('consent');
        else if (h === 'messenger_ids' || h.startsWith('messenger.')) set.add('messenger_ids');
        else if (h !== 'id') set.add('attributes');
      }
      columns = [...set];
      yield { header: columns, at };
      if (header.some((h) => h.includes(NOT_UTF8))) yield { row: 1, at, issues: [`the header row is ${notUtf8}`] };
      else if (!set.has('phones') && !set.has('emails') && !set.has('guid')) yield { row: 1, at, issues: ['the header row names none of guid, phones, emails'] };
      continue;
    }
    const input: ContactInput = {};
    const issues: string[] = [];
    header.forEach((name, i) => {
      const cell = (cells[i] ?? '').trim();
      const h = name.toLowerCase();
      if (h === 'id') return;
      if ((TEXT_COLUMNS as readonly string[]).includes(h)) input[h as (typeof TEXT_COLUMNS)[number]] = cell;
      else if (h === 'phone' || h === 'phones') input.phones = [...(input.phones ?? []), ...list(cell)];
      else if (h === 'email' || h === 'emails') input.emails = [...(input.emails ?? []), ...list(cell)];
      else if (h === 'blocked' || h.startsWith('consent.')) {
        const v = cell.toLowerCase();
        if (!YES.has(v) && !NO.has(v)) issues.push(`${name}: "${cell}" is not yes/no (1/0, true/false, да/нет)`);
        else if (h === 'blocked') input.blocked = YES.has(v);
        else if (cell !== '') input.consent = { ...input.consent, [h.slice('consent.'.length)]: YES.has(v) };
      } else if (h.startsWith('messenger.')) {
        if (cell !== '') input.messenger_ids = { ...input.messenger_ids, [name.slice('messenger.'.length)]: cell };
      } else if ((JSON_COLUMNS as readonly string[]).includes(h)) {
        if (cell === '') return;
        try {
          const value: unknown = JSON.parse(cell);
          if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
          const key = h as (typeof JSON_COLUMNS)[number];
          input[key] = { ...(input[key] as object | undefined), ...(value as object) } as never;
        } catch {
          issues.push(`${name}: not a JSON object`);
        }
      } else if (cell !== '') input.attributes = { ...input.attributes, [name]: cell };
    });
    if (columns.includes('attributes')) input.attributes ??= {};
    if (columns.includes('consent')) input.consent ??= {};
    if (columns.includes('messenger_ids')) input.messenger_ids ??= {};
    if (columns.includes('phones')) input.phones ??= [];
    if (columns.includes('emails')) input.emails ??= [];
    const garbled = cells.findIndex((c) => c.includes(NOT_UTF8));
    if (garbled !== -1) issues.push(`${header[garbled] ?? `column ${garbled + 1}`}: ${notUtf8}`);
    const nul = findNul(input);
    if (nul !== undefined) issues.push(`${nul}: ${nulDetail(nul).issue}`);
    const normalized = normalizeContact(input, defaultRegion);
    if (!normalized.ok) issues.push(...normalized.details.map((d) => `${d.field}: ${d.issue}`));
    const keys = KEY_FIELDS.filter((k) => columns.includes(k));
    if (keys.length > 0 && !(input.guid?.trim() || (input.phones?.length ?? 0) > 0 || (input.emails?.length ?? 0) > 0)) {
      issues.push(keys.length === 1 ? `${keys[0]}: empty; every row needs it` : `${keys.join(', ')}: all empty; every row needs one of them`);
    }
    if (issues.length > 0 || !normalized.ok) yield { row: rowNumber, at, issues };
    else yield { row: rowNumber, at, patch: normalized.patch };
  }
  if (!header) yield { row: 1, at: 1, issues: ['the file is empty; it needs a header row'] };
}

export const EXPORT_COLUMNS = ['id', 'guid', 'first_name', 'last_name', 'middle_name', 'gender', 'phones', 'emails', 'time_zone', 'blocked', 'consent', 'messenger_ids', 'attributes'];

function exportCells(c: Contact): string[] {
  return [
    c.id,
    c.guid ?? '',
    c.first_name ?? '',
    c.last_name ?? '',
    c.middle_name ?? '',
    c.gender ?? '',
    c.phones.join(','),
    c.emails.join(','),
    c.time_zone ?? '',
    c.blocked ? '1' : '0',
    JSON.stringify(c.consent),
    JSON.stringify(c.messenger_ids),
    JSON.stringify(c.attributes),
  ];
}

/** A CSV export that the import reads back unchanged. */
export async function* csvExport(contacts: AsyncIterable<Contact>): AsyncGenerator<string> {
  yield stringify([EXPORT_COLUMNS]);
  for await (const c of contacts) yield stringify([exportCells(c)]);
}

/** The same columns as an XLSX workbook, written as it streams. */
export function xlsxExport(contacts: AsyncIterable<Contact>): PassThrough {
  const out = new PassThrough();
  (async () => {
    const workbook = new (await loadExcel()).stream.xlsx.WorkbookWriter({ stream: out, useSharedStrings: false, useStyles: false });
    const sheet = workbook.addWorksheet('contacts');
    sheet.addRow(EXPORT_COLUMNS).commit();
    for await (const c of contacts) sheet.addRow(exportCells(c)).commit();
    sheet.commit();
    await workbook.commit();
  })().catch((err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
  return out;
}
