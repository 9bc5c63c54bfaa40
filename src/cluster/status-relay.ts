import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { StatusChange } from '../events/bus.ts';
import type { Logger } from '../log.ts';

/**
 * Committed status changes from one node to the others' event buses, over
 * Redis pub/sub, so a live stream or an SMPP customer's receipt feed on an API
 * node hears of a change a worker made. Only a wake-up: the stream's replay
 * and the receipt feed read the database, which stays the truth; a message
 * lost here (Redis away) delays a live event, it loses no receipt.
 */
export class StatusRelay {
  readonly #pub: Redis;
  readonly #channel: string;
  readonly #node = randomUUID();
  readonly #log: Logger;

  constructor(pub: Redis, prefix: string, log: Logger) {
    this.#pub = pub;
    this.#channel = `${prefix}:status`;
    this.#log = log;
  }

  publish(changes: readonly StatusChange[]): void {
    if (changes.length === 0) return;
    this.#pub.publish(this.#channel, JSON.stringify({ node: this.#node, changes })).catch((err: unknown) => this.#log.warn({ err }, 'relaying status changes failed'));
  }

  /** Hears the other nodes' changes on `sub` (a connection that only subscribes). */
  async listen(sub: Redis, onChanges: (changes: StatusChange[]) => void): Promise<void> {
    await sub.subscribe(this.#channel);
    sub.on('message', (channel: string, text: string) => {
      if (channel !== this.#channel) return;
      const message = JSON.parse(text) as { node: string; changes: StatusChange[] };
      if (message.node !== this.#node) onChanges(message.changes);
    });
  }
}
