import { connect, type Socket } from 'node:net';

/**
 * A small client of FreeSWITCH's inbound event socket (mod_event_socket).
 * The protocol is text: the server speaks first (`Content-Type:
 * auth/request`), each frame is `Name: value` header lines, a blank line, and
 * `Content-Length` bytes of body when that header is there (in any order:
 * event frames put Content-Length first). Every command gets exactly one
 * reply, `command/reply` or `api/response`, in order; events
 * (`text/event-plain`, `text/event-json`) come in between at any time.
 *
 * Our own rather than modesl: modesl 1.2.1 (2019) is untyped plain JS with a
 * dial-string helper of the wrong form; `esl`/`esl-lite` are not available here.
 */

export interface EslFrame {
  /** lower-case names */
  headers: Map<string, string>;
  body: string;
}

/** An event: its headers (names as FreeSWITCH writes them, values decoded) and its own body. */
export interface EslEvent {
  name: string;
  headers: Record<string, string>;
  body: string;
}

/** Splits a byte stream into frames; keeps what is incomplete until more comes. */
export class FrameParser {
  #buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): EslFrame[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const frames: EslFrame[] = [];
    for (;;) {
      const end = this.#buffer.indexOf('\n\n');
      if (end < 0) return frames;
      const headers = parseHeaderLines(this.#buffer.subarray(0, end).toString('utf8'), false);
      const length = Number(headers.get('content-length') ?? '0');
      const start = end + 2;
      if (this.#buffer.length < start + length) return frames;
      const body = this.#buffer.subarray(start, start + length).toString('utf8');
      this.#buffer = this.#buffer.subarray(start + length);
      frames.push({ headers, body });
    }
  }
}

function parseHeaderLines(text: string, decode: boolean): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const value = line.slice(colon + 1).trim();
    out.set(line.slice(0, colon).trim().toLowerCase(), decode ? urlDecode(value) : value);
  }
  return out;
}

function urlDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The event inside a `text/event-plain` or `text/event-json` frame; null for other frames. */
export function eventOf(frame: EslFrame): EslEvent | null {
  const type = frame.headers.get('content-type');
  if (type === 'text/event-json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(frame.body);
    } catch {
      return null;
    }
    if (parsed === null || typeof parsed !== 'object') return null;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) if (k !== '_body') headers[k] = String(v);
    const body = typeof (parsed as { _body?: unknown })._body === 'string' ? (parsed as { _body: string })._body : '';
    return headers['Event-Name'] ? { name: headers['Event-Name'], headers, body } : null;
  }
  if (type !== 'text/event-plain') return null;
  // The event's headers, a blank line, then its own body of Content-Length bytes (if any).
  const raw = Buffer.from(frame.body, 'utf8');
  const split = raw.indexOf('\n\n');
  const headText = (split < 0 ? raw : raw.subarray(0, split)).toString('utf8');
  const headers: Record<string, string> = {};
  for (const line of headText.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers[line.slice(0, colon).trim()] = urlDecode(line.slice(colon + 1).trim());
  }
  const length = Number(headers['Content-Length'] ?? '0');
  const body = split < 0 || length === 0 ? '' : raw.subarray(split + 2, split + 2 + length).toString('utf8');
  return headers['Event-Name'] ? { name: headers['Event-Name'], headers, body } : null;
}

export class EslError extends Error {
  /** the server's reply text, e.g. `-ERR invalid` */
  readonly reply: string | undefined;
  constructor(message: string, reply?: string) {
    super(message);
    this.name = 'EslError';
    this.reply = reply;
  }
}

interface Pending {
  resolve(frame: EslFrame): void;
  reject(err: Error): void;
}

/**
 * One authenticated connection. `open()` resolves after `auth` is accepted
 * and rejects with the server's reply when it is not; `onEvent` hears every
 * event; `onClose` is called once, with why, when the socket ends.
 */
export class EslConnection {
  readonly #socket: Socket;
  readonly #parser = new FrameParser();
  readonly #pending: Pending[] = [];
  #closed = false;
  #onEvent: (event: EslEvent) => void = () => {};
  #onClose: (why: string) => void = () => {};

  private constructor(socket: Socket) {
    this.#socket = socket;
  }

  static open(options: { host: string; port: number; password: string; timeoutMs: number; onEvent(event: EslEvent): void; onClose(why: string): void }): Promise<EslConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: options.host, port: options.port });
      const c = new EslConnection(socket);
      let authed = false;
      const timer = setTimeout(() => fail(new EslError(`no answer from ${options.host}:${options.port} within ${options.timeoutMs} ms`)), options.timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        c.close();
        reject(err);
      };
      socket.on('error', (err) => {
        if (!authed) fail(new EslError(`cannot connect to ${options.host}:${options.port}: ${err.message}`));
        else c.#end(`socket error: ${err.message}`);
      });
      socket.on('close', () => {
        if (!authed) fail(new EslError(`${options.host}:${options.port} closed the connection before auth`));
        else c.#end('connection closed');
      });
      socket.on('data', (chunk: Buffer) => {
        for (const frame of c.#parser.push(chunk)) {
          const type = frame.headers.get('content-type');
          if (!authed) {
            if (type === 'auth/request') {
              c.#command(`auth ${options.password}`).then(
                (reply) => {
                  authed = true;
                  clearTimeout(timer);
                  c.#onEvent = options.onEvent;
                  c.#onClose = options.onClose;
                  void reply;
                  resolve(c);
                },
                (err: Error) => fail(err),
              );
            } else if (type === 'text/rude-rejection') {
              fail(new EslError(`refused by the server's ACL: ${frame.body.trim()}`));
            } else {
              c.#dispatch(frame);
            }
            continue;
          }
          c.#dispatch(frame);
        }
      });
    });
  }

  #dispatch(frame: EslFrame): void {
    const type = frame.headers.get('content-type');
    if (type === 'command/reply' || type === 'api/response') {
      this.#pending.shift()?.resolve(frame);
      return;
    }
    if (type === 'text/disconnect-notice') {
      this.#end(`the server disconnected: ${frame.body.trim().split('\n')[0]}`);
      return;
    }
    const event = eventOf(frame);
    if (event) this.#onEvent(event);
  }

  /** Sends one command (with extra header lines) and resolves with its reply; rejects on `-ERR`. */
  #command(line: string, headers: Record<string, string> = {}): Promise<EslFrame> {
    if (this.#closed) return Promise.reject(new EslError('the event socket is not connected'));
    if (/[\r\n]/.test(line)) return Promise.reject(new EslError('a command must be one line'));
    return new Promise<EslFrame>((resolve, reject) => {
      this.#pending.push({
        resolve: (frame) => {
          const text = frame.headers.get('reply-text') ?? '';
          if (frame.headers.get('content-type') === 'command/reply' && text.startsWith('-ERR')) reject(new EslError(`${line.split(' ')[0]}: ${text}`, text));
          else resolve(frame);
        },
        reject,
      });
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\n`).join('');
      this.#socket.write(`${line}\n${extra}\n`);
    });
  }

  /** `event plain|json <names>`. */
  async subscribe(format: 'plain' | 'json', names: readonly string[]): Promise<void> {
    await this.#command(`event ${format} ${names.join(' ')}`);
  }

  /** `filter <header> <value>`: only events matching one of the filters come. */
  async filter(header: string, value: string): Promise<void> {
    await this.#command(`filter ${header} ${value}`);
  }

  /** `api <command>`: the body of the api/response (which may itself say `-ERR …`). */
  async api(command: string): Promise<string> {
    return (await this.#command(`api ${command}`)).body;
  }

  /** `bgapi <command>` with our Job-UUID; resolves when the server took the job (its result comes as BACKGROUND_JOB). */
  async bgapi(command: string, jobUuid: string): Promise<void> {
    const reply = await this.#command(`bgapi ${command}`, { 'Job-UUID': jobUuid });
    const text = reply.headers.get('reply-text') ?? '';
    if (!text.startsWith('+OK')) throw new EslError(`bgapi: ${text}`, text);
  }

  get closed(): boolean {
    return this.#closed;
  }

  #end(why: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    for (const p of this.#pending.splice(0)) p.reject(new EslError(`the event socket closed: ${why}`));
    this.#onClose(why);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    for (const p of this.#pending.splice(0)) p.reject(new EslError('the event socket was closed'));
  }
}
