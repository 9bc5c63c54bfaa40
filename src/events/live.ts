import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import { decodeTime } from 'ulid';
import type { MessageStatus } from '../domain/statuses.ts';
import type { EventBus, StatusChange } from './bus.ts';

/**
 * A figure that changes as it goes (a mailing's progress), for the streams
 * that asked for it: not stored and not resumable (no event id), and only the
 * latest per `key` waits for a stream, so it never piles up. `text` is the
 * SSE event as written; a stream skips one whose `digest` it wrote last for the same key.
 */
export interface LiveProgress {
  accountId: string;
  /** what the figure is of (a mailing id): a newer one replaces one not yet written */
  key: string;
  /** the figures themselves (not when they were read): equal digests, nothing new */
  digest: string;
  text: string;
  /** the last for its key (the run stopped): the stream forgets the key once written */
  final: boolean;
}

/**
 * A limit of open streams per key that holds across processes (the nodes of a
 * cluster): each stream holds a place while it is open.
 */
export interface SharedStreamLimit {
  /** takes a place for `streamId` of `keyId`; false when the key holds `max` places already */
  acquire(keyId: string, streamId: string, max: number): Promise<boolean>;
  /** gives the stream's place back */
  release(keyId: string, streamId: string): void;
}

export interface LiveHubOptions {
  /** open streams one API key may hold, default 10 */
  maxPerKey?: number;
  /** live changes one stream may have waiting to be written before it is dropped, default 10,000 */
  maxQueued?: number;
}

/**
 * Live subscribers of the event bus: each open stream (`GET /v1/events/stream`)
 * gets the committed status changes of its account, in the order the bus
 * publishes them, in a bounded queue of its own. The hub subscribes to the bus
 * once and fans out by account, so a change costs one map lookup however many
 * accounts have streams open. A stream whose queue overflows is marked and
 * ended by its writer: the client resumes with `Last-Event-ID`, nothing is lost.
 */
export class LiveHub {
  readonly #byAccount = new Map<string, Set<LiveSubscription>>();
  readonly #perKey = new Map<string, number>();
  readonly #maxPerKey: number;
  readonly #maxQueued: number;
  readonly #off: () => void;
  #shared: SharedStreamLimit | undefined;
  /** closeAll was called (shutdown): a stream that opens while its lease was asked for ends at once */
  #closed = false;

  constructor(bus: EventBus, options: LiveHubOptions = {}) {
    this.#maxPerKey = options.maxPerKey ?? 10;
    this.#maxQueued = options.maxQueued ?? 10_000;
    // The changes of one commit are published by several units, not in id order; a turn's worth is
    // gathered and sorted, so a stream carries ids in commit order and Last-Event-ID is a true position.
    let turn: StatusChange[] = [];
    const fanOut = () => {
      const changes = turn.sort((a, b) => (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
      turn = [];
      let forAccount: Map<string, StatusChange[]> | undefined;
      for (const c of changes) {
        if (!this.#byAccount.has(c.accountId)) continue;
        forAccount ??= new Map();
        const list = forAccount.get(c.accountId) ?? [];
        list.push(c);
        forAccount.set(c.accountId, list);
      }
      if (!forAccount) return;
      for (const [accountId, list] of forAccount) for (const sub of this.#byAccount.get(accountId) ?? []) sub.push(list);
    };
    this.#off = bus.onStatus((changes) => {
      if (this.#byAccount.size === 0) return;
      if (turn.length === 0) setImmediate(fanOut);
      for (const c of changes) turn.push(c);
    });
  }

  /** streams open now */
  get size(): number {
    let n = 0;
    for (const set of this.#byAccount.values()) n += set.size;
    return n;
  }

  get maxPerKey(): number {
    return this.#maxPerKey;
  }

  /**
   * Streams per key held across the nodes of a cluster (cluster/stream-leases.ts): from now on a
   * stream opens only once it holds a place there too, and gives it back when it ends.
   */
  shareLimit(limit: SharedStreamLimit): void {
    this.#shared = limit;
  }

  /**
   * Opens a subscription for the account's changes (only `statuses`, when
   * given), and its progress figures when `progress` is set; changes are
   * queued from the moment it resolves. Undefined when the key already holds
   * `maxPerKey` streams (here, or with a shared limit, on all nodes together).
   */
  async open(accountId: string, keyId: string, options: OpenOptions = {}): Promise<LiveSubscription | undefined> {
    const held = this.#perKey.get(keyId) ?? 0;
    if (held >= this.#maxPerKey) return undefined;
    // Counted here before the shared limit answers, so two opens of one node cannot both pass on one place.
    this.#perKey.set(keyId, held + 1);
    const leave = () => {
      const n = (this.#perKey.get(keyId) ?? 1) - 1;
      if (n > 0) this.#perKey.set(keyId, n);
      else this.#perKey.delete(keyId);
    };
    const shared = this.#shared;
    const streamId = randomUUID();
    if (shared && !(await shared.acquire(keyId, streamId, this.#maxPerKey))) {
      leave();
      return undefined;
    }
    const set = this.#byAccount.get(accountId) ?? new Set();
    this.#byAccount.set(accountId, set);
    const sub = new LiveSubscription(accountId, keyId, this.#maxQueued, options, () => {
      set.delete(sub);
      if (set.size === 0 && this.#byAccount.get(accountId) === set) this.#byAccount.delete(accountId);
      leave();
      shared?.release(keyId, streamId);
    });
    set.add(sub);
    if (this.#closed) sub.end('shutting_down');
    return sub;
  }

  /** The API keys with a stream open here, by account (what a check for revoked keys looks at). */
  apiKeysOpen(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const [accountId, set] of this.#byAccount) {
      for (const sub of set) {
        if (!sub.apiKey) continue;
        const keys = out.get(accountId) ?? new Set();
        keys.add(sub.keyId);
        out.set(accountId, keys);
      }
    }
    return out;
  }

  /** Ends the streams the account's API key holds here (it was revoked): each writer sends `reason` and closes. */
  endKey(accountId: string, keyId: string, reason: DropReason): void {
    for (const sub of [...(this.#byAccount.get(accountId) ?? [])]) if (sub.apiKey && sub.keyId === keyId) sub.end(reason);
  }

  /** The accounts with a stream open that asked for progress figures (what a progress feed looks at). */
  progressAccounts(): string[] {
    const out: string[] = [];
    for (const [accountId, set] of this.#byAccount) {
      for (const sub of set) {
        if (sub.wantsProgress) {
          out.push(accountId);
          break;
        }
      }
    }
    return out;
  }

  /** Hands progress figures to the streams of their account that asked for them. */
  pushProgress(items: readonly LiveProgress[]): void {
    for (const p of items) for (const sub of this.#byAccount.get(p.accountId) ?? []) sub.pushProgress(p);
  }

  /** Ends every stream (shutdown): each writer sends its reason and closes. */
  closeAll(reason: DropReason): void {
    this.#closed = true;
    for (const set of [...this.#byAccount.values()]) for (const sub of [...set]) sub.end(reason);
  }

  stop(): void {
    this.closeAll('shutting_down');
    this.#off();
  }
}

/**
 * Why the server ended a stream: the client fell behind, the gateway is
 * stopping, the cabinet session that opened it ended, or the API key that
 * opened it was revoked.
 */
export type DropReason = 'slow_consumer' | 'shutting_down' | 'session_ended' | 'key_revoked';

/** What a stream asks for, and what opened it. */
export interface OpenOptions {
  /** only changes to these statuses; undefined: all */
  statuses?: ReadonlySet<MessageStatus> | undefined;
  /** the account's mailing progress figures too, default false */
  progress?: boolean;
  /** opened with an API key (not a cabinet session): revoking the key ends it (`apiKeysOpen`, `endKey`), default false */
  apiKey?: boolean;
}

/** One open stream's queue of live changes. */
export class LiveSubscription {
  readonly accountId: string;
  /** the API key (or, for a cabinet session, the user) that opened it */
  readonly keyId: string;
  /** opened with an API key */
  readonly apiKey: boolean;
  /** the stream asked for progress figures */
  readonly wantsProgress: boolean;
  readonly #maxQueued: number;
  readonly #statuses: ReadonlySet<MessageStatus> | undefined;
  readonly #onClose: () => void;
  #queue: StatusChange[] = [];
  /** the latest figure per key not yet written */
  readonly #progress = new Map<string, LiveProgress>();
  /** the digest last written per key, so an unchanged figure is not written again */
  readonly #written = new Map<string, string>();
  #wake: (() => void) | undefined;
  #ended: DropReason | 'closed' | undefined;
  readonly #endListeners = new Set<() => void>();

  constructor(accountId: string, keyId: string, maxQueued: number, options: OpenOptions, onClose: () => void) {
    this.accountId = accountId;
    this.keyId = keyId;
    this.apiKey = options.apiKey ?? false;
    this.wantsProgress = options.progress ?? false;
    this.#maxQueued = maxQueued;
    this.#statuses = options.statuses;
    this.#onClose = onClose;
  }

  /** the reason the stream must end, once there is one */
  get ended(): DropReason | 'closed' | undefined {
    return this.#ended;
  }

  push(changes: StatusChange[]): void {
    if (this.#ended) return;
    for (const c of changes) if (!this.#statuses || this.#statuses.has(c.status)) this.#queue.push(c);
    // The writer cannot keep up (the client does not read): end it rather than buffer without bound.
    if (this.#queue.length > this.#maxQueued) this.end('slow_consumer');
    this.#signal();
  }

  /** A progress figure for this stream: it replaces the one of its key still waiting; one the stream wrote last is dropped. */
  pushProgress(p: LiveProgress): void {
    if (this.#ended || !this.wantsProgress || p.accountId !== this.accountId) return;
    if (this.#written.get(p.key) === p.digest) {
      this.#progress.delete(p.key);
      if (p.final) this.#written.delete(p.key);
      return;
    }
    this.#progress.set(p.key, p);
    this.#signal();
  }

  /** Takes the progress figures waiting (the latest of each key), counting them as written. */
  takeProgress(): LiveProgress[] {
    if (this.#progress.size === 0) return [];
    const out = [...this.#progress.values()];
    this.#progress.clear();
    for (const p of out) {
      if (p.final) this.#written.delete(p.key);
      else this.#written.set(p.key, p.digest);
    }
    return out;
  }

  /** Takes what is queued; waits up to `ms` when nothing is (neither changes nor progress figures). */
  async take(ms: number): Promise<StatusChange[]> {
    if (this.#queue.length === 0 && this.#progress.size === 0 && !this.#ended) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#wake = undefined;
          resolve();
        }, ms);
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
      });
    }
    const out = this.#queue;
    this.#queue = [];
    return out;
  }

  /** Marks the stream ended (the first reason wins) and leaves the hub. */
  end(reason: DropReason | 'closed'): void {
    if (this.#ended) return;
    this.#ended = reason;
    this.#queue = [];
    this.#progress.clear();
    this.#onClose();
    for (const listener of this.#endListeners) listener();
    this.#endListeners.clear();
    this.#signal();
  }

  /** Calls `listener` once the stream has a reason to end; returns the way to stop listening. */
  onEnd(listener: () => void): () => void {
    if (this.#ended) {
      listener();
      return () => {};
    }
    this.#endListeners.add(listener);
    return () => void this.#endListeners.delete(listener);
  }

  #signal(): void {
    this.#wake?.();
  }
}

export interface StreamOptions {
  /** the last event id the client has: replay what came after it first */
  lastEventId?: string | undefined;
  /** the account's stored events after an id, oldest first, at most `limit` */
  replay: (afterId: string, limit: number) => Promise<StatusChange[]>;
  /** one event as SSE text (`id:`, `event:`, `data:` lines and the blank line) */
  format: (change: StatusChange) => string;
  /** the farewell event for a stream the server ends */
  farewell: (reason: DropReason) => string;
  keepAliveMs: number;
  /** the client's reconnection delay (`retry:`), default 3000 ms */
  retryMs?: number;
  /** a write that waits this long for the client to read ends the stream, default 60 s */
  stallMs?: number;
  /** replayed events per read, default 500 */
  replayPage?: number;
}

/**
 * Writes one SSE stream until the client goes or the server ends it: the
 * stored events after `Last-Event-ID` first, then the live ones. Live changes
 * are queued from the moment the subscription opened, before the replay
 * starts, and those the replay already wrote are skipped (ids grow in commit
 * order), so the seam has neither a gap nor a duplicate. Every write respects
 * back-pressure. Resolves with why the stream ended.
 */
export async function writeStream(sub: LiveSubscription, out: Writable, options: StreamOptions): Promise<DropReason | 'closed'> {
  const stallMs = options.stallMs ?? 60_000;
  const onClose = () => sub.end('closed');
  out.once('close', onClose);
  out.once('error', onClose);

  /** false when the stream must end (the client is gone, or it stopped reading) */
  const write = async (text: string): Promise<boolean> => {
    if (sub.ended) return false;
    if (out.write(text)) return true;
    const drained = await new Promise<boolean>((resolve) => {
      let offEnd = () => {};
      const done = (ok: boolean) => {
        clearTimeout(timer);
        out.off('drain', onDrain);
        out.off('close', onGone);
        offEnd();
        resolve(ok);
      };
      const onDrain = () => done(true);
      const onGone = () => done(false);
      const timer = setTimeout(() => done(false), stallMs);
      out.on('drain', onDrain);
      out.on('close', onGone);
      // The queue overflowing while this write waits ends the stream too.
      offEnd = sub.onEnd(onGone);
    });
    if (!drained && !sub.ended) sub.end('slow_consumer');
    return drained && !sub.ended;
  };

  try {
    if (!(await write(`retry: ${options.retryMs ?? 3000}\n: connected\n\n`))) return finish();
    const seam = options.lastEventId === undefined ? undefined : new Seam(options.lastEventId);
    if (seam) {
      const page = options.replayPage ?? 500;
      for (;;) {
        const rows = await options.replay(seam.upTo, page);
        if (rows.length > 0 && !(await write(rows.map(options.format).join('')))) return finish();
        for (const c of rows) seam.replayed(c.eventId);
        if (rows.length < page) break;
      }
    }
    for (;;) {
      const changes = await sub.take(options.keepAliveMs);
      if (sub.ended) return finish();
      // Progress figures (no event id) go after the changes that came with them: they never stand between a replay and its seam.
      const progress = sub.takeProgress();
      if (changes.length === 0 && progress.length === 0) {
        if (!(await write(': keep-alive\n\n'))) return finish();
        continue;
      }
      let text = '';
      for (const c of changes) if (!seam || seam.isNew(c.eventId)) text += options.format(c);
      for (const p of progress) text += p.text;
      if (text !== '' && !(await write(text))) return finish();
    }
  } catch (err) {
    sub.end('closed');
    out.destroy(err as Error);
    return 'closed';
  }

  function finish(): DropReason | 'closed' {
    out.off('close', onClose);
    out.off('error', onClose);
    const reason = sub.ended ?? 'closed';
    sub.end(reason);
    if (reason !== 'closed' && !out.destroyed) {
      // Said once; a client that reads nothing never hears it, so the connection goes soon after.
      out.end(options.farewell(reason));
      setTimeout(() => out.destroy(), 1000).unref();
    }
    return reason;
  }
}

/**
 * Where the replay meets the live queue. Live changes at or below the last
 * replayed id were written by the replay, with one exception: an event whose
 * transaction committed after the replay read past its id (PostgreSQL runs the
 * delivery thread's transactions side by side, so ids can commit out of order
 * by milliseconds). The ids replayed in the last few seconds before the
 * high-water mark are kept, so such a late event still goes out, and once.
 */
class Seam {
  static readonly WINDOW_MS = 2000;
  upTo: string;
  readonly #resumedAfter: string;
  readonly #recent = new Set<string>();
  readonly #order: string[] = [];

  constructor(lastEventId: string) {
    this.upTo = lastEventId;
    this.#resumedAfter = lastEventId;
  }

  replayed(id: string): void {
    this.upTo = id;
    this.#recent.add(id);
    this.#order.push(id);
    const oldest = Seam.#time(id) - Seam.WINDOW_MS;
    while (this.#order.length > 0 && Seam.#time(this.#order[0]!) < oldest) this.#recent.delete(this.#order.shift()!);
  }

  /** true when a live change has not been written by the replay and the client does not have it */
  isNew(id: string): boolean {
    if (id > this.upTo) return true;
    if (id <= this.#resumedAfter || this.#recent.has(id)) return false;
    // Older than the window: it was replayed (its id is no longer kept).
    return Seam.#time(id) >= Seam.#time(this.upTo) - Seam.WINDOW_MS;
  }

  static #time(id: string): number {
    try {
      return decodeTime(id.slice(id.indexOf('_') + 1));
    } catch {
      return 0;
    }
  }
}
