/**
 * Requests per API key in fixed one-second windows, kept in this process's
 * memory. Every answer carries `RateLimit-Limit`, `RateLimit-Remaining` and
 * `RateLimit-Reset` (seconds until the window ends).
 */
export class RateLimiter {
  readonly #limit: number;
  #window = 0;
  #counts = new Map<string, number>();

  /** @param perSecond requests one key may make per second */
  constructor(perSecond: number) {
    this.#limit = perSecond;
  }

  /** Counts one request; `allowed` is false once the key has used up its window. */
  take(key: string, now = Date.now()): { allowed: boolean; limit: number; remaining: number; resetSeconds: number } {
    const window = Math.floor(now / 1000);
    if (window !== this.#window) {
      this.#window = window;
      this.#counts = new Map();
    }
    const used = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.set(key, used);
    const resetSeconds = Math.max(1, Math.ceil(((window + 1) * 1000 - now) / 1000));
    return { allowed: used <= this.#limit, limit: this.#limit, remaining: Math.max(0, this.#limit - used), resetSeconds };
  }
}
