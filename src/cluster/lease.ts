import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';

/** Lua: `now`, Redis's clock in ms, so leases of several nodes are measured on one clock. */
export const REDIS_NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * Takes one of a limited number of places held cluster-wide (an SMPP login's
 * `max_binds`, an API key's `stream.max_per_key`). KEYS[1] is the sorted set
 * of places (member: the holder, ARGV[1]; score: when its lease runs out on
 * Redis's clock; ARGV[2] the lease in ms, ARGV[3] the limit). Lapsed places
 * (their node died or went silent) are dropped first. Returns 1 when taken,
 * 0 when all are taken.
 */
export const TAKE_PLACE = `${REDIS_NOW}
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return 1`;

/** This process's id among the cluster's nodes in leases: host:pid:random. */
export function nodeIdentity(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/**
 * `work`, or undefined once `ms` have passed without it settling (its failure
 * too is undefined). Redis may not answer at all while it is unreachable (the
 * connection queues commands rather than failing them), so what must not wait
 * for it waits this long at most.
 */
export function within<T>(work: Promise<T> | undefined, ms: number): Promise<T | undefined> {
  if (!work) return Promise.resolve(undefined);
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  return Promise.race([work.catch(() => undefined), limit]).finally(() => clearTimeout(timer));
}
