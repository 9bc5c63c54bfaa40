import { Redis } from 'ioredis';

/**
 * A connection to the cluster's Redis. `maxRetriesPerRequest: null` is what
 * BullMQ wants (a command waits for Redis to come back instead of failing
 * after a few retries), and it suits the leader lock and the rate limiter too:
 * while Redis is away they wait, and the database stays the truth.
 */
export function connectRedis(url: string, name: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, connectionName: name, lazyConnect: false });
}
