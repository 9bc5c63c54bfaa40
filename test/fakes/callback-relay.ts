import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RelayedRequest {
  method: 'GET' | 'POST';
  /** path and query */
  url: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * A loopback HTTP server standing in for our public address: what a fake
 * provider posts to it is handed to `handle` (a connector's callback, or the
 * gateway's app.inject), and the answer goes back to the provider.
 */
export class CallbackRelay {
  readonly #server: Server;

  constructor(handle: (request: RelayedRequest) => Promise<{ status: number; body: string }>) {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
        handle({ method: req.method === 'GET' ? 'GET' : 'POST', url: req.url ?? '/', headers, body: Buffer.concat(chunks).toString('utf8') }).then(
          (answer) => res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body),
          (err: unknown) => res.writeHead(500).end(String(err)),
        );
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
