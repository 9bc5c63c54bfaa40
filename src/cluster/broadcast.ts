import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';

/**
 * Tells the other nodes to re-read what the API changed (connectors, routes,
 * webhook subscriptions) over Redis pub/sub, and waits until each node that
 * heard it has reloaded, so the API answers only once the whole cluster uses
 * the change.
 */
export class ReloadBroadcast {
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #channel: string;
  readonly #node = randomUUID();
  readonly #log: Logger;
  /** announcements waiting for their answers: how many nodes heard it (once PUBLISH says) and how many answered */
  readonly #waiting = new Map<string, { heard: number; answered: number; done: () => void }>();

  constructor(pub: Redis, sub: Redis, prefix: string, log: Logger) {
    this.#pub = pub;
    this.#sub = sub;
    this.#channel = `${prefix}:reload`;
    this.#log = log;
  }

  async start(reload: () => Promise<void>): Promise<void> {
    await this.#sub.subscribe(this.#channel, `${this.#channel}:done`);
    this.#sub.on('message', (channel: string, text: string) => {
      const message = JSON.parse(text) as { id: string; node: string };
      if (channel === this.#channel) {
        if (message.node === this.#node) return;
        reload()
          .catch((err: unknown) => this.#log.error({ err }, 'reloading for another node failed'))
          .finally(() => void this.#pub.publish(`${this.#channel}:done`, JSON.stringify({ id: message.id, node: this.#node })).catch(() => {}));
      } else {
        const w = this.#waiting.get(message.id);
        if (!w) return;
        w.answered++;
        if (w.answered >= w.heard) w.done();
      }
    });
  }

  /** Asks every other node to reload; resolves when all that heard it are done, or after `timeoutMs`. */
  async announce(timeoutMs = 5000): Promise<void> {
    const id = randomUUID();
    const w = { heard: Infinity, answered: 0, done: () => {} };
    const done = new Promise<void>((resolve) => {
      w.done = resolve;
      setTimeout(resolve, timeoutMs).unref();
    });
    this.#waiting.set(id, w);
    // PUBLISH counts the subscribers that got it, this node among them; answers may come before it returns.
    w.heard = (await this.#pub.publish(this.#channel, JSON.stringify({ id, node: this.#node }))) - 1;
    if (w.answered >= w.heard) w.done();
    await done;
    this.#waiting.delete(id);
  }
}
