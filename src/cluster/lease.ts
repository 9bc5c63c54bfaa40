import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';

/** Lua: `now`, Redis's clock in ms, so leases of several nodes are measured on one clock. */
export const REDIS_NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

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
