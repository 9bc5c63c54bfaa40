import type { Kysely } from 'kysely';
import type { Logger } from '../log.ts';
import { IdempotencyRepository } from '../store/idempotency.ts';
import { OPEN_STATUS_CONDITION } from '../store/migrations/002-partial-indexes.ts';
import type { DB } from '../store/schema.ts';
import type { Dispatcher } from './dispatcher.ts';

export interface SchedulerOptions {
  /** how often due messages are looked for, default 250 ms */
  pollMs?: number;
  /** due messages handed over per poll at most, default 2000 */
  pollLimit?: number;
  /** the dispatcher queue depth above which a poll is skipped, default 20,000 */
  maxDepth?: number;
}

/**
 * Finds messages that are due (a `send_at` reached, a retry back-off over, a
 * crashed sender's lease run out, or an id the dispatcher never got) and hands
 * them to the dispatcher; forgets expired idempotency keys.
 */
export class Scheduler {
  readonly #db: Kysely<DB>;
  readonly #dispatcher: Dispatcher;
  readonly #log: Logger;
  readonly #pollMs: number;
  readonly #pollLimit: number;
  readonly #maxDepth: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | null = null;
  #lastPurge = 0;

  constructor(db: Kysely<DB>, dispatcher: Dispatcher, log: Logger, options: SchedulerOptions = {}) {
    this.#db = db;
    this.#dispatcher = dispatcher;
    this.#log = log;
    this.#pollMs = options.pollMs ?? 250;
    this.#pollLimit = options.pollLimit ?? 2000;
    this.#maxDepth = options.maxDepth ?? 20_000;
  }

  /**
   * In the embedded single process nobody else can hold a lease, so messages
   * left in a sender's hands by a crash are due at once instead of when their
   * lease ends. Messages waiting out a retry back-off hold no lease and keep it.
   */
  async recoverAfterCrash(now = Date.now()): Promise<number> {
    const result = await this.#db
      .updateTable('messages')
      .set({ due_at: now, lease_until: null })
      .where('status', '=', 'queued')
      .where('lease_until', 'is not', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  start(): void {
    const tick = () => {
      this.#running = this.tick()
        .then(() => undefined)
        .catch((err: unknown) => this.#log.error({ err }, 'scheduler tick failed'))
        .finally(() => {
          this.#running = null;
          if (this.#timer !== undefined) this.#timer = setTimeout(tick, this.#pollMs);
        });
    };
    this.#timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#running) await this.#running;
  }

  /** One pass: hand over due messages; purge old idempotency keys once a minute. */
  async tick(now = Date.now()): Promise<number> {
    let handed = 0;
    if (this.#dispatcher.depth < this.#maxDepth) {
      const due = await this.#db
        .selectFrom('messages')
        .select('id')
        .where(OPEN_STATUS_CONDITION) // as in the partial index messages_due, word for word
        .where('due_at', '<=', now)
        .orderBy('due_at')
        .limit(this.#pollLimit)
        .execute();
      handed = due.length;
      if (handed > 0) this.#dispatcher.enqueue(due.map((r) => r.id));
    }
    if (now - this.#lastPurge > 60_000) {
      this.#lastPurge = now;
      await new IdempotencyRepository(this.#db).purgeExpired(now);
    }
    return handed;
  }
}
