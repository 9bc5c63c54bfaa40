import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { within } from './lease.ts';

/**
 * Lua: {1} when this token holds the key now (set, or still its own and its
 * TTL renewed), else {0, the key's remaining TTL in ms}.
 */
const ACQUIRE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return {1} end
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return {1} end
return {0, redis.call('PTTL', KEYS[1])}`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface LeaderOptions {
  /** how long the lock outlives its holder's last renewal, default 5000 ms */
  ttlMs?: number;
  /** how often a node that does not lead tries the lock at most (it also tries the moment the holder's TTL runs out), default 250 ms */
  followMs?: number;
  /** became the leader: start the work */
  onAcquire: () => Promise<void>;
  /** no longer the leader (the lock lapsed, Redis stopped answering, or the node stops): stop the work */
  onLose: () => Promise<void>;
}

/**
 * One holder in the cluster at a time: a Redis key set with NX and a TTL,
 * renewed every third of the TTL by its holder only, on a timer of its own
 * (starting or stopping the work never delays a renewal). A holder that has
 * not renewed for two thirds of the TTL (Redis refused, did not answer, or
 * the node stalled) stops its work, a third of the TTL before the key can
 * lapse; another node takes over the moment it lapses: a node that does not
 * lead asks again when the holder's TTL runs out, and every `followMs` besides,
 * so the lock passes on within the TTL of its holder's death and within
 * `followMs` of its release. The work it guards is claim-based as well, so the
 * short overlap a stalled holder may still cause costs duplicates of checks,
 * never of sends (webhooks, at least once, may go twice).
 */
export class LeaderLock {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #token = randomUUID();
  readonly #ttlMs: number;
  readonly #followMs: number;
  readonly #options: LeaderOptions;
  readonly #log: Logger;
  #leader = false;
  #timer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  /** the work's starts and stops, one after another */
  #transitions: Promise<void> = Promise.resolve();
  #stopped = false;
  #warned = false;
  /** the lock is being freed after a failed start: not asked for again meanwhile */
  #releasing = false;

  constructor(redis: Redis, key: string, log: Logger, options: LeaderOptions) {
    this.#redis = redis;
    this.#key = key;
    this.#log = log;
    this.#ttlMs = options.ttlMs ?? 5000;
    this.#followMs = Math.min(options.followMs ?? 250, this.#ttlMs / 3);
    this.#options = options;
  }

  get leader(): boolean {
    return this.#leader;
  }

  start(): void {
    this.#schedule(0);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#tick()
        .catch((err: unknown) => {
          this.#log.error({ err }, 'leader lock: a round failed');
          this.#schedule(this.#followMs);
        })
        .finally(() => (this.#running = undefined));
    }, ms);
  }

  async #tick(): Promise<void> {
    const asked = Date.now();
    const wait = this.#ttlMs / 3;
    if (this.#leader) {
      const renewed = await within(this.#redis.eval(RENEW, 1, this.#key, this.#token, this.#ttlMs) as Promise<number>, wait);
      if (this.#stopped) return;
      if (renewed === 1) this.#held(asked);
      else if (renewed === 0) {
        this.#warned = false;
        this.#lose('another node holds the lock');
      }
      // No answer: tried again at the next round; the watchdog stops the work if none comes in time.
      else this.#warn('leader lock: Redis did not answer the renewal');
      this.#schedule(Math.max(0, asked + wait - Date.now()));
      return;
    }
    if (this.#releasing) {
      this.#schedule(this.#followMs);
      return;
    }
    const answer = await within(this.#redis.eval(ACQUIRE, 1, this.#key, this.#token, this.#ttlMs) as Promise<number[]>, wait);
    if (this.#stopped) return;
    if (answer?.[0] === 1) {
      this.#held(asked);
      this.#leader = true;
      this.#log.info({ key: this.#key }, 'this node leads the scheduled work');
      this.#transitions = this.#transitions.then(() => this.#options.onAcquire()).catch((err: unknown) => {
        // Leading without the work would leave it undone: what started is stopped, the lock freed, and taken again later.
        this.#log.error({ err }, 'starting the scheduled work failed; the lead is given up and tried again');
        if (this.#leader && !this.#stopped) this.#lose('starting the scheduled work failed', true);
      });
      this.#schedule(Math.max(0, asked + wait - Date.now()));
      return;
    }
    if (answer) this.#warned = false;
    else this.#warn('leader lock: Redis did not answer');
    // Held by another: asked again the moment its TTL runs out, or sooner (a holder that stops frees the lock at once).
    // (A key without a TTL, -1, is not this lock's doing: asked after followMs like any.)
    const ttlLeft = answer !== undefined && answer[1]! > 0 ? answer[1]! : this.#followMs;
    this.#schedule(Math.min(this.#followMs, Math.max(1, ttlLeft + 1)));
  }

  /** The lock is this node's until at least a TTL after `asked`: the work stops if no renewal comes within two thirds of it. */
  #held(asked: number): void {
    this.#warned = false;
    clearTimeout(this.#watchdog);
    this.#watchdog = setTimeout(() => {
      if (this.#leader && !this.#stopped) this.#lose('the lock was not renewed in time');
    }, Math.max(0, asked + (this.#ttlMs * 2) / 3 - Date.now()));
  }

  /** Stops the work; `release`: frees the lock once the work has stopped (it is still this node's). */
  #lose(why: string, release = false): void {
    clearTimeout(this.#watchdog);
    this.#leader = false;
    this.#releasing ||= release;
    this.#log.warn({ key: this.#key, why }, 'this node no longer leads the scheduled work');
    this.#transitions = this.#transitions
      .then(() => this.#options.onLose())
      .catch((err: unknown) => this.#log.error({ err }, 'stopping the scheduled work failed'))
      .then(async () => {
        if (!release) return;
        await within(this.#redis.eval(RELEASE, 1, this.#key, this.#token), this.#ttlMs);
        this.#releasing = false;
      });
  }

  #warn(what: string): void {
    if (this.#warned) return;
    this.#warned = true;
    this.#log.warn({ key: this.#key }, what);
  }

  /**
   * Stops the work if this node leads it and frees the lock at once, so a
   * successor need not wait out the TTL. While the work stops (which may take
   * longer than the TTL on a loaded machine) the key is still renewed: no
   * other node leads beside work that is still stopping, and the release
   * finds the key this node's. Resolves with whether it led and whether the
   * key was freed; a leader logs either way ('this node gave the lead back',
   * or a warning when the key was no longer its own: Redis away, or it lapsed).
   */
  async stop(): Promise<{ led: boolean; released: boolean }> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await within(this.#running, this.#ttlMs);
    clearTimeout(this.#watchdog);
    const led = this.#leader;
    let keep: NodeJS.Timeout | undefined;
    if (this.#leader) {
      this.#leader = false;
      keep = setInterval(() => void within(this.#redis.eval(RENEW, 1, this.#key, this.#token, this.#ttlMs) as Promise<number>, this.#ttlMs / 3), this.#ttlMs / 3);
      this.#transitions = this.#transitions.then(() => this.#options.onLose());
    }
    let released = false;
    try {
      await this.#transitions;
    } finally {
      clearInterval(keep);
      // Also when it does not lead now: an acquire answered after the stop began, or a lapse Redis was slow to tell, left it this node's.
      released = (await within(this.#redis.eval(RELEASE, 1, this.#key, this.#token), this.#ttlMs)) === 1;
      if (led && released) this.#log.info({ key: this.#key }, 'this node gave the lead back');
      else if (led) this.#log.warn({ key: this.#key }, 'this node stopped leading, but the lock was no longer its own to give back (Redis did not answer, or the key lapsed): the next leader takes it when it lapses');
    }
    return { led, released };
  }
}
