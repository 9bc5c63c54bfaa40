import type { Redis } from 'ioredis';

/**
 * How late a submit may leave its slot (event-loop delays, the socket, the
 * operator reading it) and still count in the second it was meant for: slots
 * are given out only in the first 1000 − GUARD_MS ms of each second.
 */
export const GUARD_MS = 300;
/** and none in the first LEAD_MS: a timer may fire a little early, or two clocks differ by a fraction of a ms */
export const LEAD_MS = 10;

// Fixed one-second windows on Redis's clock (slots from LEAD_MS to 1000 − GUARD_MS ms into each) (so the nodes' clocks do not matter): a window gives out at most
// `perSecond` submits, on a grid of slots spread evenly over its usable part; a caller gets the next free slot, in a later window if
// this one is full or its usable part is over. Slots already past are skipped, never given out late: a burst arriving
// late in a second gets only the slots still ahead, so with every window on the same grid no sliding second holds more
// than `perSecond` either (giving the past slots out at once bunched a second's worth at its end, beside the next
// second's). Returns how long to wait, ms.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local per = tonumber(ARGV[1])
local n = math.min(tonumber(ARGV[2]), per)
local usable = tonumber(ARGV[3])
local LEAD = tonumber(ARGV[4])
local win = tonumber(redis.call('HGET', KEYS[1], 'w') or '0')
local used = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
local current = math.floor(now / 1000)
if win < current then win = current; used = 0 end
local at
local step = usable / per
while true do
  local base = win * 1000 + LEAD
  if now > base + used * step then used = math.ceil((now - base) / step) end
  if used + n <= per then
    at = base + used * step
    if at <= base + usable then break end
  end
  win = win + 1
  used = 0
end
redis.call('HSET', KEYS[1], 'w', win, 'c', used + n)
redis.call('PEXPIRE', KEYS[1], 60000)
return tostring(at - now)`;

/**
 * A connector's submits per second held across every worker node: each send
 * takes its slots (one per submit) from one schedule in Redis and waits for
 * them before it submits. No second on the operator's clock sees more than
 * the limit, as long as a submit arrives within GUARD_MS of its slot; and
 * since the slots of a second are spread evenly, no sliding second does
 * either. The connector's own limiter (connectors/smpp/rate.ts) then only
 * adapts to what the SMSC takes, without the cap (spacing at the cap again on
 * a node that got a run of slots would push them late, into the next second);
 * in the embedded process it is all there is, cap included.
 */
export class ClusterSubmitRate {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(redis: Redis, prefix: string, options: { sleep?: (ms: number) => Promise<void> } = {}) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /**
   * Waits until `submits` submits through the connector keep it within
   * `perSecond` cluster-wide (0: no limit). A slot woken too late to be
   * sure of its second (a busy event loop, a slow answer from Redis) is
   * given up and another taken: a late submit would count in the next
   * second, beside that second's own.
   */
  async take(connectorId: string, perSecond: number, submits: number): Promise<void> {
    if (perSecond <= 0) return;
    for (let attempt = 0; ; attempt++) {
      const asked = Date.now();
      const wait = Number(await this.#redis.eval(TAKE, 1, `${this.#prefix}:rate:${connectorId}`, perSecond, submits, 1000 - GUARD_MS - LEAD_MS, LEAD_MS));
      // The slot is no earlier than this on our clock (Redis read its clock after `asked`): lateness is not underestimated.
      const slot = asked + Math.max(0, wait);
      if (wait > 0) await this.#sleep(Math.ceil(wait));
      if (Date.now() - slot <= LATE_MS || attempt >= MAX_RETAKES) return;
    }
  }
}

/** a slot left later than this is given up: the rest of GUARD_MS is for the way from here to the operator */
export const LATE_MS = GUARD_MS / 2;
/** slots given up in a row at most, so a node that is always late still sends (it is then too slow to hold any rate) */
const MAX_RETAKES = 10;
