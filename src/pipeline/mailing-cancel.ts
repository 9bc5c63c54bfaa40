import type { Kysely } from 'kysely';
import type { EventBus } from '../events/bus.ts';
import type { EventOutbox } from '../events/webhooks/outbox.ts';
import type { Logger } from '../log.ts';
import { MailingsRepository } from '../store/mailings.ts';
import type { DB } from '../store/schema.ts';
import type { WriteBatcher } from '../store/write-batcher.ts';
import type { CascadeEngine } from './cascade.ts';
import { cancelUnsent } from './cancel.ts';
import { insertEvents } from './transitions.ts';

/** Recipients read per page (one transaction each). */
const PAGE_SIZE = 1000;
/** How often the store is looked at for cancels begun elsewhere (the mailing runner's own, of a mailing whose template or project is gone). */
const POLL_MS = 1000;
/** How often the messages in senders' hands at the cancel are looked at again: well inside the shortest retry back-off (0.5 s by default). */
const WATCH_POLL_MS = 100;
/** A plain message not yet sent is one of these; a cascade's parent is one of these while its cascade may still start a step. */
const PLAIN_OPEN: ReadonlySet<string> = new Set(['accepted', 'queued']);
const PARENT_OPEN: ReadonlySet<string> = new Set(['accepted', 'queued', 'sent']);

/** `<run>:<contact id>` of the last recipient done; '' before the first. */
function parseCursor(cursor: string): { run: number; after: string } {
  if (cursor === '') return { run: 1, after: '' };
  const colon = cursor.indexOf(':');
  return { run: Number(cursor.slice(0, colon)), after: cursor.slice(colon + 1) };
}

/**
 * What cancelling a mailing does to what it already sent (the mailing itself
 * is marked cancelled first, so no page of its runner is written after): its
 * recipients are read in (run, contact id) order, a page of 1,000 at a time,
 * never the whole audience; in one unit of the write batcher per page, each
 * plain message that no sender holds yet (`accepted`, `queued` waiting for a
 * retry) is cancelled with `mailing_cancelled` (its reserve refunded with its
 * event), and each cascade still running starts no later step, its running
 * step's message withdrawn if it is not sent yet (the parent then ends
 * cancelled too), as `CascadeEngine.stopAfterCurrent` does. The page also
 * moves the mailing's `cancel_cursor`, so a restart goes on from there
 * (`resume`); the last page clears it. Runs on the delivery side: the delivery
 * thread is the only writer of messages.
 */
export class MailingCanceller {
  readonly #batcher: WriteBatcher;
  readonly #bus: EventBus;
  readonly #outbox: EventOutbox;
  readonly #cascades: CascadeEngine;
  readonly #log: Logger;
  readonly #pageSize: number;
  readonly #repo: MailingsRepository;
  readonly #running = new Map<string, Promise<number>>();
  #stopped = false;
  readonly #pollMs: number;
  #timer: NodeJS.Timeout | undefined;

  readonly #watchMs: number;

  /** `watchMs`: how long after its pages a cancel watches the messages senders held (their lease: every attempt in flight has ended by then) */
  constructor(db: Kysely<DB>, batcher: WriteBatcher, bus: EventBus, outbox: EventOutbox, cascades: CascadeEngine, log: Logger, options: { pageSize?: number; watchMs: number; pollMs?: number }) {
    this.#pollMs = options.pollMs ?? POLL_MS;
    this.#batcher = batcher;
    this.#bus = bus;
    this.#outbox = outbox;
    this.#cascades = cascades;
    this.#log = log;
    this.#pageSize = options.pageSize ?? PAGE_SIZE;
    this.#watchMs = options.watchMs;
    this.#repo = new MailingsRepository(db);
  }

  /**
   * Cancels the unsent messages of a cancelled mailing whose `cancel_cursor`
   * is set; resolves with how many messages and cascades it stopped once none
   * is left (at once for a mailing with nothing to do). A second call while
   * one runs joins it.
   */
  cancel(accountId: string, mailingId: string): Promise<number> {
    const held = this.#running.get(mailingId);
    if (held) return held;
    const run = this.#sweep(accountId, mailingId).finally(() => this.#running.delete(mailingId));
    this.#running.set(mailingId, run);
    return run;
  }

  /**
   * Goes on, in the background, with every cancel a stop or crash left
   * unfinished; then, every second until `stop`, takes up any cancel begun
   * without a call to `cancel` (the mailing runner cancels a mailing whose
   * template or project is gone by setting its cursor in the store).
   */
  async resume(): Promise<void> {
    this.#stopped = false;
    clearTimeout(this.#timer);
    await this.#pickUp(true);
    const loop = () => {
      if (this.#stopped) return;
      this.#pickUp(false)
        .catch((err: unknown) => this.#log.error({ err }, 'looking for cancelled mailings failed'))
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(loop, this.#pollMs);
        });
    };
    this.#timer = setTimeout(loop, this.#pollMs);
  }

  async #pickUp(resumed: boolean): Promise<void> {
    for (const m of await this.#repo.cancelling(1000)) {
      if (this.#stopped) return;
      if (this.#running.has(m.id)) continue;
      this.#log.info({ mailing: m.id }, resumed ? 'cancelling the unsent messages of a cancelled mailing goes on' : 'cancelling the unsent messages of a mailing cancelled by the runner');
      this.cancel(m.account_id, m.id).catch((err: unknown) => this.#log.error({ err, mailing: m.id }, 'cancelling a mailing\'s messages failed; it is tried again'));
    }
  }

  /** Stops after the pages in progress; what is left goes on at the next `resume`. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await Promise.allSettled([...this.#running.values()]);
  }

  async #sweep(accountId: string, mailingId: string): Promise<number> {
    const m = await this.#repo.get(accountId, mailingId);
    if (!m || m.status !== 'cancelled' || m.cancel_cursor === null || m.cancel_cursor === undefined) return 0;
    const lastRun = m.run_number ?? 0;
    let { run, after } = parseCursor(m.cancel_cursor);
    let stopped = 0;
    if (run > lastRun) {
      await this.#batcher.run((tx) => MailingsRepository.setCancelCursor(tx, accountId, mailingId, null));
      return 0;
    }
    for (;;) {
      if (this.#stopped) return stopped;
      const page = await this.#repo.recipientMessages(accountId, mailingId, run, after, this.#pageSize);
      const runDone = page.length < this.#pageSize;
      const done = runDone && run >= lastRun;
      const plain = page.filter((r) => r.cascade_step === null && PLAIN_OPEN.has(r.status)).map((r) => r.message_id);
      const parents = page.filter((r) => r.cascade_step === 0 && PARENT_OPEN.has(r.status)).map((r) => r.message_id);
      const cursor = done ? null : runDone ? `${run + 1}:` : `${run}:${page.at(-1)!.contact_id}`;
      // A page with nothing left to cancel writes nothing (but the last): a restart reads it again, and finds nothing again.
      if (plain.length > 0 || parents.length > 0 || done) {
        const now = Date.now();
        const { changes, count } = await this.#batcher.run(async (tx) => {
          const events = await cancelUnsent(tx, accountId, plain, 'mailing_cancelled', now);
          const cascades = parents.length === 0 ? 0 : await this.#cascades.stopAfterCurrentIn(tx, parents, now, 'mailing_cancelled');
          await MailingsRepository.setCancelCursor(tx, accountId, mailingId, cursor);
          return { changes: await insertEvents(tx, events, this.#outbox), count: events.length + cascades };
        });
        this.#bus.publishStatus(changes);
        stopped += count;
      }
      if (done) break;
      if (runDone) {
        run++;
        after = '';
      } else after = page.at(-1)!.contact_id;
    }
    this.#log.info({ mailing: mailingId, stopped }, 'a cancelled mailing\'s unsent messages are cancelled');
    return stopped + (await this.#watchHeld(accountId, mailingId));
  }

  /**
   * The messages a sender held at the cancel go on; one whose attempt fails
   * for a reason worth a retry comes back `queued` without a lease, and is
   * cancelled then, before its retry (a cascade's step too, which ends the
   * cascade). Watched until the mailing has nothing `queued` left, for at
   * most a lease; in memory only (after a restart, such a retry goes).
   */
  async #watchHeld(accountId: string, mailingId: string): Promise<number> {
    const until = Date.now() + this.#watchMs;
    let stopped = 0;
    while (!this.#stopped && Date.now() < until) {
      const queued = await this.#repo.queuedMessages(accountId, mailingId);
      if (queued.length === 0) break;
      const free = queued.filter((m) => m.lease_until === null && m.cascade_step !== 0).map((m) => m.id);
      if (free.length > 0) {
        const now = Date.now();
        const changes = await this.#batcher.run(async (tx) => insertEvents(tx, await cancelUnsent(tx, accountId, free, 'mailing_cancelled', now), this.#outbox));
        this.#bus.publishStatus(changes);
        stopped += changes.length;
      }
      await new Promise((resolve) => setTimeout(resolve, WATCH_POLL_MS));
    }
    return stopped;
  }
}
