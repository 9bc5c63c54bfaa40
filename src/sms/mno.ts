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
 * are not ported) answer null. Costs a Map probe and a binary search: well
 * under a microsecond, no I/O.
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

/**
 * Registry ranges as sorted typed arrays of starts and ends (binary search)
 * and ported numbers in a Map. Built once per registry version; ported
 * numbers can be changed in place (`setPorted`) when the API changes one.
 */
export class MnoIndex implements OperatorLookup {
  readonly #starts: Float64Array;
  readonly #ends: Float64Array;
  readonly #info: OperatorInfo[];
  /** operator code → the name the registry gives it, for ported numbers stored without a name */
  readonly #names: Map<string, string>;
  readonly #ported = new Map<string, OperatorInfo>();

  /** `ranges` must not overlap (the registry import refuses files whose ranges do). */
  constructor(ranges: readonly RegistryRange[], ported: Iterable<PortedEntry> = []) {
    const sorted = [...ranges].sort((a, b) => a.start - b.start);
    this.#starts = new Float64Array(sorted.length);
    this.#ends = new Float64Array(sorted.length);
    this.#info = new Array<OperatorInfo>(sorted.length);
    this.#names = new Map();
    const shared = new Map<string, OperatorInfo>();
    sorted.forEach((r, i) => {
      this.#starts[i] = r.start;
      this.#ends[i] = r.end;
      const key = `${r.operator}\u0000${r.operatorName}\u0000${r.region}`;
      let info = shared.get(key);
      if (!info) shared.set(key, (info = Object.freeze({ operator: r.operator, operatorName: r.operatorName, region: r.region, ported: false })));
      this.#info[i] = info;
      this.#names.set(r.operator, r.operatorName);
    });
    for (const p of ported) this.setPorted(p.number, p);
  }

  get rangeCount(): number {
    return this.#starts.length;
  }

  get portedCount(): number {
    return this.#ported.size;
  }

  lookup(e164Digits: string): OperatorInfo | null {
    return this.#ported.get(e164Digits) ?? this.lookupRegistry(e164Digits);
  }

  /** The registry's answer alone, ignoring ported numbers. */
  lookupRegistry(e164Digits: string): OperatorInfo | null {
    // Registry numbers have 11 digits; 15 is E.164's longest and still exact in a double.
    const length = e164Digits.length;
    if (length === 0 || length > 15) return null;
    let n = 0;
    for (let i = 0; i < length; i++) {
      const d = e164Digits.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return null;
      n = n * 10 + d;
    }
    const starts = this.#starts;
    let lo = 0;
    let hi = starts.length - 1;
    // The last range that starts at or before n.
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= n) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && n <= this.#ends[hi]! ? this.#info[hi]! : null;
  }

  /**
   * Adds or replaces a ported number (null removes it). A missing name is the
   * registry's name for the operator; a missing region is the region of the
   * number's range (numbers are ported within their region).
   */
  setPorted(number: string, entry: Omit<PortedEntry, 'number'> | null): void {
    if (entry === null) {
      this.#ported.delete(number);
      return;
    }
    this.#ported.set(
      number,
      Object.freeze({
        operator: entry.operator,
        operatorName: entry.operatorName ?? this.#names.get(entry.operator) ?? null,
        region: entry.region ?? this.lookupRegistry(number)?.region ?? null,
        ported: true,
      }),
    );
  }

  /** Replaces every ported number. */
  replacePorted(entries: Iterable<PortedEntry>): void {
    this.#ported.clear();
    for (const p of entries) this.setPorted(p.number, p);
  }

  /** The registry's name of an operator code, if it has one. */
  operatorName(operator: string): string | null {
    return this.#names.get(operator) ?? null;
  }
}
