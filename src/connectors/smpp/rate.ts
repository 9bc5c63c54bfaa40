/**
 * How fast a connector may submit. A hard cap (`max_submits_per_second`,
 * 0 = none) plus an adaptive limit that follows what the SMSC accepts: in a
 * measuring interval where more than a tenth of the submits got temporary
 * errors (throttled, queue full, system error), the limit becomes the rate
 * the SMSC did accept in it, plus a probe margin (never less than half the
 * limit before); after an interval with fewer, it grows again until it no
 * longer binds. An SMSC that caps at R settles the limit just above R; an
 * SMSC that refuses a few submits at random does not move it (those messages
 * are retried), so the connector neither hammers an overloaded SMSC nor
 * collapses to a crawl on noise, as a fixed pause per throttle would.
 */
export interface AdaptiveRateOptions {
  /** submits per second at most; 0: no hard cap */
  maxPerSecond: number;
  /** measuring interval, default 250 ms */
  intervalMs?: number;
  /** headroom over the accepted rate after a throttled interval, default 0.1 (10 %) */
  probe?: number;
  /** growth per clean interval, default 0.25 (25 %) */
  growth?: number;
  /** the adaptive limit never goes below this, default 1/s */
  floorPerSecond?: number;
  /** a share of refusals in an interval at or below this is noise and changes nothing, default 0.1 */
  noiseShare?: number;
  now?: () => number;
}

export class AdaptiveRate {
  readonly #cap: number;
  readonly #intervalMs: number;
  readonly #probe: number;
  readonly #growth: number;
  readonly #floor: number;
  readonly #noise: number;
  readonly #now: () => number;
  /** the adaptive limit; Infinity while nothing has been throttled */
  #limit = Infinity;
  #intervalStart: number;
  #accepted = 0;
  #refused = 0;
  /** earliest time the next submit may go (spacing by the effective rate) */
  #nextAt = 0;

  constructor(options: AdaptiveRateOptions) {
    this.#cap = options.maxPerSecond > 0 ? options.maxPerSecond : Infinity;
    this.#intervalMs = options.intervalMs ?? 250;
    this.#probe = options.probe ?? 0.1;
    this.#growth = options.growth ?? 0.25;
    this.#floor = options.floorPerSecond ?? 1;
    this.#noise = options.noiseShare ?? 0.1;
    this.#now = options.now ?? Date.now;
    this.#intervalStart = this.#now();
  }

  /** submits per second allowed now (Infinity: unlimited) */
  get perSecond(): number {
    return Math.min(this.#cap, this.#limit);
  }

  /** Reserves the next slot; returns how many ms to wait before submitting (0: go now). */
  reserve(): number {
    this.#roll();
    const rate = this.perSecond;
    if (rate === Infinity) return 0;
    const now = this.#now();
    const at = Math.max(now, this.#nextAt);
    this.#nextAt = at + 1000 / rate;
    return at - now;
  }

  /** Counts the SMSC's answer to a submit: accepted, or refused with a temporary error. */
  record(outcome: 'accepted' | 'temporary_error'): void {
    this.#roll();
    if (outcome === 'accepted') this.#accepted++;
    else this.#refused++;
  }

  #roll(): void {
    const now = this.#now();
    const elapsed = now - this.#intervalStart;
    if (elapsed < this.#intervalMs) return;
    const offered = ((this.#accepted + this.#refused) * 1000) / elapsed;
    // A few refusals at random are noise (the messages are retried); a large share means we
    // are above what the SMSC takes, and only then does the limit come down. A handful of
    // answers is too few to tell (one refusal in three would otherwise drop it to a crawl).
    const refusedShare = this.#refused / Math.max(1, this.#accepted + this.#refused);
    if (this.#refused >= 5 && refusedShare > this.#noise) {
      const acceptedPerSecond = (this.#accepted * 1000) / elapsed;
      // Never more than halve in one interval: an SMSC that refuses everything for a moment
      // (a burst allowance used up) must not drop the limit to the floor at once.
      const half = Math.min(this.#limit, offered) / 2;
      this.#limit = Math.max(this.#floor, acceptedPerSecond * (1 + this.#probe), half);
    } else if (this.#limit !== Infinity) {
      this.#limit *= 1 + this.#growth;
      // Once it no longer binds (above the cap, or far above what is offered), drop it.
      if (this.#limit >= this.#cap || (offered > 0 && this.#limit > offered * 4)) this.#limit = Infinity;
    }
    this.#intervalStart = now;
    this.#accepted = 0;
    this.#refused = 0;
  }
}
