/**
 * The two files an administrator imports: the numbering-plan registry
 * (Rossvyaz / Ministry of Digital Development DEF-9xx.csv and its ABC
 * siblings) and a list of ported numbers. Parsing is all or nothing: every bad
 * row is reported with its line number and no row is returned.
 */
import { parse } from 'csv-parse/sync';
import { normalizePhone } from './phone.ts';
import { isInn, operatorCode, parseOperatorRef, type RegistryRange } from './mno.ts';

/** One problem, on one line of the file (1 = the first line, the header). */
export interface CsvProblem {
  line: number;
  issue: string;
}

export type CsvResult<T> = { ok: true; rows: T[] } | { ok: false; problems: CsvProblem[] };

export const REGISTRY_HEADER = ['АВС/ DEF', 'От', 'До', 'Емкость', 'Оператор', 'Регион', 'ИНН'] as const;

interface CsvRecord {
  line: number;
  fields: string[];
}

/**
 * `;`-separated, quotes doubled inside quoted fields, a UTF-8 BOM allowed.
 * Records the CSV syntax breaks (an unclosed quote) become problems; after
 * one the parser may lose track of a few following lines.
 */
function records(text: string, problems: CsvProblem[]): CsvRecord[] {
  const parsed = parse(text, {
    bom: true,
    delimiter: ';',
    info: true,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    on_skip: (err) => {
      problems.push({ line: (err as { lines?: number } | undefined)?.lines ?? 0, issue: err?.message ?? 'unreadable row' });
      return undefined;
    },
  }) as unknown as { info: { lines: number }; record: string[] }[];
  return parsed.map((r) => ({ line: r.info.lines, fields: r.record }));
}

const WHOLE = /^\d{1,7}$/;

/**
 * Parses the registry: header `АВС/ DEF;От;До;Емкость;Оператор;Регион;ИНН`,
 * one range per row. Columns are found by their names, so a copy with more
 * columns (later copies add `Территория ГАР` before `ИНН`) reads the same. A row is bad if a field is missing or malformed, if From
 * is after To, or if Емкость is not To − From + 1; the file is bad if any row
 * is, or if two ranges overlap. Ranges come back in full E.164 digits.
 */
export function parseRegistry(text: string): CsvResult<RegistryRange & { line: number }> {
  const problems: CsvProblem[] = [];
  const all = records(text, problems);
  const [header, ...rows] = all;
  if (!header) return { ok: false, problems: [{ line: 1, issue: 'the file is empty' }] };
  const names = header.fields.map((f) => f.trim());
  const columns = REGISTRY_HEADER.map((name) => names.indexOf(name));
  if (columns.some((c, i) => c < 0 || names.lastIndexOf(REGISTRY_HEADER[i]!) !== c)) {
    problems.unshift({ line: header.line, issue: `the header must name each of the columns "${REGISTRY_HEADER.join(';')}" once, got "${header.fields.join(';')}"` });
    return { ok: false, problems };
  }
  const ranges: (RegistryRange & { line: number })[] = [];
  for (const { line, fields } of rows) {
    const bad = (issue: string) => problems.push({ line, issue });
    if (fields.length !== names.length) {
      bad(`${fields.length} fields, expected ${names.length} as in the header`);
      continue;
    }
    const [def, from, to, capacity, name, region, inn] = columns.map((c) => fields[c]!.trim()) as [string, string, string, string, string, string, string];
    const issues: string[] = [];
    if (!/^\d{3}$/.test(def)) issues.push(`АВС/ DEF "${def}" is not a 3-digit code`);
    if (!WHOLE.test(from)) issues.push(`От "${from}" is not a number of up to 7 digits`);
    if (!WHOLE.test(to)) issues.push(`До "${to}" is not a number of up to 7 digits`);
    if (!/^\d{1,8}$/.test(capacity)) issues.push(`Емкость "${capacity}" is not a number`);
    if (name === '') issues.push('Оператор is empty');
    if (!isInn(inn)) issues.push(`ИНН "${inn}" is not 10 or 12 digits`);
    if (issues.length === 0) {
      const first = Number(from);
      const last = Number(to);
      if (first > last) issues.push(`От ${from} is after До ${to}`);
      else if (Number(capacity) !== last - first + 1) issues.push(`Емкость ${capacity} does not match От..До (${last - first + 1} numbers)`);
    }
    if (issues.length > 0) {
      bad(issues.join('; '));
      continue;
    }
    const base = (7_000 + Number(def)) * 10_000_000;
    ranges.push({ line, start: base + Number(from), end: base + Number(to), operator: operatorCode(inn), inn, operatorName: name, region });
  }
  if (problems.length === 0 && ranges.length === 0) problems.push({ line: header.line, issue: 'the file has a header but no ranges' });
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.start <= prev.end) problems.push({ line: cur.line, issue: `the range ${cur.start}..${cur.end} overlaps ${prev.start}..${prev.end} of line ${prev.line}` });
  }
  if (problems.length > 0) return { ok: false, problems: problems.sort((a, b) => a.line - b.line) };
  return { ok: true, rows: ranges };
}

const RUSSIAN_E164 = /^\+?7\d{10}$/;

/** One row of a ported-numbers file. */
export interface PortedRow {
  line: number;
  /** E.164 digits without "+" */
  number: string;
  operator: string;
  inn: string;
  operatorName: string | null;
  region: string | null;
}

/**
 * Parses a ported-numbers file: `number;operator[;operator_name[;region]]`
 * per row, an optional header row starting with `number`. The number is in
 * any common form (`defaultRegion` applies to numbers without a country
 * code; 11 digits starting with 7 are always +7); the operator is a code
 * (`mts`, `inn_7743200179`) or an INN.
 */
export function parsePorted(text: string, defaultRegion = 'RU'): CsvResult<PortedRow> {
  const problems: CsvProblem[] = [];
  const all = records(text, problems);
  const rows: PortedRow[] = [];
  const seen = new Map<string, number>();
  all.forEach(({ line, fields }, i) => {
    if (i === 0 && fields[0]?.trim().toLowerCase() === 'number') return;
    const bad = (issue: string) => problems.push({ line, issue });
    if (fields.length < 2 || fields.length > 4) return bad(`${fields.length} fields, expected number;operator[;operator_name[;region]]`);
    const [rawNumber, rawOperator, rawName, rawRegion] = fields.map((f) => f.trim());
    // MNP files write +7XXXXXXXXXX or 7XXXXXXXXXX: taken as they are, ten times faster than parsing each.
    const phone = RUSSIAN_E164.test(rawNumber!) ? { ok: true as const, e164: rawNumber!.startsWith('+') ? rawNumber! : `+${rawNumber}` } : normalizePhone(rawNumber!, defaultRegion);
    const ref = parseOperatorRef(rawOperator!);
    const issues: string[] = [];
    if (!phone.ok) issues.push(`number "${rawNumber}": ${phone.issue}`);
    if (!ref) issues.push(`operator "${rawOperator}" is neither an operator code (mts, megafon, beeline, t2, inn_<INN>) nor an INN`);
    if (!phone.ok || !ref) return bad(issues.join('; '));
    const number = phone.e164.slice(1);
    const before = seen.get(number);
    if (before !== undefined) return bad(`number ${number} is also on line ${before}`);
    seen.set(number, line);
    rows.push({ line, number, operator: ref.operator, inn: ref.inn, operatorName: rawName ? rawName : null, region: rawRegion ? rawRegion : null });
  });
  if (problems.length > 0) return { ok: false, problems: problems.sort((a, b) => a.line - b.line) };
  return { ok: true, rows };
}

/** Problems as lines for a person: `line 12: …`, at most `max` of them and a count of the rest. */
export function formatProblems(problems: readonly CsvProblem[], max = 50): string {
  const shown = problems.slice(0, max).map((p) => `  line ${p.line}: ${p.issue}`);
  if (problems.length > max) shown.push(`  … and ${problems.length - max} more`);
  return shown.join('\n');
}
