/**
 * The operator of a number: an in-memory index of the numbering-plan registry
 * (number ranges → the operator they were allocated to) and of ported numbers,
 * which override it. Pure: the store loads the data, this answers lookups.
 */

/** What a lookup answers. Objects are shared and frozen: do not change them. */
export interface OperatorInfo {
  /** stable short code for routing and reports: `mts`, `megafon`, `beeline`, `t2`, otherwise `inn_<INN>` */
  readonly operator: string;
  /** the operator's name as the registry writes it (`ПАО "МегаФон"`); null for a ported number to an operator the registry does not name */
  readonly operatorName: string | null;
  /** the region of the number's range as the registry writes it (`г. Москва и Московская область`); null when unknown */
  readonly region: string | null;
  /** true when the answer comes from the ported-numbers table */
  readonly ported: boolean;
}

/**
 * The one call routing and accept need. `e164Digits` is an E.164 number
 * without "+" (`79161234567`); numbers the registry does not cover (and that
 * are not ported) answer null. Costs two binary searches over typed arrays:
 * a fraction of a microsecond, no I/O.
 */
export interface OperatorLookup {
  lookup(e164Digits: string): OperatorInfo | null;
}

/**
 * The big four by the INN of the legal entity the registry names; every other
 * operator (MVNOs included) is `inn_<INN>`. The INN is the identity: names are
 * written differently from one registry copy to the next, the INN is not.
 */
export const NAMED_OPERATORS: Readonly<Record<string, string>> = {
  '7740000076': 'mts',
  '7812014560': 'megafon',
  '7713076301': 'beeline',
  '7743895280': 't2',
};

const INN = /^(\d{10}|\d{12})$/;

export function isInn(text: string): boolean {
  return INN.test(text);
}

/** The operator code of an INN. */
export function operatorCode(inn: string): string {
  return NAMED_OPERATORS[inn] ?? `inn_${inn}`;
}

/** An operator named by its code (`mts`, `inn_7743200179`) or its INN: its code and INN, or null if it is neither. */
export function parseOperatorRef(ref: string): { operator: string; inn: string } | null {
  const text = ref.trim();
  if (isInn(text)) return { operator: operatorCode(text), inn: text };
  const inn = /^inn_(\d{10}|\d{12})$/.exec(text)?.[1] ?? Object.keys(NAMED_OPERATORS).find((k) => NAMED_OPERATORS[k] === text);
  return inn === undefined ? null : { operator: operatorCode(inn), inn };
}

/** One registry range, in full E.164 digits (`7` + DEF code + the 7-digit From and To). */
export interface RegistryRange {
  /** first number, e.g. 79000000000 */
  start: number;
  /** last number, inclusive */
  end: number;
  operator: string;
  inn: string;
  operatorName: string;
  region: string;
}

/** One ported number as stored: the operator it moved to; name and region optional. */
export interface PortedEntry {
  /** E.164 digits without "+" */
  number: string;
  operator: string;
  operatorName: string | null;
  region: string | null;
}

/** E.164 digits as a number (exact: at most 15 digits), or -1 when the text is not 1–15 digits. */
function digitsToNumber(digits: string): number {
  const length = digits.length;
  if (length === 0 || length > 15) return -1;
  let n = 0;
  for (let i = 0; i < length; i++) {
    const d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** The last index whose value is at most n in a sorted array, or -1. */
function lastAtMost(sorted: Float64Array, n: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= n) lo = mid + 1;
    else hi = mid - 1;
  }
  return hi;
}

/**
 * Registry ranges and ported numbers as sorted typed arrays searched by
 * bisection, each entry pointing at a shared, frozen answer. A whole MNP
 * database (millions of numbers) then costs 12 bytes a number instead of a
 * Map entry and a string each. Single changes made through the API go to a
 * small overlay Map until the next full load (`replacePorted`).
 */
export class MnoIndex implements OperatorLookup {
  readonly #starts: Float64Array;
  readonly #ends: Float64Array;
  readonly #info: OperatorInfo[];
  /** operator code → the name the registry gives it, for ported numbers stored without a name */
  readonly #names = new Map<string, string>();
  /** shared answers by operator, name, region and whether ported */
  readonly #answers = new Map<string, OperatorInfo>();
  #portedNumbers = new Float64Array(0);
  #portedInfo = new Uint32Array(0);
  #portedAnswers: OperatorInfo[] = [];
  /** operator → range index (-1: none) → the answer for a ported number with no name or region of its own */
  readonly #portedByRange = new Map<string, Map<number, OperatorInfo>>();
  /** changes since the last full load: an answer, or null for a number no longer ported */
  readonly #overlay = new Map<string, OperatorInfo | null>();

  /** `ranges` must not overlap (the registry import refuses files whose ranges do). */
  constructor(ranges: readonly RegistryRange[], ported: Iterable<PortedEntry> = []) {
    const sorted = [...ranges].sort((a, b) => a.start - b.start);
    this.#starts = new Float64Array(sorted.length);
    this.#ends = new Float64Array(sorted.length);
    this.#info = new Array<OperatorInfo>(sorted.length);
    sorted.forEach((r, i) => {
      this.#starts[i] = r.start;
      this.#ends[i] = r.end;
      this.#info[i] = this.#answer(r.operator, r.operatorName, r.region, false);
      this.#names.set(r.operator, r.operatorName);
    });
    this.replacePorted(ported);
  }

  get rangeCount(): number {
    return this.#starts.length;
  }

  get portedCount(): number {
    let n = this.#portedNumbers.length;
    for (const [number, answer] of this.#overlay) {
      const stored = this.#storedPorted(digitsToNumber(number)) !== null;
      if (answer && !stored) n++;
      else if (!answer && stored) n--;
    }
    return n;
  }

  lookup(e164Digits: string): OperatorInfo | null {
    if (this.#overlay.size > 0) {
      const changed = this.#overlay.get(e164Digits);
      if (changed !== undefined) return changed ?? this.lookupRegistry(e164Digits);
    }
    const n = digitsToNumber(e164Digits);
    if (n < 0) return null;
    return this.#storedPorted(n) ?? this.#registry(n);
  }

  /** The registry's answer alone, ignoring ported numbers. */
  lookupRegistry(e164Digits: string): OperatorInfo | null {
    const n = digitsToNumber(e164Digits);
    return n < 0 ? null : this.#registry(n);
  }

  /**
   * Adds or replaces a ported number (null removes it). A missing name is the
   * registry's name for the operator; a missing region is the region of the
   * number's range (numbers are ported within their region).
   */
  setPorted(number: string, entry: Omit<PortedEntry, 'number'> | null): void {
    if (digitsToNumber(number) < 0) return;
    this.#overlay.set(number, entry && this.#portedAnswer(number, entry));
  }

  /** Replaces every ported number (a full load). */
  replacePorted(entries: Iterable<PortedEntry>): void {
    const rows: { n: number; answer: OperatorInfo }[] = [];
    for (const p of entries) {
      const n = digitsToNumber(p.number);
      if (n >= 0) rows.push({ n, answer: this.#portedAnswer(p.number, p) });
    }
    rows.sort((a, b) => a.n - b.n);
    const index = new Map<OperatorInfo, number>();
    const answers: OperatorInfo[] = [];
    const numbers = new Float64Array(rows.length);
    const info = new Uint32Array(rows.length);
    rows.forEach((r, i) => {
      let k = index.get(r.answer);
      if (k === undefined) index.set(r.answer, (k = answers.push(r.answer) - 1));
      numbers[i] = r.n;
      info[i] = k;
    });
    this.#portedNumbers = numbers;
    this.#portedInfo = info;
    this.#portedAnswers = answers;
    this.#overlay.clear();
  }

  /** The registry's name of an operator code, if it has one. */
  operatorName(operator: string): string | null {
    return this.#names.get(operator) ?? null;
  }

  #registry(n: number): OperatorInfo | null {
    const i = lastAtMost(this.#starts, n);
    return i >= 0 && n <= this.#ends[i]! ? this.#info[i]! : null;
  }

  #storedPorted(n: number): OperatorInfo | null {
    const i = lastAtMost(this.#portedNumbers, n);
    return i >= 0 && this.#portedNumbers[i] === n ? this.#portedAnswers[this.#portedInfo[i]!]! : null;
  }

  #portedAnswer(number: string, entry: Omit<PortedEntry, 'number'>): OperatorInfo {
    const name = entry.operatorName ?? this.#names.get(entry.operator) ?? null;
    if (entry.operatorName !== null || entry.region !== null) return this.#answer(entry.operator, name, entry.region ?? this.lookupRegistry(number)?.region ?? null, true);
    // The usual MNP row names only the operator: its answer depends on the number's range alone.
    const n = digitsToNumber(number);
    const i = lastAtMost(this.#starts, n);
    const range = i >= 0 && n <= this.#ends[i]! ? i : -1;
    let byRange = this.#portedByRange.get(entry.operator);
    if (!byRange) this.#portedByRange.set(entry.operator, (byRange = new Map()));
    let answer = byRange.get(range);
    if (!answer) byRange.set(range, (answer = this.#answer(entry.operator, name, range < 0 ? null : this.#info[range]!.region, true)));
    return answer;
  }

  #answer(operator: string, operatorName: string | null, region: string | null, ported: boolean): OperatorInfo {
    const key = `${operator}\u0000${operatorName ?? ''}\u0000${region ?? ''}\u0000${ported}`;
    let answer = this.#answers.get(key);
    if (!answer) this.#answers.set(key, (answer = Object.freeze({ operator, operatorName, region, ported })));
    return answer;
  }
}
