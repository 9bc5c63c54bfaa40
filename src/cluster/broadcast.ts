import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { within } from './lease.ts';

/**
 * A notice to the other nodes over Redis pub/sub (`<channel>`), answered by
 * each node that heard it once it acted on it (`<channel>:done`), so the
 * announcing node can wait until the whole cluster has: how many heard it is
 * what PUBLISH counts. A node that is not subscribed (Redis away, a dropped
 * connection) neither hears nor is waited for: what a notice asks must have a
 * fallback of its own.
 */
export class Broadcast<T extends object> {
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #channel: string;
  readonly #node = randomUUID();
  readonly #log: Logger;
  readonly #what: string;
  /** announcements waiting for their answers: how many nodes heard it (once PUBLISH says) and how many answered */
  readonly #waiting = new Map<string, { heard: number; answered: number; done: () => void }>();

  /** `channel`: the full Redis channel (with the cluster's prefix); `what`: for the log */
  constructor(pub: Redis, sub: Redis, channel: string, log: Logger, what: string) {
    this.#pub = pub;
    this.#sub = sub;
    this.#channel = channel;
    this.#log = log;
    this.#what = what;
  }

  /** Hears the other nodes' notices on `sub` (a connection that only subscribes); each is answered once `act` has settled. */
  async start(act: (notice: T) => Promise<void> | void): Promise<void> {
    const done = `${this.#channel}:done`;
    await this.#sub.subscribe(this.#channel, done);
    this.#sub.on('message', (channel: string, text: string) => {
      if (channel !== this.#channel && channel !== done) return;
      const message = JSON.parse(text) as { id: string; node: string; notice?: T };
      if (channel === this.#channel) {
        if (message.node === this.#node) return;
        Promise.resolve()
          .then(() => act(message.notice ?? ({} as T)))
          .catch((err: unknown) => this.#log.error({ err }, `${this.#what} for another node failed`))
          .finally(() => void this.#pub.publish(done, JSON.stringify({ id: message.id, node: this.#node })).catch(() => {}));
      } else {
        const w = this.#waiting.get(message.id);
        if (!w) return;
        w.answered++;
        if (w.answered >= w.heard) w.done();
      }
    });
  }

  /**
   * Tells every other node; resolves when all that heard it have acted, or
   * after `timeoutMs` (Redis not answering counts in it): true when all
   * answered in time.
   */
  async announce(notice: T, timeoutMs: number): Promise<boolean> {
    const id = randomUUID();
    let answeredAll = false;
    const w = {
      heard: Infinity,
      answered: 0,
      done: () => {},
    };
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((resolve) => {
      w.done = () => {
        answeredAll = true;
        resolve();
      };
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    this.#waiting.set(id, w);
    try {
      // PUBLISH counts the subscribers that got it, this node among them; answers may come before it returns.
      const subscribers = await within(this.#pub.publish(this.#channel, JSON.stringify({ id, node: this.#node, notice })), timeoutMs);
      if (subscribers !== undefined) {
        w.heard = subscribers - 1;
        if (w.answered >= w.heard) w.done();
      }
      await done;
    } finally {
      clearTimeout(timer);
      this.#waiting.delete(id);
    }
    return answeredAll;
  }
}

/**
 * Tells the other nodes to re-read what the API changed (connectors, routes,
 * webhook subscriptions), and waits until each node that heard it has
 * reloaded, so the API answers only once the whole cluster uses the change.
 */
export class ReloadBroadcast {
  readonly #broadcast: Broadcast<Record<string, never>>;

  constructor(pub: Redis, sub: Redis, prefix: string, log: Logger) {
    this.#broadcast = new Broadcast(pub, sub, `${prefix}:reload`, log, 'reloading');
  }

  async start(reload: () => Promise<void>): Promise<void> {
    await this.#broadcast.start(() => reload());
  }

  /** Asks every other node to reload; resolves when all that heard it are done, or after `timeoutMs`. */
  async announce(timeoutMs = 5000): Promise<void> {
    await this.#broadcast.announce({}, timeoutMs);
  }
}
