import type { Redis } from 'ioredis';
import { within } from './lease.ts';

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
// second's). Returns how long to wait, ms, and the schedule's state before and after the booking (window, count): a
// stopping node gives back the bookings it did not use (RELEASE) while they are the last ones made.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local per = tonumber(ARGV[1])
local n = math.min(tonumber(ARGV[2]), per)
local usable = tonumber(ARGV[3])
local LEAD = tonumber(ARGV[4])
local win = tonumber(redis.call('HGET', KEYS[1], 'w') or '0')
local used = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
local before_w, before_c = win, used
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
return {tostring(at - now), tostring(before_w), tostring(before_c), tostring(win), tostring(used + n)}`;

// The schedule is one pointer (window, count: the next free slot), so a booking can be given back only while nothing
// was booked after it: the pointer goes back from a booking's after-state to its before-state, then on over the
// node's other unused bookings that end where it now is. A booking another node made after them keeps them (they are
// not reused: those slots go unused, as before). ARGV: how many bookings, then each's before w, c and after w, c.
// Returns how many were given back.
const RELEASE = `
local w = tonumber(redis.call('HGET', KEYS[1], 'w') or '-1')
local c = tonumber(redis.call('HGET', KEYS[1], 'c') or '-1')
local n = tonumber(ARGV[1])
local done = {}
local freed = 0
local moved = true
while moved do
  moved = false
  for i = 0, n - 1 do
    if not done[i] and tonumber(ARGV[4 + i * 4]) == w and tonumber(ARGV[5 + i * 4]) == c then
      w = tonumber(ARGV[2 + i * 4])
      c = tonumber(ARGV[3 + i * 4])
      done[i] = true
      freed = freed + 1
      moved = true
    end
  end
end
if freed > 0 then
  redis.call('HSET', KEYS[1], 'w', w, 'c', c)
  redis.call('PEXPIRE', KEYS[1], 60000)
end
return freed`;

/** one take's slots in the schedule: the pointer before and after it */
interface Booking {
  key: string;
  before: [number, number];
  after: [number, number];
}

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
  /** slots booked and not yet used (their take is waiting for them) */
  readonly #waiting = new Set<Booking>();
  /** bookings asked of Redis and not yet answered */
  readonly #asking = new Set<Promise<unknown>>();
  #stopped = false;
  #stop: () => void = () => {};
  readonly #stopping = new Promise<void>((resolve) => (this.#stop = resolve));

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
   * second, beside that second's own. After stop() it fails (code
   * `rate_stopped`): the submit must not go.
   */
  async take(connectorId: string, perSecond: number, submits: number): Promise<void> {
    if (perSecond <= 0) return;
    const key = `${this.#prefix}:rate:${connectorId}`;
    for (let attempt = 0; ; attempt++) {
      if (this.#stopped) throw stoppedError();
      const asked = Date.now();
      const asking = this.#redis.eval(TAKE, 1, key, perSecond, submits, 1000 - GUARD_MS - LEAD_MS, LEAD_MS) as Promise<string[]>;
      this.#asking.add(asking);
      let reply: number[];
      try {
        reply = (await asking).map(Number);
      } finally {
        this.#asking.delete(asking);
      }
      const [wait, bw, bc, aw, ac] = reply as [number, number, number, number, number];
      const booking: Booking = { key, before: [bw, bc], after: [aw, ac] };
      this.#waiting.add(booking);
      // Booked while stopping: stop() waits for the answers still coming and gives this one back with the rest.
      if (this.#stopped) throw stoppedError();
      // The slot is no earlier than this on our clock (Redis read its clock after `asked`): lateness is not underestimated.
      const slot = asked + Math.max(0, wait);
      if (wait > 0) await Promise.race([this.#sleep(Math.ceil(wait)), this.#stopping]);
      if (this.#stopped) throw stoppedError();
      this.#waiting.delete(booking); // used, or given up as too late (past: of no use to another node either)
      if (Date.now() - slot <= LATE_MS || attempt >= MAX_RETAKES) return;
    }
  }

  /**
   * A stopping node: takes wake up and fail (their submits do not go), and
   * the slots they booked and did not use are given back, so the other
   * workers need not wait them out (a backlog at a low rate books slots
   * seconds ahead). Call it after the sender has stopped sending. Resolves
   * with how many bookings went back.
   */
  async stop(): Promise<number> {
    this.#stopped = true;
    this.#stop();
    await within(Promise.allSettled([...this.#asking]), 2000);
    const byKey = new Map<string, Booking[]>();
    for (const b of this.#waiting) byKey.set(b.key, [...(byKey.get(b.key) ?? []), b]);
    this.#waiting.clear();
    let freed = 0;
    for (const [key, bookings] of byKey) {
      // Redis failing or silent for 2 s: the slots go unused, as when a node dies.
      freed += Number((await within(this.#redis.eval(RELEASE, 1, key, bookings.length, ...bookings.flatMap((b) => [...b.before, ...b.after])) as Promise<number>, 2000)) ?? 0);
    }
    return freed;
  }
}

function stoppedError(): Error {
  return Object.assign(new Error('the submit rate is stopping: this node sends no more'), { code: 'rate_stopped' });
}

/** a slot left later than this is given up: the rest of GUARD_MS is for the way from here to the operator */
export const LATE_MS = GUARD_MS / 2;
/** slots given up in a row at most, so a node that is always late still sends (it is then too slow to hold any rate) */
const MAX_RETAKES = 10;
