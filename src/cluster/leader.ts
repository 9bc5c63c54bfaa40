import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface LeaderOptions {
  /** how long the lock outlives its holder's last renewal, default 5000 ms */
  ttlMs?: number;
  /** became the leader: start the work */
  onAcquire: () => Promise<void>;
  /** no longer the leader (the lock lapsed or the node stops): stop the work */
  onLose: () => Promise<void>;
}

/**
 * One holder in the cluster at a time: a Redis key set with NX and a TTL,
 * renewed every third of the TTL by its holder only. A holder that cannot renew
 * (it stalled, or Redis is away) stops its work; another takes over once the
 * key lapses. The work it guards is claim-based as well, so the short overlap a
 * stalled holder may cause costs duplicates of checks, never of sends.
 */
export class LeaderLock {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #token = randomUUID();
  readonly #ttlMs: number;
  readonly #options: LeaderOptions;
  readonly #log: Logger;
  #leader = false;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(redis: Redis, key: string, log: Logger, options: LeaderOptions) {
    this.#redis = redis;
    this.#key = key;
    this.#log = log;
    this.#ttlMs = options.ttlMs ?? 5000;
    this.#options = options;
  }

  get leader(): boolean {
    return this.#leader;
  }

  start(): void {
    const loop = () => {
      this.#running = this.#tick().finally(() => {
        this.#running = undefined;
        if (!this.#stopped) this.#timer = setTimeout(loop, this.#ttlMs / 3);
      });
    };
    loop();
  }

  async #tick(): Promise<void> {
    let holds: boolean;
    try {
      holds = this.#leader
        ? (await this.#redis.eval(RENEW, 1, this.#key, this.#token, this.#ttlMs)) === 1
        : (await this.#redis.set(this.#key, this.#token, 'PX', this.#ttlMs, 'NX')) === 'OK';
    } catch (err) {
      this.#log.warn({ err }, 'leader lock: Redis did not answer');
      holds = false;
    }
    if (this.#stopped) return;
    if (holds && !this.#leader) {
      this.#leader = true;
      this.#log.info({ key: this.#key }, 'this node leads the scheduled work');
      await this.#options.onAcquire().catch((err: unknown) => this.#log.error({ err }, 'starting the scheduled work failed'));
    } else if (!holds && this.#leader) {
      this.#leader = false;
      this.#log.warn({ key: this.#key }, 'this node no longer leads the scheduled work');
      await this.#options.onLose().catch((err: unknown) => this.#log.error({ err }, 'stopping the scheduled work failed'));
    }
  }

  /** Stops the work if this node leads it and frees the lock at once, so a successor need not wait out the TTL. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    if (!this.#leader) return;
    this.#leader = false;
    await this.#options.onLose();
    await this.#redis.eval(RELEASE, 1, this.#key, this.#token).catch(() => {});
  }
}
