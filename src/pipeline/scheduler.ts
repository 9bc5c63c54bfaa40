import type { Kysely } from 'kysely';
import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../log.ts';
import { IdempotencyRepository } from '../store/idempotency.ts';
import { OPEN_STATUS_CONDITION } from '../store/migrations/002-partial-indexes.ts';
import type { DB } from '../store/schema.ts';
import type { WriteBatcher } from '../store/write-batcher.ts';
import type { Dispatcher } from './dispatcher.ts';
import { expireSent, insertEvents } from './transitions.ts';
import type { EventOutbox } from '../events/webhooks/outbox.ts';

export interface SchedulerOptions {
  /** how often due messages are looked for, default 250 ms */
  pollMs?: number;
  /** due messages handed over per poll at most, default 2000 */
  pollLimit?: number;
  /** the dispatcher queue depth above which a poll is skipped, default 20,000 */
  maxDepth?: number;
  /**
   * In a cluster the accepting node hands a message due at once to the queue
   * itself: such a message is left alone for this long after it was accepted,
   * and handed over only if it is still waiting then (its hand-over was lost).
   * Without it, every poll under a backlog would queue the backlog again.
   * Absent (embedded): every due message is handed over.
   */
  handedOverMs?: number | undefined;
  /** finishing `sent` messages whose receipt never came; off when absent */
  expiry?: {
    batcher: WriteBatcher;
    bus: EventBus;
    /** how long after its validity ends a sent message still waits for its receipt */
    receiptGraceMs: number;
    /** how often to look, default 1000 ms */
    everyMs?: number;
    /** messages finished per transaction at most, default 500 */
    batchLimit?: number;
    /** webhook deliveries of the expiries, written in their transaction */
    outbox?: EventOutbox | undefined;
  };
}

/**
 * Finds messages that are due (a `send_at` reached, a retry back-off over, a
 * crashed sender's lease run out, or an id the dispatcher never got) and hands
 * them to the dispatcher; finishes sent messages whose receipt did not come
 * within their validity and the grace after it (`expired`, `no_receipt`);
 * forgets expired idempotency keys.
 */
export class Scheduler {
  readonly #db: Kysely<DB>;
  readonly #dispatcher: Dispatcher;
  readonly #log: Logger;
  readonly #pollMs: number;
  readonly #pollLimit: number;
  readonly #maxDepth: number;
  readonly #handedOverMs: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | null = null;
  #lastPurge = 0;
  readonly #expiry: SchedulerOptions['expiry'];
  #lastExpiry = 0;

  constructor(db: Kysely<DB>, dispatcher: Dispatcher, log: Logger, options: SchedulerOptions = {}) {
    this.#db = db;
    this.#dispatcher = dispatcher;
    this.#log = log;
    this.#pollMs = options.pollMs ?? 250;
    this.#pollLimit = options.pollLimit ?? 2000;
    this.#maxDepth = options.maxDepth ?? 20_000;
    this.#handedOverMs = options.handedOverMs;
    this.#expiry = options.expiry;
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

  /**
   * Finishes, in bounded batches, sent messages whose validity plus the
   * receipt grace is over; each batch is one unit of the write batcher, and its
   * changes go on the bus after the commit. Returns how many were finished.
   */
  async expireSent(now = Date.now()): Promise<number> {
    const expiry = this.#expiry;
    if (!expiry) return 0;
    const limit = expiry.batchLimit ?? 500;
    let total = 0;
    // A backlog (after a long outage) is worked off over several passes, not in one.
    for (let round = 0; round < 20; round++) {
      const changes = await expiry.batcher.run(async (tx) => insertEvents(tx, await expireSent(tx, now - expiry.receiptGraceMs, limit, now), expiry.outbox));
      expiry.bus.publishStatus(changes);
      total += changes.length;
      if (changes.length < limit) break;
    }
    return total;
  }

  /** One pass: hand over due messages; once a second finish sent messages whose receipt is overdue; purge old idempotency keys once a minute. */
  async tick(now = Date.now()): Promise<number> {
    let handed = 0;
    if (this.#dispatcher.depth < this.#maxDepth) {
      let query = this.#db
        .selectFrom('messages')
        .select('id')
        .where(OPEN_STATUS_CONDITION) // as in the partial index messages_due, word for word
        .where('due_at', '<=', now);
      const handedOverMs = this.#handedOverMs;
      if (handedOverMs !== undefined) {
        query = query.where((eb) => eb.not(eb.and([eb('status', '=', 'accepted'), eb('due_at', '<=', eb.ref('created_at')), eb('created_at', '>', now - handedOverMs)])));
      }
      const due = await query.orderBy('due_at').limit(this.#pollLimit).execute();
      handed = due.length;
      if (handed > 0) this.#dispatcher.enqueue(due.map((r) => r.id));
    }
    if (this.#expiry && now - this.#lastExpiry >= (this.#expiry.everyMs ?? 1000)) {
      this.#lastExpiry = now;
      const expired = await this.expireSent(now);
      if (expired > 0) this.#log.info({ expired }, 'sent messages without a receipt past their validity are expired (no_receipt)');
    }
    if (now - this.#lastPurge > 60_000) {
      this.#lastPurge = now;
      await new IdempotencyRepository(this.#db).purgeExpired(now);
    }
    return handed;
  }
}
