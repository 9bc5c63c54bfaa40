import type { Redis } from 'ioredis';
import type { SharedStreamLimit } from '../events/live.ts';
import type { Logger } from '../log.ts';
import { REDIS_NOW, TAKE_PLACE, within } from './lease.ts';

/** Renews this node's streams of one key (ARGV: lease ms, then the stream ids), adding them back if Redis lost them: they are open. */
const RENEW = `${REDIS_NOW}
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + ttl, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return 1`;

/**
 * `stream.max_per_key` across the API nodes of a cluster, as smpp-customers.ts
 * counts a login's `max_binds`: each open stream is a member of its key's
 * sorted set (`<prefix>:streams:<key id>`), renewed by its node every third
 * of a lease and removed when it closes, so a key holds at most the limit on
 * all nodes together, and the places of a node that dies lapse within a
 * lease. If Redis does not answer within a third of a lease, the stream opens
 * on this node's own count (LiveHub's, which always applies) and is added to
 * the set once Redis answers again.
 */
export class StreamLeases implements SharedStreamLimit {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #log: Logger;
  readonly #ttlMs: number;
  /** key id → this node's open streams of it */
  readonly #held = new Map<string, Set<string>>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  /** `ttlMs`: a lease, default 5000 (`config.bindLeaseMs`, as the SMPP logins' binds) */
  constructor(redis: Redis, prefix: string, log: Logger, options: { ttlMs?: number } = {}) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#log = log;
    this.#ttlMs = options.ttlMs ?? 5000;
  }

  start(): void {
    const tick = () => {
      this.#running = this.#renew()
        .catch((err: unknown) => this.#log.warn({ err }, 'renewing the event streams\' leases failed; they are renewed again'))
        .finally(() => {
          this.#running = undefined;
          if (this.#timer) this.#timer = setTimeout(tick, this.#ttlMs / 3).unref();
        });
    };
    this.#timer = setTimeout(tick, this.#ttlMs / 3).unref();
  }

  async acquire(keyId: string, streamId: string, max: number): Promise<boolean> {
    const answer = await within(this.#redis.eval(TAKE_PLACE, 1, this.#key(keyId), streamId, this.#ttlMs, max) as Promise<number>, this.#ttlMs / 3);
    if (answer === 0) return false;
    if (answer === undefined) this.#log.warn({ key: keyId }, 'event stream leases: Redis did not answer; stream.max_per_key counted on this node only');
    const mine = this.#held.get(keyId) ?? new Set<string>();
    mine.add(streamId);
    this.#held.set(keyId, mine);
    return true;
  }

  /** The stream closed: its place is free at once. */
  release(keyId: string, streamId: string): void {
    const mine = this.#held.get(keyId);
    mine?.delete(streamId);
    if (mine?.size === 0) this.#held.delete(keyId);
    void within(this.#redis.zrem(this.#key(keyId), streamId), this.#ttlMs);
  }

  /** Stops renewing (after the streams have ended and given their places back); what is left lapses. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await within(this.#running, this.#ttlMs);
  }

  async #renew(): Promise<void> {
    for (const [keyId, mine] of this.#held) await within(this.#redis.eval(RENEW, 1, this.#key(keyId), this.#ttlMs, ...mine), this.#ttlMs / 3);
  }

  #key(keyId: string): string {
    return `${this.#prefix}:streams:${keyId}`;
  }
}
