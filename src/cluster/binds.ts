import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { nodeIdentity, REDIS_NOW, within } from './lease.ts';

/**
 * One round for one connector, atomic on Redis's clock. KEYS[1] is the set of
 * live worker nodes (score: when the node's heartbeat runs out), KEYS[2..n+1]
 * the connector's n bind slots (one key per bind, holding the node that runs
 * it), KEYS[n+2] when Redis first saw these leases (never expires). ARGV[3]:
 * the binds the node runs now. The node's share of the connector's binds follows from its place among the
 * live nodes sorted by id: binds / nodes each, the first (binds mod nodes)
 * one more. The node renews the slots it holds and takes free ones up to its
 * share. A node holding more than its share keeps them for now: it closes the
 * binds first and then gives the slots back (RELEASE), so a slot is free only
 * once its bind is closed. A slot is one key set NX, so the cluster never runs
 * more binds than configured: a node taking over waits for the slot to be
 * given back or to run out.
 *
 * Redis restarted empty (or the first round ever): the live set and the
 * slots are gone while nodes still run their binds, and the first node to
 * ask would see itself alone and take every slot. So for one lease after the
 * start of the leases (by when every node still running binds has renewed or
 * closed them) a node only takes slots back for the binds it runs, none for
 * new binds. Returns {share, slots held}.
 */
const ROUND = `${REDIS_NOW}
local node = ARGV[1]
local ttl = tonumber(ARGV[2])
local running = tonumber(ARGV[3])
local binds = #KEYS - 2
redis.call('SET', KEYS[#KEYS], now, 'NX')
local settling = now - tonumber(redis.call('GET', KEYS[#KEYS])) < ttl
redis.call('ZADD', KEYS[1], now + ttl, node)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ttl * 10)
local live = redis.call('ZRANGE', KEYS[1], 0, -1)
table.sort(live)
local index = 0
for i, id in ipairs(live) do if id == node then index = i - 1 end end
local share = math.floor(binds / #live)
if index < binds % #live then share = share + 1 end
local held = 0
for k = 2, binds + 1 do
  if redis.call('GET', KEYS[k]) == node then
    redis.call('PEXPIRE', KEYS[k], ttl)
    held = held + 1
  end
end
local limit = share
if settling then limit = math.min(share, running) end
for k = 2, binds + 1 do
  if held >= limit then break end
  if redis.call('SET', KEYS[k], node, 'NX', 'PX', ttl) then held = held + 1 end
end
return {share, held}`;

/** Gives back the node's slots above ARGV[2] (its binds beyond its share, closed already). */
const RELEASE = `
local held = {}
for k = 1, #KEYS do if redis.call('GET', KEYS[k]) == ARGV[1] then table.insert(held, k) end end
local keep = tonumber(ARGV[2])
while #held > keep do
  redis.call('DEL', KEYS[held[#held]])
  table.remove(held)
end
return #held`;

/** Gives back every slot the node holds and leaves the live set (clean shutdown). */
const LEAVE = `
redis.call('ZREM', KEYS[1], ARGV[1])
for k = 2, #KEYS do if redis.call('GET', KEYS[k]) == ARGV[1] then redis.call('DEL', KEYS[k]) end end
return 1`;

export interface BindLeasesOptions {
  /** how long a slot outlives its holder's last renewal, default 5000 ms; renewed every third of it */
  ttlMs?: number;
  /** this node's id in the live set, default host:pid:random */
  nodeId?: string;
}

interface Wanted {
  binds: number;
  apply: (here: number) => void | Promise<void>;
  here: number;
  /** when this node last asked Redis to renew the connector's slots and was answered (the ask's start: the lease runs from then at the latest) */
  renewedAt: number;
}

/**
 * An operator connector's `binds` held across the worker nodes: each bind is a
 * slot leased in Redis, spread over the live workers (4 binds over 3 workers:
 * 2/1/1) and taken over by the survivors when a worker dies (its leases run
 * out) or stops (it gives them back); after Redis lost the leases (restarted
 * empty) each node first takes back the slots of the binds it runs, for one
 * lease, before any node takes more. Each connector learns through `apply`
 * how many binds to run on this node. A node that cannot reach Redis for most
 * of a lease drops its binds, since the others may take them over by then.
 */
export class BindLeases {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #log: Logger;
  readonly #ttlMs: number;
  readonly nodeId: string;
  readonly #wanted = new Map<string, Wanted>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(redis: Redis, prefix: string, log: Logger, options: BindLeasesOptions = {}) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#log = log;
    this.#ttlMs = options.ttlMs ?? 5000;
    this.nodeId = options.nodeId ?? nodeIdentity();
  }

  /** The connector has `binds` binds cluster-wide; `apply` is told this node's part (0 until the first round). */
  want(connectorId: string, binds: number, apply: (here: number) => void | Promise<void>): void {
    this.#wanted.set(connectorId, { binds, apply, here: 0, renewedAt: Date.now() });
    void apply(0);
    if (this.#timer !== undefined || this.#running) void this.#round();
  }

  /** The connector is gone from this node: its slots are given back. */
  async forget(connectorId: string): Promise<void> {
    const w = this.#wanted.get(connectorId);
    if (!w) return;
    this.#wanted.delete(connectorId);
    await this.#redis.eval(RELEASE, w.binds, ...this.#keys(connectorId, w.binds).slice(1), this.nodeId, 0).catch(() => {});
  }

  /**
   * Runs a round every third of a lease. A round that has not come back by
   * the next tick (Redis unreachable: the connection queues commands rather
   * than failing them) does not stop the clock: past two thirds of a lease
   * since the last renewal this node closes its binds, whether Redis failed
   * or is only silent.
   */
  start(): void {
    const tick = () => {
      if (this.#stopped) return;
      if (this.#running) this.#dropIfStale();
      else {
        this.#running = this.#round().finally(() => {
          this.#running = undefined;
        });
      }
      this.#timer = setTimeout(tick, this.#ttlMs / 3);
    };
    tick();
  }

  #keys(connectorId: string, binds: number): string[] {
    const keys = [`${this.#prefix}:bind-nodes`];
    for (let i = 0; i < binds; i++) keys.push(`${this.#prefix}:bind:${connectorId}:${i}`);
    return keys;
  }

  async #round(): Promise<void> {
    try {
      for (const [id, w] of [...this.#wanted]) {
        const asked = Date.now();
        const keys = [...this.#keys(id, w.binds), `${this.#prefix}:bind-epoch`];
        const [share, held] = (await this.#redis.eval(ROUND, keys.length, ...keys, this.nodeId, this.#ttlMs, w.here)) as [number, number];
        if (this.#stopped || this.#wanted.get(id) !== w) continue;
        // An answer that took most of a lease (Redis was unreachable) is too old to bind on: the next round asks again.
        if (Date.now() - asked > (this.#ttlMs * 2) / 3) continue;
        w.renewedAt = asked;
        const here = Math.min(share, held);
        if (here !== w.here) {
          this.#log.info({ connector: id, binds: here, of: w.binds }, 'binds of this connector on this node');
          w.here = here;
          await w.apply(here);
        }
        // Binds beyond the share are closed by now: only then are their slots free for another node.
        if (held > share) await this.#redis.eval(RELEASE, w.binds, ...this.#keys(id, w.binds).slice(1), this.nodeId, share);
      }
    } catch (err) {
      this.#log.warn({ err }, 'bind leases: Redis did not answer');
      this.#dropIfStale();
    }
  }

  /** Past two thirds of a lease without renewing, another node may take these binds: they are closed here first. */
  #dropIfStale(): void {
    for (const [id, w] of this.#wanted) {
      if (w.here === 0 || Date.now() - w.renewedAt <= (this.#ttlMs * 2) / 3) continue;
      this.#log.warn({ connector: id }, 'bind leases not renewed; closing this node\'s binds');
      w.here = 0;
      void w.apply(0);
    }
  }

  /** Stops renewing, closes this node's binds (through `apply`) and gives every slot back at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await within(this.#running, this.#ttlMs);
    for (const [id, w] of this.#wanted) {
      w.here = 0;
      await w.apply(0);
      await within(this.#redis.eval(LEAVE, 1 + w.binds, ...this.#keys(id, w.binds), this.nodeId), this.#ttlMs);
    }
  }
}
