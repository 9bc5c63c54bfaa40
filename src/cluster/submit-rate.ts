import type { Redis } from 'ioredis';

// The next free submit slot of a connector (ms, on Redis's clock, so the nodes' clocks do not matter):
// a caller takes the slot at max(now, next) and moves next on by its submits' share of a second.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local nextAt = tonumber(redis.call('GET', KEYS[1]) or '0')
local at = math.max(now, nextAt)
redis.call('SET', KEYS[1], string.format('%.3f', at + tonumber(ARGV[1])), 'PX', 60000)
return tostring(at - now)`;

/**
 * How late a submit may leave its slot (event-loop delays, the socket, the
 * operator reading it) and still not break the limit in any second the
 * operator counts: slots are spaced so that a second and this much more holds
 * at most the limit. At 40/s that spaces them 26.9 ms apart instead of 25 ms.
 */
export const JITTER_MS = 50;

/** The spacing of one connector's submit slots, ms. */
export function slotMs(perSecond: number): number {
  return perSecond <= 1 ? 1000 + JITTER_MS : (1000 + JITTER_MS) / (perSecond - 1);
}

/**
 * A connector's submits per second held across every worker node: each send
 * takes its slots from one schedule in Redis (a virtual-time token bucket
 * without burst) and waits for them before it submits. The connector's own
 * limiter (connectors/smpp/rate.ts) still spaces and adapts on each node, and
 * is all there is in the embedded single process.
 */
export class ClusterSubmitRate {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  /** Waits until `submits` submits through the connector keep it within `perSecond` cluster-wide (0: no limit). */
  async take(connectorId: string, perSecond: number, submits: number): Promise<void> {
    if (perSecond <= 0) return;
    const wait = Number(await this.#redis.eval(TAKE, 1, `${this.#prefix}:rate:${connectorId}`, submits * slotMs(perSecond)));
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
