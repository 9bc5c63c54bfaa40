import type { Kysely } from 'kysely';
import type { Logger } from '../log.ts';
import { MnoIndex, type OperatorInfo, type OperatorLookup, type PortedEntry, type RegistryRange } from '../sms/mno.ts';
import type { DB, MnoVersionsTable, PortedNumbersTable } from './schema.ts';
import { fixedChunks } from './shapes.ts';

export type RegistryVersion = MnoVersionsTable;
export type PortedNumberRow = PortedNumbersTable;

/** The marker other processes poll: both numbers change with every import and every ported-number change. */
export interface MnoMarker {
  registryVersion: number | null;
  portedRevision: number;
}

/**
 * The numbering-plan registry and the ported-numbers table. Both belong to the
 * gateway, not to an account (administrators change them), so methods take no
 * account id.
 */
export class MnoRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async marker(): Promise<MnoMarker> {
    const row = await this.#db.selectFrom('mno_state').select(['registry_version', 'ported_revision']).where('id', '=', 1).executeTakeFirstOrThrow();
    return { registryVersion: row.registry_version, portedRevision: row.ported_revision };
  }

  /** The current registry version, or undefined before the first import. */
  async current(): Promise<RegistryVersion | undefined> {
    return this.#db
      .selectFrom('mno_state')
      .innerJoin('mno_versions', 'mno_versions.version', 'mno_state.registry_version')
      .selectAll('mno_versions')
      .where('mno_state.id', '=', 1)
      .executeTakeFirst();
  }

  /**
   * Stores the ranges as a new version and makes it current in one
   * transaction (readers see the old version or the new, never a mix), then
   * deletes the older versions' rows. `ranges` must be checked already.
   */
  async importRegistry(ranges: readonly RegistryRange[], source: string, now = Date.now()): Promise<RegistryVersion> {
    const operators = new Set(ranges.map((r) => r.operator)).size;
    const version = await this.#db.transaction().execute(async (tx) => {
      // Touching the state row first serialises concurrent imports (PostgreSQL row lock; SQLite's write lock).
      await tx.updateTable('mno_state').set({ updated_at: now }).where('id', '=', 1).execute();
      const last = await tx.selectFrom('mno_versions').select((eb) => eb.fn.max('version').as('v')).executeTakeFirst();
      const row: RegistryVersion = { version: Number(last?.v ?? 0) + 1, source, ranges: ranges.length, operators, imported_at: now };
      await tx.insertInto('mno_versions').values(row).execute();
      for (const chunk of fixedChunks(ranges)) {
        await tx
          .insertInto('mno_ranges')
          .values(chunk.map((r) => ({ version: row.version, range_start: r.start, range_end: r.end, operator: r.operator, inn: r.inn, operator_name: r.operatorName, region: r.region })))
          .execute();
      }
      await tx.updateTable('mno_state').set({ registry_version: row.version, updated_at: now }).where('id', '=', 1).execute();
      return row;
    });
    // Older versions only: a newer import may have committed meanwhile.
    await this.#db.deleteFrom('mno_ranges').where('version', '<', version.version).execute();
    return version;
  }

  /**
   * The current version's ranges. A version that a newer import deleted while
   * it was being read comes back short; then the new current one is read.
   */
  async loadRegistry(): Promise<{ version: number | null; ranges: RegistryRange[] }> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.current();
      if (!current) return { version: null, ranges: [] };
      const rows = await this.#db.selectFrom('mno_ranges').selectAll().where('version', '=', current.version).execute();
      if (rows.length === current.ranges) {
        return {
          version: current.version,
          ranges: rows.map((r) => ({ start: r.range_start, end: r.range_end, operator: r.operator, inn: r.inn, operatorName: r.operator_name, region: r.region })),
        };
      }
      if (attempt === 3) throw new Error(`registry version ${current.version} has ${rows.length} ranges stored, ${current.ranges} expected`);
    }
  }

  async loadPorted(): Promise<PortedEntry[]> {
    const rows = await this.#db.selectFrom('ported_numbers').select(['number', 'operator', 'operator_name', 'region']).execute();
    return rows.map((r) => ({ number: r.number, operator: r.operator, operatorName: r.operator_name, region: r.region }));
  }

  async getPorted(number: string): Promise<PortedNumberRow | undefined> {
    return this.#db.selectFrom('ported_numbers').selectAll().where('number', '=', number).executeTakeFirst();
  }

  /** In number order, after `afterNumber`; one more row than asked tells the caller whether there is a next page. */
  async listPorted(options: { afterNumber?: string | undefined; limit: number }): Promise<PortedNumberRow[]> {
    let q = this.#db.selectFrom('ported_numbers').selectAll();
    if (options.afterNumber !== undefined) q = q.where('number', '>', options.afterNumber);
    return q.orderBy('number').limit(options.limit).execute();
  }

  /** Adds or replaces one ported number; returns the new ported revision. */
  async putPorted(row: PortedNumberRow): Promise<{ revision: number; created: boolean }> {
    return this.#db.transaction().execute(async (tx) => {
      const existed = await tx.selectFrom('ported_numbers').select('number').where('number', '=', row.number).executeTakeFirst();
      await MnoRepository.#upsert(tx, [row]);
      return { revision: await MnoRepository.#bump(tx, row.updated_at), created: !existed };
    });
  }

  /** Removes one ported number; the new ported revision, or null if it was not there. */
  async deletePorted(number: string, now = Date.now()): Promise<number | null> {
    return this.#db.transaction().execute(async (tx) => {
      const gone = await tx.deleteFrom('ported_numbers').where('number', '=', number).executeTakeFirst();
      if (Number(gone.numDeletedRows) === 0) return null;
      return MnoRepository.#bump(tx, now);
    });
  }

  /** Adds or replaces many in one transaction; `replace` empties the table first (a full MNP snapshot). */
  async importPorted(rows: readonly PortedNumberRow[], options: { replace: boolean }, now = Date.now()): Promise<{ revision: number; total: number }> {
    return this.#db.transaction().execute(async (tx) => {
      if (options.replace) await tx.deleteFrom('ported_numbers').execute();
      await MnoRepository.#upsert(tx, rows);
      const revision = await MnoRepository.#bump(tx, now);
      const total = await tx.selectFrom('ported_numbers').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      return { revision, total: Number(total.n) };
    });
  }

  async countPorted(): Promise<number> {
    const row = await this.#db.selectFrom('ported_numbers').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  static async #upsert(tx: Kysely<DB>, rows: readonly PortedNumberRow[]): Promise<void> {
    for (const chunk of fixedChunks(rows)) {
      await tx
        .insertInto('ported_numbers')
        .values(chunk)
        .onConflict((oc) =>
          oc.column('number').doUpdateSet((eb) => ({
            operator: eb.ref('excluded.operator'),
            inn: eb.ref('excluded.inn'),
            operator_name: eb.ref('excluded.operator_name'),
            region: eb.ref('excluded.region'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .execute();
    }
  }

  static async #bump(tx: Kysely<DB>, now: number): Promise<number> {
    const row = await tx
      .updateTable('mno_state')
      .set((eb) => ({ ported_revision: eb('ported_revision', '+', 1), updated_at: now }))
      .where('id', '=', 1)
      .returning('ported_revision')
      .executeTakeFirstOrThrow();
    return row.ported_revision;
  }
}

export interface MnoCacheOptions {
  /** how often to look at the marker for imports made by other processes; default 5000 ms */
  pollMs?: number;
  /** called after every load or change, with what is loaded now */
  onChange?: (loaded: MnoCache['loaded']) => void;
}

/**
 * The operator lookup of this process: the registry and the ported numbers in
 * memory (`MnoIndex`), loaded at start and loaded again when the marker in
 * `mno_state` changes (an import by `depesha mno import` in another process)
 * or at once when this process changes a ported number. Every reload and
 * change goes through one queue, so a slow reload cannot undo a newer change.
 */
export class MnoCache implements OperatorLookup {
  readonly #repo: MnoRepository;
  readonly #log: Logger;
  readonly #pollMs: number;
  readonly #onChange: MnoCacheOptions['onChange'];
  #index = new MnoIndex([]);
  #marker: MnoMarker = { registryVersion: null, portedRevision: -1 };
  #queue: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;

  constructor(repo: MnoRepository, log: Logger, options: MnoCacheOptions = {}) {
    this.#repo = repo;
    this.#log = log;
    this.#pollMs = options.pollMs ?? 5000;
    this.#onChange = options.onChange;
  }

  get repository(): MnoRepository {
    return this.#repo;
  }

  /** What this process has loaded: the registry version and the ported revision. */
  get loaded(): { registryVersion: number | null; portedRevision: number; ranges: number; ported: number } {
    return { ...this.#marker, ranges: this.#index.rangeCount, ported: this.#index.portedCount };
  }

  lookup(e164Digits: string): OperatorInfo | null {
    return this.#index.lookup(e164Digits);
  }

  /** The registry's name for an operator code, when it names it. */
  operatorName(operator: string): string | null {
    return this.#index.operatorName(operator);
  }

  /** Loads what is stored, then looks at the marker every `pollMs`. */
  async start(): Promise<void> {
    await this.refresh();
    let polling = false;
    this.#timer = setInterval(() => {
      // A reload slower than the interval must not pile up more behind it.
      if (polling) return;
      polling = true;
      this.refresh()
        .catch((err: unknown) => this.#log.error({ err }, 'reloading the operator registry failed'))
        .finally(() => (polling = false));
    }, this.#pollMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Reloads whatever changed since the last load: the registry (and the ported numbers with it), or the ported numbers alone. */
  refresh(): Promise<void> {
    return this.#enqueue(() => this.#reload());
  }

  async #reload(): Promise<void> {
    const marker = await this.#repo.marker();
    if (marker.registryVersion !== this.#marker.registryVersion) {
      const [registry, ported] = await Promise.all([this.#repo.loadRegistry(), this.#repo.loadPorted()]);
      this.#index = new MnoIndex(registry.ranges, ported);
      this.#marker = { registryVersion: registry.version, portedRevision: marker.portedRevision };
      this.#log.info({ version: registry.version, ranges: registry.ranges.length, ported: ported.length }, 'operator registry loaded');
      this.#onChange?.(this.loaded);
    } else if (marker.portedRevision !== this.#marker.portedRevision) {
      const ported = await this.#repo.loadPorted();
      this.#index.replacePorted(ported);
      this.#marker = { ...this.#marker, portedRevision: marker.portedRevision };
      this.#log.info({ ported: ported.length }, 'ported numbers loaded');
      this.#onChange?.(this.loaded);
    }
  }

  /**
   * This process changed one ported number and the store answered `revision`:
   * applied in place when it is the next revision, otherwise (another process
   * changed something too) everything changed is loaded again.
   */
  portedChanged(revision: number, number: string, entry: Omit<PortedEntry, 'number'> | null): Promise<void> {
    return this.#enqueue(async () => {
      if (revision !== this.#marker.portedRevision + 1) return this.#reload();
      this.#index.setPorted(number, entry);
      this.#marker = { ...this.#marker, portedRevision: revision };
      this.#onChange?.(this.loaded);
    });
  }

  #enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => {});
    return next;
  }
}
