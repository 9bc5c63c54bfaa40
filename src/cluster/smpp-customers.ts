import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { nodeIdentity, REDIS_NOW, TAKE_PLACE, within } from './lease.ts';

/**
 * One login's round. KEYS: the login's binds, its feed lease. ARGV: node,
 * lease ms, 1 when this node has a receiving bind of the login, then this
 * node's binds of the login. Renews those binds (adding them back if Redis
 * lost them: they exist), renews the feed if this node holds it, or takes it
 * when it is free and this node can send. Returns 1 if this node leads the
 * feed.
 */
const ROUND = `${REDIS_NOW}
local node = ARGV[1]
local ttl = tonumber(ARGV[2])
if #ARGV > 3 then
  for i = 4, #ARGV do redis.call('ZADD', KEYS[1], now + ttl, ARGV[i]) end
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[3] ~= '1' then return 0 end
local holder = redis.call('GET', KEYS[2])
if holder == node then
  redis.call('PEXPIRE', KEYS[2], ttl)
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[2], node, 'PX', ttl)
return 1`;

/** Gives the feed up, if this node holds it: KEYS the feed lease; ARGV node. Returns 1 when it held the feed. */
const YIELD = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`;

/** What a login's feed on this node is told and asks. */
export interface FeedHooks {
  /** this node has a receiving (receiver or transceiver) bind of the login now */
  receiving(): boolean;
  /** resolves once no round of sending is in progress (what it sent is recorded in the database) */
  idle(): Promise<void>;
  /** this node took the feed: it sends from the stored position and the receipts recorded as sent (ingress/smpp-server/receipts.ts) */
  led(): void;
}

interface Feed {
  hooks: FeedHooks;
  leads: boolean;
  /** when this node last asked Redis to renew the feed and was answered (the ask's start) */
  renewedAt: number;
}

export interface CustomerLeasesOptions {
  /** how long a bind's place and the feed outlive their node's last renewal, default 5000 ms; renewed every third of it */
  ttlMs?: number;
  nodeId?: string;
}

/**
 * SMPP customers across the smpp nodes (`ingress/smpp-server`), in Redis
 * like the operator binds (`binds.ts`):
 *
 * - a login's `max_binds` holds for the cluster: each bind is a member of the
 *   login's sorted set with a lease, renewed every third of it while bound,
 *   removed when the bind closes, dropped when its node stops renewing (died);
 * - one receipt feed per login: the node holding the login's feed lease sends
 *   its receipts; only a node with a receiving bind of the login takes or
 *   keeps it. When its last receiving bind closes (or it stops) it gives the
 *   feed up once its round of sending is recorded; when it dies the lease
 *   runs out. Another node with a receiving bind then takes it within a round
 *   and goes on from the stored position and the receipts recorded as sent
 *   (acknowledged or waiting) in the database.
 *
 * While Redis does not answer, binds stay; a new bind is checked against this
 * node's count only (after a short wait), and a feed not renewed for two
 * thirds of a lease stops sending here, since another node may take it.
 */
export class CustomerLeases {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #log: Logger;
  readonly #ttlMs: number;
  readonly nodeId: string;
  /** this node's binds of each login (their members in the login's set) */
  readonly #binds = new Map<string, Set<string>>();
  readonly #feeds = new Map<string, Feed>();
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(redis: Redis, prefix: string, log: Logger, options: CustomerLeasesOptions = {}) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#log = log;
    this.#ttlMs = options.ttlMs ?? 5000;
    this.nodeId = options.nodeId ?? nodeIdentity();
  }

  #key(kind: 'binds' | 'feed', credentialId: string): string {
    return `${this.#prefix}:smpp-${kind}:${credentialId}`;
  }

  start(): void {
    const tick = () => {
      if (this.#stopped) return;
      this.nudge();
      this.#timer = setTimeout(tick, this.#ttlMs / 3);
    };
    tick();
  }

  /** A round now (or right after the one in progress): a receiving bind came or went. */
  nudge(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#round()
      .catch((err: unknown) => this.#log.warn({ err }, 'SMPP customer leases: Redis did not answer'))
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.nudge();
        }
      });
  }

  /**
   * Takes a place among the login's `maxBinds` for a new bind: its token, or
   * null when the cluster has them all. If Redis does not answer within a
   * third of a lease, this node's own binds of the login are counted instead
   * (the bind is kept in the set once Redis answers again).
   */
  async takeBind(credentialId: string, maxBinds: number): Promise<string | null> {
    const mine = this.#binds.get(credentialId) ?? new Set<string>();
    const token = `${this.nodeId}:${++this.#seq}`;
    const answer = await within(this.#redis.eval(TAKE_PLACE, 1, this.#key('binds', credentialId), token, this.#ttlMs, maxBinds) as Promise<number>, this.#ttlMs / 3);
    if (answer === 0) return null;
    if (answer === undefined) {
      this.#log.warn({ credential: credentialId }, 'SMPP customer leases: Redis did not answer; max_binds counted on this node only');
      if (mine.size >= maxBinds) return null;
    }
    mine.add(token);
    this.#binds.set(credentialId, mine);
    return token;
  }

  /** The bind is closed (or never was): its place is free at once. */
  dropBind(credentialId: string, token: string): void {
    const mine = this.#binds.get(credentialId);
    if (!mine?.delete(token)) return;
    if (mine.size === 0) this.#binds.delete(credentialId);
    void this.#redis.zrem(this.#key('binds', credentialId), token).catch(() => {});
  }

  /**
   * This node serves the login through `hooks`: from now on it takes the
   * login's feed while it has a receiving bind. Hooks that replace earlier
   * ones (the login served again before those were forgotten) take its lead
   * over at the next round.
   */
  watch(credentialId: string, hooks: FeedHooks): void {
    const earlier = this.#feeds.get(credentialId);
    this.#feeds.set(credentialId, { hooks, leads: false, renewedAt: earlier?.renewedAt ?? 0 });
    this.nudge();
  }

  /** This node may send the login's receipts now: it holds the feed and renewed it within two thirds of a lease. */
  leads(credentialId: string): boolean {
    const f = this.#feeds.get(credentialId);
    return f !== undefined && f.leads && Date.now() - f.renewedAt <= (this.#ttlMs * 2) / 3;
  }

  /** This node no longer serves the login through `hooks` (no binds left): the feed is given up once its round is recorded. */
  async forget(credentialId: string, hooks: FeedHooks): Promise<void> {
    const f = this.#feeds.get(credentialId);
    if (f?.hooks !== hooks) return;
    this.#feeds.delete(credentialId);
    await this.#yield(credentialId, f);
  }

  async #yield(credentialId: string, f: Feed): Promise<void> {
    if (!f.leads) return;
    f.leads = false;
    await f.hooks.idle();
    if (f.leads) return; // a receiving bind came back meanwhile and a round renewed the feed: it stays here
    await this.#redis.eval(YIELD, 1, this.#key('feed', credentialId), this.nodeId);
    this.#log.info({ credential: credentialId }, 'SMPP receipt feed given up on this node');
  }

  /** One round: every login this node serves, side by side (each is one script on Redis). */
  async #round(): Promise<void> {
    const ids = new Set([...this.#binds.keys(), ...this.#feeds.keys()]);
    await Promise.all([...ids].map((id) => this.#roundOf(id)));
  }

  async #roundOf(id: string): Promise<void> {
    if (this.#stopped) return;
    const f = this.#feeds.get(id);
    const receiving = f?.hooks.receiving() ?? false;
    // Given up beside the round, not in it: the feed's round of sending may take up to a response timeout to end (a
    // bind unbinding waits for its receipts' answers), and the renewals of every other login here must not wait for it.
    if (f && f.leads && !receiving) void this.#yield(id, f).catch((err: unknown) => this.#log.warn({ err, credential: id }, 'giving up an SMPP receipt feed failed'));
    const asked = Date.now();
    const leads = (await this.#redis.eval(
      ROUND,
      2,
      this.#key('binds', id),
      this.#key('feed', id),
      this.nodeId,
      this.#ttlMs,
      receiving ? '1' : '0',
      ...(this.#binds.get(id) ?? []),
    )) as number;
    if (!f || this.#stopped || this.#feeds.get(id) !== f) return;
    // An answer that took most of a lease (Redis was unreachable) is too old to send on: the next round asks again.
    if (Date.now() - asked > (this.#ttlMs * 2) / 3) return;
    const was = f.leads;
    f.leads = leads === 1;
    if (f.leads) f.renewedAt = asked;
    if (f.leads && !was) {
      this.#log.info({ credential: id }, 'this node sends the SMPP login\'s receipts');
      f.hooks.led();
    } else if (!f.leads && was) this.#log.warn({ credential: id }, 'another node took the SMPP login\'s receipt feed');
  }

  /** Gives every feed up (once its round is recorded) and frees this node's binds' places. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await within(this.#running, this.#ttlMs);
    for (const [id, f] of this.#feeds) await within(this.#yield(id, f), this.#ttlMs);
    this.#feeds.clear();
    for (const [id, mine] of this.#binds) await within(this.#redis.zrem(this.#key('binds', id), ...mine), this.#ttlMs);
    this.#binds.clear();
  }
}
