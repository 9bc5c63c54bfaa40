import type { Kysely } from 'kysely';
import { newId } from '../../domain/ids.ts';
import type { Logger } from '../../log.ts';
import type { Dialect } from '../../store/db.ts';
import type { DB } from '../../store/schema.ts';
import type { SecretBox } from '../../store/secrets.ts';
import { openOrMakeCallbackSecret, WebhookOutbox, type AttemptRow, type DeliveryRow, type Subscription } from '../../store/webhooks.ts';
import type { WriteBatcher } from '../../store/write-batcher.ts';
import { generateSecret, signatureHeaders } from './signing.ts';
import type { Subscriptions } from './subscriptions.ts';
import { SKIPPED, type Outcome, type Poster } from './poster.ts';
import { webhookUrlProblem } from './url.ts';

export interface WebhookSenderOptions {
  /** how long one POST may take, answer included, default 10,000 ms */
  timeoutMs: number;
  /** requests in flight per endpoint, default 32 */
  concurrency: number;
  /** first back-off after a failed attempt, default 5,000 ms; doubles each attempt */
  retryBaseMs: number;
  /** longest back-off, default 120,000 ms (2 min) */
  retryMaxMs: number;
  /** an endpoint failing this long is disabled (a callback_url delivery given up), default 3 days */
  disableAfterMs: number;
  /** how often due retries are looked for, default 250 ms */
  pollMs: number;
  /** finished deliveries and log entries older than this are removed, default 30 days */
  retentionMs: number;
  /** false: a `callback_url` that is a private, loopback or link-local IP address is given up at its first attempt (it cannot change); default true */
  allowPrivateAddresses?: boolean | undefined;
}

/** The most deliveries one endpoint holds in memory (in flight and queued); past that it is left out of the fetch. */
const MAX_HELD_PER_ENDPOINT = 256;
const PURGE_EVERY_MS = 10 * 60_000;
/** rows removed per transaction, so a large purge does not hold the writer long */
const PURGE_CHUNK = 5_000;
/**
 * A delivery behind one in flight is looked at again this soon. Its
 * predecessor's success makes it due at once, but that write may commit just
 * before this deferral does (another process's write, on PostgreSQL); the short
 * deferral bounds what that race costs.
 */
const BEHIND_IN_FLIGHT_MS = 1_000;

/** Back-off after the `attempt`-th failure: between half and all of min(max, base × 2^(attempt−1)). */
export function webhookRetryDelayMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}

/**
 * How many failed attempts a delivery must have made, beside being
 * `windowMs` old, to be given up while its endpoint takes other deliveries:
 * one per two longest back-offs over the window (its own back-off makes
 * about three, so it gets there well within the window, before the
 * subscription's clock would disable it). A delivery that only failed as the
 * probe of an endpoint that was down (or that waited while its subscription
 * was disabled) has made far fewer, and is kept.
 */
export function webhookOwnAttempts(windowMs: number, maxMs: number): number {
  return Math.max(1, Math.ceil(windowMs / (2 * maxMs)));
}

interface Endpoint {
  active: number;
  queue: DeliveryRow[];
  /**
   * While failing the endpoint is paused: nothing is sent before this time,
   * then one delivery at a time (a probe) until one succeeds. 0: not paused.
   */
  pausedUntil: number;
  /** failed probes in a row: the pause doubles with each */
  step: number;
  /**
   * The chains (order keys) with a delivery held here, in flight or queued,
   * each with the deliveries handed over directly that wait behind it, in
   * order (see `admit`).
   */
  chains: Map<string, DeliveryRow[]>;
  /** how many deliveries wait in `chains` */
  behind: number;
}

/** Due deliveries a probe of a paused endpoint looks at to choose the one it sends (see #fetchOnce). */
const PROBE_LOOK = 32;

/** An endpoint with nothing pending is forgotten only after this long, so a commit racing the check is not missed. */
const FORGET_AFTER_MS = 1_000;


/**
 * Sends the outbox: takes due deliveries (nudged after every commit that
 * added some, and polled for retries that came due), keeps order per message
 * and endpoint (a delivery waits while an earlier one of its chain is
 * pending), and gives every endpoint its own queue and concurrency limit, so
 * a slow endpoint only delays itself. Every outcome, and the attempt in the
 * log, is written through the write batcher.
 */
export class WebhookSender {
  readonly #db: Kysely<DB>;
  readonly #dialect: Dialect;
  readonly #batcher: WriteBatcher;
  readonly #subscriptions: Subscriptions;
  readonly #box: SecretBox;
  readonly #log: Logger;
  readonly #options: WebhookSenderOptions;
  readonly #endpoints = new Map<string, Endpoint>();
  /** endpoints that may have pending deliveries, and since when a look found none */
  readonly #pending = new Map<string, number | null>();
  /** deliveries held in memory (leased): id → endpoint */
  readonly #held = new Map<string, string>();
  /** how many deliveries each endpoint holds in memory */
  readonly #heldPer = new Map<string, number>();
  /**
   * Endpoints whose every pending delivery is held here: new deliveries for
   * them are handed over by the transaction that writes them (`admit`),
   * without being read back and leased in a second one.
   */
  readonly #fast = new Set<string>();
  /** deliveries the poster did not send while their endpoint paused, handed back together (see #notSent) */
  readonly #unsent: DeliveryRow[] = [];
  /** deliveries admitted in a transaction that has not settled yet, per endpoint */
  readonly #reserved = new Map<string, number>();
  readonly #handoff: boolean;
  /** successes waiting for their shared write (see #recordSuccess) */
  readonly #successes: { row: DeliveryRow; attempt: AttemptRow; resolve: (followers: number) => void; reject: (err: Error) => void }[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  /** when each endpoint last took a delivery (kept while it has pending ones; the log answers for earlier): whether it works while one delivery keeps failing */
  readonly #succeededAt = new Map<string, number>();
  readonly #callbackSecrets = new Map<string, Promise<string>>();
  readonly #poster: Poster;
  #timer: NodeJS.Timeout | undefined;
  #purgeTimer: NodeJS.Timeout | undefined;
  #purging: Promise<void> | null = null;
  #pumping: Promise<void> | null = null;
  #again = false;
  #stopped = false;

  /**
   * `handoff`: new deliveries may be handed over by the transaction that
   * writes them (`admit`, `settle`); it needs the batcher's one writer at a
   * time (SQLite), so that whether an endpoint's every pending delivery is
   * held here can be known.
   */
  constructor(db: Kysely<DB>, dialect: Dialect, batcher: WriteBatcher, subscriptions: Subscriptions, box: SecretBox, log: Logger, options: WebhookSenderOptions, poster: Poster, handoff = false) {
    this.#poster = poster;
    this.#handoff = handoff;
    this.#db = db;
    this.#dialect = dialect;
    this.#batcher = batcher;
    this.#subscriptions = subscriptions;
    this.#box = box;
    this.#log = log;
    this.#options = options;
  }

  /** Frees what the last run left in flight, then starts polling. */
  async start(): Promise<void> {
    const recovered = await this.#batcher.run((tx) => WebhookOutbox.recover(tx, Date.now()));
    if (recovered > 0) this.#log.info({ recovered }, 'webhook deliveries left in flight by the last run are due again');
    for (const endpoint of await WebhookOutbox.pendingEndpoints(this.#db)) this.#pending.set(endpoint, null);
    this.#timer = setInterval(() => this.nudge(), this.#options.pollMs);
    this.#timer.unref();
    this.#purgeTimer = setInterval(() => void (this.#purging ??= this.purge().then(() => undefined).finally(() => (this.#purging = null))), PURGE_EVERY_MS);
    this.#purgeTimer.unref();
    this.nudge();
  }

  /** Removes finished deliveries and log entries past the retention, a chunk per transaction. */
  async purge(now = Date.now()): Promise<number> {
    let total = 0;
    try {
      for (;;) {
        if (this.#stopped) break;
        const removed = await this.#batcher.run((tx) => WebhookOutbox.purge(tx, now - this.#options.retentionMs, PURGE_CHUNK));
        total += removed;
        if (removed === 0) break;
      }
    } catch (err) {
      this.#log.error({ err }, 'purging old webhook deliveries failed; trying again later');
    }
    if (total > 0) this.#log.info({ removed: total }, 'old webhook deliveries and log entries removed');
    return total;
  }

  /**
   * Inside the transaction that writes these new deliveries, before their
   * insert: leases and returns the ones this sender takes as soon as the
   * transaction commits (`settle`), for endpoints whose every pending
   * delivery it holds, while they have room. A delivery of any other endpoint
   * is left to the reads after the commit (`track`), and its endpoint is no
   * longer one whose every delivery is held here.
   */
  admit(rows: DeliveryRow[], now: number): DeliveryRow[] {
    const taken: DeliveryRow[] = [];
    const leaseUntil = now + this.#options.timeoutMs + 5_000;
    for (const row of rows) {
      const key = row.endpoint;
      const e = this.#endpoints.get(key);
      const reserved = this.#reserved.get(key) ?? 0;
      if (this.#stopped || !this.#fast.has(key) || (e && e.pausedUntil > 0) || (this.#heldPer.get(key) ?? 0) + reserved >= MAX_HELD_PER_ENDPOINT) {
        this.#fast.delete(key);
        continue;
      }
      // Leased as `lease` would: not due while this sender holds it, due again if it dies holding it.
      row.lease_until = leaseUntil;
      row.next_attempt_at = leaseUntil;
      this.#reserved.set(key, reserved + 1);
      taken.push(row);
    }
    return taken;
  }

  /**
   * The deliveries `admit` took, once their transaction has settled: if
   * stored, each is queued, or waits behind the delivery of its chain held
   * here. One whose endpoint stopped being fast meanwhile is handed back.
   */
  settle(rows: readonly DeliveryRow[], stored: boolean): void {
    const back: DeliveryRow[] = [];
    const endpoints = new Set<string>();
    for (const row of rows) {
      const key = row.endpoint;
      const reserved = (this.#reserved.get(key) ?? 1) - 1;
      if (reserved > 0) this.#reserved.set(key, reserved);
      else this.#reserved.delete(key);
      if (!stored) continue;
      if (!this.#fast.has(key) || this.#stopped) {
        back.push(row);
        continue;
      }
      this.#hold(row);
      const e = this.#endpoint(key);
      const chain = e.chains.get(row.order_key);
      if (chain) {
        chain.push(row);
        e.behind++;
      } else {
        e.chains.set(row.order_key, []);
        e.queue.push(row);
      }
      endpoints.add(key);
    }
    for (const key of endpoints) this.#drain(key);
    if (back.length > 0) this.#handBack(back);
  }

  /**
   * After the subscriptions or the deliveries changed outside this sender (a
   * replay, an endpoint enabled): nothing is taken for granted. Every endpoint
   * with pending deliveries is looked at by reading, and the deliveries
   * waiting behind their chain in memory are handed back to be read in order.
   */
  async refresh(): Promise<void> {
    this.#fast.clear();
    const back: DeliveryRow[] = [];
    for (const e of this.#endpoints.values()) {
      for (const chain of e.chains.values()) back.push(...chain.splice(0));
      e.behind = 0;
    }
    if (back.length > 0) this.#handBack(back);
    for (const endpoint of await WebhookOutbox.pendingEndpoints(this.#db)) this.#pending.set(endpoint, null);
    this.nudge();
  }

  /** Gives leased deliveries that were not attempted back to the store: pending and due now. */
  #handBack(rows: DeliveryRow[]): void {
    const now = Date.now();
    this.#batcher
      .run((tx) => WebhookOutbox.release(tx, rows, now))
      .catch((err: unknown) => this.#log.error({ err, count: rows.length }, 'handing webhook deliveries back failed; they are due again when their lease ends'))
      .finally(() => {
        for (const row of rows) {
          this.#unhold(row);
          this.#pending.set(row.endpoint, null);
        }
        this.nudge();
      });
  }

  #hold(row: DeliveryRow): void {
    if (this.#held.has(row.id)) return;
    this.#held.set(row.id, row.endpoint);
    this.#heldPer.set(row.endpoint, (this.#heldPer.get(row.endpoint) ?? 0) + 1);
  }

  #unhold(row: DeliveryRow): void {
    if (!this.#held.delete(row.id)) return;
    const n = (this.#heldPer.get(row.endpoint) ?? 1) - 1;
    if (n > 0) this.#heldPer.set(row.endpoint, n);
    else this.#heldPer.delete(row.endpoint);
  }

  /** Whether new deliveries to this endpoint are handed over by the transaction that writes them. */
  handsOver(endpoint: string): boolean {
    return this.#fast.has(endpoint);
  }

  /** Endpoints that got deliveries in a transaction that has committed: looked at now. */
  track(endpoints: Iterable<string>): void {
    for (const endpoint of endpoints) this.#pending.set(endpoint, null);
    this.nudge();
  }

  /** Looks for due deliveries now (coalesced: one fetch at a time, one more if nudged meanwhile). */
  nudge(): void {
    if (this.#stopped) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = this.#pump().finally(() => (this.#pumping = null));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearInterval(this.#purgeTimer);
    await this.#purging;
    // What is in flight stays leased; the next start sends it again.
    await this.#poster.close();
    await this.#pumping;
    await Promise.allSettled([...this.#inFlight]);
  }

  async #pump(): Promise<void> {
    do {
      this.#again = false;
      try {
        if (await this.#fetchOnce()) this.#again = true;
      } catch (err) {
        if (this.#stopped) return;
        this.#log.error({ err }, 'reading due webhook deliveries failed; retrying at the next poll');
        return;
      }
    } while (this.#again && !this.#stopped);
  }

  #endpoint(key: string): Endpoint {
    let e = this.#endpoints.get(key);
    if (!e) {
      e = { active: 0, queue: [], pausedUntil: 0, step: 0, chains: new Map(), behind: 0 };
      this.#endpoints.set(key, e);
    }
    return e;
  }

  /**
   * One look at every endpoint that may have work: its due deliveries, as
   * many as it has room for (one while it is probed after a pause; none while
   * paused, busy or its subscription is disabled). Each endpoint is read on
   * its own index range, so one endpoint's backlog costs the others nothing.
   * True when a deferral found its predecessor finished (look again now).
   */
  async #fetchOnce(): Promise<boolean> {
    const now = Date.now();
    const rows: DeliveryRow[] = [];
    /** how many more each endpoint may take in this look */
    const rooms = new Map<string, number>();
    for (const [key, emptySince] of [...this.#pending]) {
      if (this.#stopped) return false;
      if (this.#fast.has(key)) {
        // Its deliveries come straight from their transactions; forgotten once idle for a while.
        if (this.#heldPer.has(key) || this.#reserved.has(key)) this.#pending.set(key, null);
        else if (emptySince === null) this.#pending.set(key, now);
        else if (now - emptySince >= FORGET_AFTER_MS) this.#forget(key);
        continue;
      }
      const subscription = this.#subscriptions.get(key);
      if (subscription && !subscription.enabled) continue;
      const e = this.#endpoints.get(key);
      if (e && e.pausedUntil > now) continue;
      const held = e ? e.active + e.queue.length : 0;
      const probing = e !== undefined && e.pausedUntil > 0;
      const room = probing ? (held === 0 ? 1 : 0) : MAX_HELD_PER_ENDPOINT - held;
      if (room <= 0) continue;
      // A probe looks at more than it takes: the oldest due row may wait behind a delivery that keeps failing, and
      // taking that predecessor every time would leave every other chain of the endpoint waiting behind it.
      const found = (await WebhookOutbox.dueFor(this.#db, key, now, probing ? PROBE_LOOK : room)).filter((r) => !this.#held.has(r.id));
      if (found.length === 0 && this.#handoff && !(e && e.pausedUntil > 0) && (await WebhookOutbox.pendingCount(this.#db, key)) === (this.#heldPer.get(key) ?? 0)) {
        // Everything pending for it is held here (or nothing is): what comes next may be handed over directly.
        this.#fast.add(key);
        this.#pending.set(key, null);
        continue;
      }
      if (found.length > 0 || held > 0) {
        this.#pending.set(key, null);
        rooms.set(key, room);
        rows.push(...found);
        continue;
      }
      if (await WebhookOutbox.hasPending(this.#db, key)) this.#pending.set(key, null);
      else if (emptySince === null) this.#pending.set(key, now);
      else if (now - emptySince >= FORGET_AFTER_MS && this.#pending.get(key) === emptySince && !(e && e.pausedUntil > 0)) this.#forget(key);
    }
    if (rows.length === 0 || this.#stopped) return false;
    // The first pending delivery of each chain (endpoint + message) is the only one that may go.
    const chains = await WebhookOutbox.chains(this.#db, [...new Set(rows.map((r) => r.order_key))]);
    const heads = new Map<string, { id: string; next_attempt_at: number; lease_until: number | null }>();
    for (const c of chains) {
      const key = `${c.endpoint}\u0000${c.order_key}`;
      const head = heads.get(key);
      if (!head || c.id < head.id) heads.set(key, c);
    }
    const take: DeliveryRow[] = [];
    const taken = new Set<string>();
    const takeRow = (row: DeliveryRow) => {
      const room = rooms.get(row.endpoint) ?? 0;
      if (room <= 0 || taken.has(row.id) || this.#held.has(row.id)) return;
      rooms.set(row.endpoint, room - 1);
      taken.add(row.id);
      take.push(row);
    };
    const defer = new Map<string, { headId: string; at: number; ids: string[] }>();
    /** due predecessors of rows that were found: they go first (a page may hold a chain's followers but not its head) */
    const dueHeads = new Set<string>();
    for (const row of rows) {
      const head = heads.get(`${row.endpoint}\u0000${row.order_key}`);
      if (head && head.id !== row.id) {
        // Not before its predecessor: due again when that one is (or sooner, when it is delivered).
        const at = head.lease_until === null ? head.next_attempt_at : Math.min(head.next_attempt_at, now + BEHIND_IN_FLIGHT_MS);
        if (at > now) {
          const wait = defer.get(head.id) ?? { headId: head.id, at, ids: [] };
          wait.ids.push(row.id);
          defer.set(head.id, wait);
        } else if (head.lease_until === null) dueHeads.add(head.id);
        continue;
      }
      takeRow(row);
    }
    const missingHeads = [...dueHeads].filter((id) => !taken.has(id) && !this.#held.has(id));
    if (missingHeads.length > 0) for (const head of await WebhookOutbox.pendingByIds(this.#db, missingHeads, now)) takeRow(head);
    if (take.length === 0 && defer.size === 0) return false;
    const leaseUntil = now + this.#options.timeoutMs + 5_000;
    const headsDone = await this.#batcher.run(async (tx) => {
      await WebhookOutbox.lease(tx, take.map((r) => r.id), leaseUntil);
      return WebhookOutbox.defer(tx, this.#dialect, [...defer.values()]);
    });
    for (const row of take) {
      const leased = { ...row, lease_until: leaseUntil };
      this.#hold(leased);
      const e = this.#endpoint(row.endpoint);
      if (!e.chains.has(row.order_key)) e.chains.set(row.order_key, []);
      e.queue.push(leased);
      this.#drain(row.endpoint);
    }
    // A predecessor that finished meanwhile: its followers are due now, look again. (An endpoint that
    // filled its room is looked at again when a slot frees: see #drain.)
    return headsDone > 0;
  }

  #forget(key: string): void {
    this.#succeededAt.delete(key);
    this.#pending.delete(key);
    this.#endpoints.delete(key);
    this.#fast.delete(key);
  }

  #drain(key: string): void {
    const e = this.#endpoints.get(key);
    if (!e) return;
    // Everything queued goes to the poster, which keeps the endpoint's limit (`concurrency`) on its own loop.
    while (!this.#stopped && e.queue.length > 0) {
      const row = e.queue.shift()!;
      e.active++;
      // The request's slot is free once its answer is in: the next one goes while the outcome is written.
      let freed = false;
      const free = () => {
        if (freed) return;
        freed = true;
        e.active--;
        const wasFull = e.active + e.queue.length + 1 >= MAX_HELD_PER_ENDPOINT;
        if (e.active === 0 && e.queue.length === 0 && e.behind === 0 && e.pausedUntil === 0) this.#endpoints.delete(key);
        else this.#drain(key);
        if (wasFull) this.nudge();
      };
      /** not attempted (SKIPPED): still held, queued again or being handed back */
      let kept = false;
      const job: Promise<void> = this.#deliver(row, free)
        .then((k) => void (kept = k))
        .catch((err: unknown) => this.#log.error({ err, delivery: row.id }, 'recording a webhook delivery failed; it is sent again when its lease ends'))
        .finally(() => {
          this.#inFlight.delete(job);
          if (!kept) this.#unhold(row);
          free();
        });
      this.#inFlight.add(job);
    }
  }

  /**
   * Sends one delivery and records the outcome; `free` gives its request slot
   * back as soon as the answer is in. True when it was not sent (another
   * request to its endpoint failed while it waited in the poster): it is then
   * queued again, or handed back if the endpoint is paused, and stays held.
   */
  async #deliver(row: DeliveryRow, free: () => void): Promise<boolean> {
    const subscription = row.webhook_id === null ? undefined : this.#subscriptions.get(row.webhook_id);
    // Deleted (its rows go with it) or disabled meanwhile: it waits, leased, until enabled or recovered.
    if (row.webhook_id !== null && (!subscription || !subscription.enabled)) return false;
    const url = subscription ? subscription.url : row.callback_url!;
    const secret = subscription ? subscription.secret : await this.#callbackSecret(row.account_id);
    const outcome = await this.#poster.post({ url, headers: signatureHeaders(secret, row.event_id, row.payload), body: row.payload, timeoutMs: this.#options.timeoutMs, endpoint: row.endpoint, limit: this.#options.concurrency });
    if (outcome === undefined) return false; // stopping: left leased for the next start
    if (outcome === SKIPPED) return this.#notSent(row);
    const followers = await this.#record(row, subscription, url, outcome, free);
    if (followers > 0) this.nudge(); // the next of its chain may go now
    return false;
  }

  /** A delivery the poster did not send: back in its endpoint's queue, or (paused meanwhile) back to the store with the others of this turn. */
  #notSent(row: DeliveryRow): boolean {
    if (this.#stopped) return false; // left leased for the next start
    const e = this.#endpoints.get(row.endpoint);
    if (e && e.pausedUntil === 0) e.queue.push(row);
    else {
      this.#unsent.push(row);
      if (this.#unsent.length === 1) setImmediate(() => this.#handBack(this.#unsent.splice(0)));
    }
    return true;
  }

  /** Writes the outcome and the log entry; returns how many later deliveries of the chain it made due. */
  async #record(row: DeliveryRow, subscription: Subscription | undefined, url: string, outcome: Outcome, free: () => void): Promise<number> {
    const o = this.#options;
    // Its own window over, and the endpoint took another delivery meanwhile: the failure is this delivery's, not the
    // endpoint's. (Deliveries that waited out an outage or a disabled subscription are kept: too few attempts of their
    // own, or no success since they were made.)
    const ownWindowOver = !outcome.ok && subscription !== undefined && Date.now() - row.created_at >= o.disableAfterMs && row.attempts + 1 >= webhookOwnAttempts(o.disableAfterMs, o.retryMaxMs);
    const refusedAlone = ownWindowOver && ((this.#succeededAt.get(row.endpoint) ?? 0) > row.created_at || (await WebhookOutbox.succeededSince(this.#db, subscription.id, row.created_at)));
    const now = Date.now();
    let nextAttemptAt: number | null = null;
    let disable: string | null = null;
    let giveUp = false;
    const e = this.#endpoint(row.endpoint);
    /** deliveries queued for the endpoint, not yet tried: they go back when it is paused */
    let unsent: DeliveryRow[] = [];
    let resumed = false;
    if (!outcome.ok) {
      const failingSince = subscription ? (subscription.failingSince ?? now) : row.created_at;
      if (!subscription && webhookUrlProblem(url, o.allowPrivateAddresses ?? true) !== undefined) {
        // A message's callback_url never changes: one refused by the address rule can never be delivered.
        giveUp = true;
      } else if (refusedAlone) {
        // Before the subscription's clock: it kept failing only because this delivery was all there was to send.
        giveUp = true;
      } else if (now - failingSince >= o.disableAfterMs) {
        if (subscription) disable = `every delivery failed since ${new Date(failingSince).toISOString()} (last: ${outcome.error}); enable it again with POST /v1/webhooks/${subscription.id}/enable`;
        else giveUp = true;
      }
      if (!giveUp && disable === null) {
        // The endpoint is failing, not this delivery: pause it (longer after each failed probe) and try one again then.
        if (e.pausedUntil <= now) {
          e.step++;
          e.pausedUntil = now + webhookRetryDelayMs(e.step, o.retryBaseMs, o.retryMaxMs);
          unsent = e.queue.splice(0);
          for (const chain of e.chains.values()) unsent.push(...chain);
          e.chains.clear();
          e.behind = 0;
          this.#fast.delete(row.endpoint);
          this.#pending.set(row.endpoint, null);
        }
        // Not before its own back-off either: one the endpoint refuses while it takes the others is not retried at every resume.
        nextAttemptAt = Math.max(e.pausedUntil, now + webhookRetryDelayMs(row.attempts + 1, o.retryBaseMs, o.retryMaxMs));
      }
    } else {
      this.#succeededAt.set(row.endpoint, now);
      if (e.pausedUntil > 0) {
        // The probe got through: everything pending for the endpoint may go again, at full speed.
        e.pausedUntil = 0;
        e.step = 0;
        resumed = true;
      }
    }
    if (outcome.ok || giveUp) {
      // The next of its chain held here goes now: its predecessor has been answered (or given up).
      const chain = e.chains.get(row.order_key);
      const next = chain?.shift();
      if (next) {
        e.behind--;
        e.queue.push(next);
      } else e.chains.delete(row.order_key);
    }
    const attempt: AttemptRow = {
      id: newId('wha', now),
      account_id: row.account_id,
      webhook_id: row.webhook_id,
      delivery_id: row.id,
      event_id: row.event_id,
      event_type: row.event_type,
      url,
      succeeded: outcome.ok ? 1 : 0,
      status_code: outcome.statusCode,
      latency_ms: outcome.latencyMs,
      response_excerpt: outcome.excerpt,
      error: outcome.error,
      next_attempt_at: nextAttemptAt,
      attempted_at: now,
    };
    const failingBefore = subscription?.failingSince ?? null;
    // The endpoint's pause (if any) is set above, before the slot is handed on.
    free();
    // A plain success (the common case) is written with the others of its event-loop turn.
    const plain = outcome.ok && !(subscription && failingBefore !== null);
    const followers = plain ? await this.#recordSuccess(row, attempt) : await this.#batcher.run(async (tx) => {
      await WebhookOutbox.logAttempts(tx, [attempt]);
      if (outcome.ok) {
        const n = await WebhookOutbox.delivered(tx, row, now);
        if (subscription && failingBefore !== null) await WebhookOutbox.setFailing(tx, subscription.id, null);
        return n;
      }
      if (subscription && failingBefore === null) await WebhookOutbox.setFailing(tx, subscription.id, now);
      await WebhookOutbox.release(tx, unsent, now);
      // Given up, it no longer holds up the rest of its chain.
      if (giveUp) return WebhookOutbox.giveUp(tx, row, now);
      // A disabled subscription keeps its pending deliveries: enabling it sends them, in order.
      await WebhookOutbox.retryAt(tx, row, nextAttemptAt ?? now);
      if (disable !== null && subscription) await WebhookOutbox.disable(tx, subscription.id, disable, now);
      return 0;
    });
    if (subscription) {
      if (outcome.ok) subscription.failingSince = null;
      else subscription.failingSince ??= now;
      if (disable !== null) {
        subscription.enabled = false;
        this.#log.warn({ webhook: subscription.id, account: row.account_id }, 'webhook disabled after failing for the whole retry window');
      }
    }
    for (const u of unsent) this.#unhold(u);
    if (resumed) this.nudge();
    if (giveUp) this.#log.warn({ delivery: row.id, account: row.account_id, webhook: row.webhook_id, attempts: row.attempts + 1 }, 'webhook delivery given up after its retry window');
    return followers;
  }

  /** Queues a success for the shared write of this event-loop turn; resolves with the followers it made due (counted once per write). */
  #recordSuccess(row: DeliveryRow, attempt: AttemptRow): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#successes.push({ row, attempt, resolve, reject });
      if (this.#successes.length > 1) return;
      setImmediate(() => {
        const batch = this.#successes.splice(0);
        this.#batcher.run((tx) => WebhookOutbox.deliveredMany(tx, batch.map((b) => b.row), batch.map((b) => b.attempt), Date.now())).then(
          (followers) => batch.forEach((b, i) => b.resolve(i === 0 ? followers : 0)),
          (err: Error) => batch.forEach((b) => b.reject(err)),
        );
      });
    });
  }

  #callbackSecret(accountId: string): Promise<string> {
    let secret = this.#callbackSecrets.get(accountId);
    if (!secret) {
      secret = this.#batcher.run((tx) => openOrMakeCallbackSecret(tx, this.#box, accountId, generateSecret));
      secret.catch(() => this.#callbackSecrets.delete(accountId));
      this.#callbackSecrets.set(accountId, secret);
    }
    return secret;
  }
}
