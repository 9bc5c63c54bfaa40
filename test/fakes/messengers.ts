import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Loopback fakes of the messenger APIs, speaking their documented protocols
 * (MESSENGERS.md, PROTOCOLS.md): the Telegram Bot API, the Telegram Gateway
 * API and the WhatsApp Cloud API, with their error answers and the status
 * reports they post back, signed as the real ones sign them. The last four
 * digits of a number or chat id choose the outcome (see each fake).
 */

interface Posted {
  url: string;
  status: number;
}

abstract class JsonFake {
  readonly requests: { path: string; headers: IncomingMessage['headers']; body: Record<string, unknown> }[] = [];
  readonly posted: Posted[] = [];
  readonly #server: Server;
  #waiters: ((p: Posted) => void)[] = [];
  #requestWaiters: (() => void)[] = [];

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        this.requests.push({ path, headers: req.headers, body });
        this.handle(path, req.headers, body, res);
        for (const w of [...this.#requestWaiters]) w();
      });
    });
  }

  protected abstract handle(path: string, headers: IncomingMessage['headers'], body: Record<string, unknown>, res: ServerResponse): void;

  protected reply(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  /** Posts a report after the reply, as the providers do. */
  protected post(url: string, body: string, headers: Record<string, string>): void {
    setImmediate(() => {
      void fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }).then(
        (res) => this.#record({ url, status: res.status }),
        () => this.#record({ url, status: 0 }),
      );
    });
  }

  #record(p: Posted): void {
    this.posted.push(p);
    for (const w of [...this.#waiters]) w(p);
  }

  /** Resolves with the first request (received already, or when it comes) to `path` that `match` accepts. */
  requestTo(path: string, match: (body: Record<string, unknown>) => boolean = () => true): Promise<JsonFake['requests'][number]> {
    const find = () => this.requests.find((r) => r.path === path && match(r.body));
    const found = find();
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => {
      const w = () => {
        const r = find();
        if (!r) return;
        this.#requestWaiters = this.#requestWaiters.filter((x) => x !== w);
        resolve(r);
      };
      this.#requestWaiters.push(w);
    });
  }

  /** Resolves once `count` more reports have been posted and answered. */
  nextPosts(count: number): Promise<Posted[]> {
    const got: Posted[] = [];
    return new Promise((resolve) => {
      const w = (p: Posted) => {
        got.push(p);
        if (got.length === count) {
          this.#waiters = this.#waiters.filter((x) => x !== w);
          resolve(got);
        }
      };
      this.#waiters.push(w);
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

/** Bot API: chat ids ending `0002` are not found, `0003` blocked the bot, `0009` are throttled (429 with retry_after). */
export class FakeTelegramBot extends JsonFake {
  readonly token: string;
  #messageId = 1;

  constructor(token = '123:ABC') {
    super();
    this.token = token;
  }

  protected handle(path: string, _headers: IncomingMessage['headers'], body: Record<string, unknown>, res: ServerResponse): void {
    if (path !== `/bot${this.token}/sendMessage`) return this.reply(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    const chat = String(body.chat_id ?? '');
    const text = String(body.text ?? '');
    if (chat.endsWith('0002')) return this.reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: chat not found' });
    if (chat.endsWith('0003')) return this.reply(res, 403, { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' });
    if (chat.endsWith('0009')) return this.reply(res, 429, { ok: false, error_code: 429, description: 'Too Many Requests: retry after 3', parameters: { retry_after: 3 } });
    if (text.length === 0 || text.length > 4096) return this.reply(res, 400, { ok: false, error_code: 400, description: 'Bad Request: message is too long' });
    this.reply(res, 200, { ok: true, result: { message_id: this.#messageId++, chat: { id: /^-?\d+$/.test(chat) ? Number(chat) : 777, type: 'private' }, date: Math.floor(Date.now() / 1000), text } });
  }
}

/**
 * Gateway API: numbers ending `0002` cannot get codes (checkSendAbility
 * fails), `0000` get the code but it expires, `0007` get it and read it;
 * others are delivered (and not read). Reports go to the request's
 * callback_url, signed with the SHA-256 of the token, one after another in
 * the order they happened.
 */
export class FakeTelegramGateway extends JsonFake {
  readonly token: string;
  readonly revoked = new Set<string>();
  #next = 1;

  constructor(token = 'gw-token') {
    super();
    this.token = token;
  }

  protected handle(path: string, headers: IncomingMessage['headers'], body: Record<string, unknown>, res: ServerResponse): void {
    const ok = (result: unknown) => this.reply(res, 200, { ok: true, result });
    if (headers.authorization !== `Bearer ${this.token}`) return this.reply(res, 200, { ok: false, error: 'ACCESS_TOKEN_INVALID' });
    const phone = String(body.phone_number ?? '');
    const status = (requestId: string, delivery?: string) => ({ request_id: requestId, phone_number: phone, request_cost: 0.01, remaining_balance: 10, ...(delivery ? { delivery_status: { status: delivery, updated_at: Math.floor(Date.now() / 1000) } } : {}), ...(body.payload ? { payload: body.payload } : {}) });
    if (path === '/checkSendAbility') {
      if (phone.endsWith('0002')) return this.reply(res, 200, { ok: false, error: 'PHONE_NUMBER_NOT_AVAILABLE' });
      return ok(status(`req${this.#next++}`));
    }
    if (path === '/sendVerificationMessage') {
      if (!/^\d{4,8}$/.test(String(body.code ?? ''))) return this.reply(res, 200, { ok: false, error: 'CODE_INVALID' });
      const requestId = typeof body.request_id === 'string' ? body.request_id : `req${this.#next++}`;
      ok(status(requestId, 'sent'));
      if (typeof body.callback_url === 'string') {
        for (const delivery of phone.endsWith('0000') ? ['expired'] : phone.endsWith('0007') ? ['sent', 'delivered', 'read'] : ['sent', 'delivered']) this.#report(body.callback_url, status(requestId, delivery));
      }
      return;
    }
    if (path === '/revokeVerificationMessage') {
      this.revoked.add(String(body.request_id));
      return ok(true);
    }
    this.reply(res, 404, { ok: false, error: 'METHOD_NOT_FOUND' });
  }

  #report(url: string, report: unknown): void {
    const body = JSON.stringify(report);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const key = createHash('sha256').update(this.token).digest();
    this.post(url, body, { 'x-request-timestamp': timestamp, 'x-request-signature': createHmac('sha256', key).update(`${timestamp}\n${body}`).digest('hex') });
  }
}

/**
 * Cloud API: numbers ending `0002` are refused at once (code 100), `0009`
 * are rate limited (130429), template `missing` does not exist (132001);
 * `0000` is accepted and then fails 131026 (not on WhatsApp), `0047` fails
 * 131047 (outside the 24-hour window); others are delivered, then read.
 * Status webhooks go to `webhookUrl` (the app's webhook setting), signed with the app secret.
 */
export class FakeWhatsApp extends JsonFake {
  readonly accessToken: string;
  readonly appSecret: string;
  webhookUrl: string | undefined;
  #next = 1;

  constructor(accessToken = 'wa-token', appSecret = 'wa-app-secret') {
    super();
    this.accessToken = accessToken;
    this.appSecret = appSecret;
  }

  protected handle(path: string, headers: IncomingMessage['headers'], body: Record<string, unknown>, res: ServerResponse): void {
    const error = (status: number, code: number, message: string) => this.reply(res, status, { error: { message, type: 'OAuthException', code, fbtrace_id: 'AbC' } });
    if (headers.authorization !== `Bearer ${this.accessToken}`) return error(401, 190, 'Invalid OAuth access token');
    if (!/^\/v\d+\.\d+\/\d+\/messages$/.test(path) || body.messaging_product !== 'whatsapp') return error(400, 100, 'Invalid parameter');
    const to = String(body.to ?? '');
    if (to.endsWith('0002')) return error(400, 100, '(#100) Invalid parameter');
    if (to.endsWith('0009')) return error(400, 130429, 'Rate limit hit');
    if (body.type === 'template' && (body.template as { name?: string }).name === 'missing') return error(404, 132001, 'Template name does not exist in the translation');
    const wamid = `wamid.HBgL${this.#next++}`;
    this.reply(res, 200, { messaging_product: 'whatsapp', contacts: [{ input: to, wa_id: to }], messages: [{ id: wamid }] });
    if (!this.webhookUrl) return;
    const statuses = to.endsWith('0000') ? [{ status: 'failed', errors: [{ code: 131026, title: 'Message undeliverable' }] }] : to.endsWith('0047') ? [{ status: 'failed', errors: [{ code: 131047, title: 'Re-engagement message' }] }] : [{ status: 'sent' }, { status: 'delivered' }, { status: 'read' }];
    for (const s of statuses) {
      const report = JSON.stringify({
        object: 'whatsapp_business_account',
        entry: [{ id: 'WABA', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { phone_number_id: '1' }, statuses: [{ id: wamid, recipient_id: to, timestamp: String(Math.floor(Date.now() / 1000)), ...s }] } }] }],
      });
      this.post(this.webhookUrl, report, { 'x-hub-signature-256': `sha256=${createHmac('sha256', this.appSecret).update(report).digest('hex')}` });
    }
  }
}
