import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One POST the receiver got. */
export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  event: { id: string; type: string; created_at: string; data: Record<string, unknown> };
  at: number;
}

/** What the receiver does with a request: answer with a status, or never answer. */
export type Behaviour = (n: number) => number | 'hang';

/**
 * A customer's webhook endpoint on 127.0.0.1: records every request and
 * answers as `behaviour` says; `waitFor` resolves as soon as the recorded
 * requests satisfy a condition (checked on every request, no polling).
 */
export class Receiver {
  readonly received: Received[] = [];
  /** requests answered with 2xx */
  readonly accepted: Received[] = [];
  behaviour: Behaviour;
  #server: Server | undefined;
  #port = 0;
  #waiters: { check: () => boolean; resolve: () => void }[] = [];
  #count = 0;

  constructor(behaviour: Behaviour = () => 200) {
    this.behaviour = behaviour;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}/hook`;
  }

  /** Listens (on `port` when given: a receiver that comes back on its old address). */
  async listen(port = 0): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const r: Received = { headers: req.headers, body, event: JSON.parse(body) as Received['event'], at: Date.now() };
        this.received.push(r);
        const answer = this.behaviour(++this.#count);
        if (answer === 'hang') return this.#check();
        if (answer >= 200 && answer < 300) this.accepted.push(r);
        res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer >= 300 ? 'not today' : 'ok');
        this.#check();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
    return this;
  }

  /** Reserves a port and closes it again: the URL refuses connections until `listen(port)`. */
  async reserve(): Promise<number> {
    await this.listen();
    const port = this.#port;
    await this.close();
    return port;
  }

  waitFor(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`receiver: ${what} did not happen within ${timeoutMs} ms (got ${this.received.length} requests, ${this.accepted.length} accepted)`)), timeoutMs);
      this.#waiters.push({ check, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  #check(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The event types of each message, in the order they first arrived. */
export function byMessage(received: readonly Received[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const r of received) {
    // At least once: a repeat of an event already seen adds nothing to its order.
    if (seen.has(r.event.id)) continue;
    seen.add(r.event.id);
    if (!r.event.type.startsWith('message.')) continue;
    const id = String(r.event.data.id);
    out.set(id, [...(out.get(id) ?? []), r.event.type]);
  }
  return out;
}
