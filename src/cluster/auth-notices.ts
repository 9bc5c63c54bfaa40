import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { Broadcast } from './broadcast.ts';

/** What one API node tells the others of the API keys it cached: a key revoked, an account's settings changed. */
export type AuthNotice = { kind: 'key_revoked'; accountId: string; keyId: string } | { kind: 'account_changed'; accountId: string };

/** How long a revocation waits for the other API nodes to drop the key before it answers anyway. */
export const AUTH_NOTICE_TIMEOUT_MS = 2000;

/**
 * The API key caches of a cluster's API nodes kept in step
 * (`<prefix>:auth`, over Redis pub/sub): a node that revokes a key or changes
 * an account tells the others, and answers once every API node that heard it
 * has dropped what it cached (or after AUTH_NOTICE_TIMEOUT_MS). A notice lost
 * (Redis away, a node's subscription down) leaves the cache's own expiry
 * (30 s, auth.ts) as the bound; a node whose subscription comes back drops
 * its whole cache (`onResubscribed`), as it may have missed notices meanwhile.
 * On the main thread, on connections of its own (app.ts), like the event
 * streams' leases.
 */
export class AuthNotices {
  readonly #broadcast: Broadcast<AuthNotice>;
  readonly #sub: Redis;
  readonly #log: Logger;

  constructor(pub: Redis, sub: Redis, prefix: string, log: Logger) {
    this.#broadcast = new Broadcast<AuthNotice>(pub, sub, `${prefix}:auth`, log, 'dropping a cached API key');
    this.#sub = sub;
    this.#log = log;
  }

  async start(apply: (notice: AuthNotice) => void, onResubscribed: () => void): Promise<void> {
    await this.#broadcast.start(apply);
    // ioredis subscribes again by itself after a reconnect; what was published in between never came.
    let lost = false;
    this.#sub.on('close', () => (lost = true));
    this.#sub.on('ready', () => {
      if (!lost) return;
      lost = false;
      this.#log.info('the API key notices are heard again; the cached keys are dropped (notices may have been missed)');
      onResubscribed();
    });
  }

  /** Tells the other API nodes; resolves once they all dropped it, or after AUTH_NOTICE_TIMEOUT_MS. */
  async announce(notice: AuthNotice, timeoutMs = AUTH_NOTICE_TIMEOUT_MS): Promise<void> {
    const all = await this.#broadcast.announce(notice, timeoutMs);
    if (!all) this.#log.warn({ notice }, 'not every API node confirmed dropping a cached API key in time; theirs expire within 30 s');
  }
}
