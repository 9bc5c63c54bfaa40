import { sql, type Kysely } from 'kysely';
import type { DB } from './schema.ts';

/** A unit of write work: runs inside a transaction it shares with others, in its own savepoint. */
export type WriteWork<T> = (tx: Kysely<DB>) => Promise<T>;

interface Queued {
  work: WriteWork<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

export interface WriteBatcherOptions {
  /** false: every unit gets its own transaction (no batching); default true */
  batch?: boolean;
}

/**
 * Group commit for every writer on one connection: the units of work submitted
 * within one tick (accepted messages, claims, send outcomes, receipts) run in
 * one transaction, each in its own savepoint, so one failing unit rolls back
 * alone. A unit's promise settles only after the shared transaction commits:
 * nothing is reported done before it is durable. With SQLite's
 * `synchronous=full` every commit is an fsync, and the pipeline would
 * otherwise commit about four times per message.
 *
 * A unit must use only the `tx` it is given (with one SQLite connection, a
 * query on the outer handle would wait for the very transaction it runs in).
 */
export class WriteBatcher {
  readonly #db: Kysely<DB>;
  readonly #batch: boolean;
  #queue: Queued[] = [];
  #scheduled = false;
  #running: Promise<void> | null = null;
  /**
   * What the unit running now wants told once its outcome is known: one frame
   * per savepoint open inside it (`savepoint`), the unit's own at the bottom.
   */
  #unitHooks: ((stored: boolean) => void)[][] | null = null;

  constructor(db: Kysely<DB>, options: WriteBatcherOptions = {}) {
    this.#db = db;
    this.#batch = options.batch ?? true;
  }

  run<T>(work: WriteWork<T>): Promise<T> {
    if (!this.#batch) return this.#db.transaction().execute(work);
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  /**
   * Called from inside a unit of work: `fn` learns whether the unit's writes
   * are stored (true: the shared transaction committed with them; false: the
   * unit rolled back or the transaction failed), before the unit's promise
   * settles. Batching mode only, where units run one after another.
   */
  onSettled(fn: (stored: boolean) => void): void {
    if (!this.#unitHooks) throw new Error('WriteBatcher.onSettled is only for a unit of work in batching mode');
    this.#unitHooks[this.#unitHooks.length - 1]!.push(fn);
  }

  /**
   * `inSavepoint` for a unit that retries part of its work: what asked to be
   * told (`onSettled`) within a savepoint that rolls back is told `false` at
   * once, since those writes are gone whatever the transaction does; the rest
   * waits for the unit's outcome.
   */
  async savepoint<T>(tx: Kysely<DB>, work: WriteWork<T>): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
    const frames = this.#unitHooks;
    if (!frames) return inSavepoint(tx, work);
    const frame: ((stored: boolean) => void)[] = [];
    frames.push(frame);
    let result: { ok: true; value: T } | { ok: false; error: Error };
    try {
      result = await inSavepoint(tx, work);
    } finally {
      frames.pop();
    }
    if (result.ok) frames[frames.length - 1]!.push(...frame);
    else for (const hook of frame) hook(false);
    return result;
  }

  #schedule(): void {
    if (this.#scheduled || this.#running) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#running = this.#flush().finally(() => {
        this.#running = null;
        if (this.#queue.length > 0) this.#schedule();
      });
    });
  }

  async #flush(): Promise<void> {
    const units = this.#queue.splice(0);
    if (units.length === 0) return;
    const results: ({ ok: true; value: unknown } | { ok: false; error: Error })[] = [];
    const hooks: ((stored: boolean) => void)[][] = units.map(() => []);
    try {
      await this.#db.transaction().execute(async (tx) => {
        for (const [i, unit] of units.entries()) {
          this.#unitHooks = [hooks[i]!];
          try {
            results.push(await inSavepoint(tx, unit.work));
          } finally {
            this.#unitHooks = null;
          }
        }
      });
    } catch (err) {
      // The transaction itself failed (BEGIN or COMMIT): nothing of it is stored.
      units.forEach((unit, i) => {
        for (const hook of hooks[i]!) hook(false);
        unit.reject(err as Error);
      });
      return;
    }
    units.forEach((unit, i) => {
      const result = results[i]!;
      for (const hook of hooks[i]!) hook(result.ok);
      if (result.ok) unit.resolve(result.value);
      else unit.reject(result.error);
    });
  }
}

/**
 * Runs `work` in a savepoint of `tx`: on failure only its own writes are
 * rolled back and the transaction goes on. Savepoints share one name and nest
 * strictly, so the SQL text stays the same (prepared once).
 */
export async function inSavepoint<T>(tx: Kysely<DB>, work: WriteWork<T>): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
  await sql`savepoint unit`.execute(tx);
  try {
    const value = await work(tx);
    await sql`release unit`.execute(tx);
    return { ok: true, value };
  } catch (err) {
    await sql`rollback to unit`.execute(tx);
    await sql`release unit`.execute(tx);
    return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
  }
}
