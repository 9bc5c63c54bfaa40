import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback HTTP SMS aggregator speaking one of the preset dialects (SMSC.ru,
 * SMS Aero v2, Devino, SMS Traffic) as their public API descriptions show
 * them: the send request, its success and error replies, and status reports
 * posted back. What happens to a number depends on its last four digits:
 * `0000` accepted then undelivered (unknown subscriber), `0002` refused at
 * submit (bad number), `0003` accepted then expired (SMS Traffic), `0005` HTTP 500, `0009` HTTP 429, `0219` accepted then
 * blocked for a SIM swap (SMSC.ru); anything else accepted and delivered.
 * SMSC.ru (`status.php`), SMS Aero (`sms/status`) and SMS Traffic
 * (`multi.php` with `operation=status`) also answer status requests: interim
 * while `holdStatus` is set or for the first `interimPolls` requests about an
 * id, then the message's final status. SMS Aero (`sign`) and Devino (`from`)
 * refuse a send without a sender, as their APIs do.
 */
export type Flavour = 'smsc' | 'smsaero' | 'devino' | 'smstraffic';

export interface FakeRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** query and form fields together */
  fields: Record<string, string>;
  json: unknown;
}

export interface FakeCallback {
  url: string;
  status: number;
  body: string;
}

export class FakeAggregator {
  readonly flavour: Flavour;
  readonly requests: FakeRequest[] = [];
  readonly callbacks: FakeCallback[] = [];
  /** where SMSC.ru posts reports (set in its cabinet); the others take a callbackUrl per message */
  accountCallbackUrl: string | undefined;
  /** status requests answered interim before the final status, per id */
  interimPolls = 1;
  /** while true every status request is answered interim */
  holdStatus = false;
  /** status requests received, by provider id */
  readonly statusRequests = new Map<string, number>();
  readonly #sent = new Map<string, { status: string; err: string; number?: string }>();
  readonly #credentials: { login: string; password: string };
  readonly #server: Server;
  #onCallback: ((c: FakeCallback) => void)[] = [];

  constructor(flavour: Flavour, credentials = { login: 'depesha', password: 'secret' }) {
    this.flavour = flavour;
    this.#credentials = credentials;
    this.#server = createServer((req, res) => {
      void this.#handle(req).then(
        ({ status, body, type }) => res.writeHead(status, { 'content-type': type }).end(body),
        () => res.writeHead(500).end(),
      );
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

  /** Resolves with the next `count` status reports posted (and answered). */
  nextCallbacks(count: number): Promise<FakeCallback[]> {
    const got: FakeCallback[] = [];
    return new Promise((resolve) => {
      const listener = (c: FakeCallback) => {
        got.push(c);
        if (got.length === count) {
          this.#onCallback = this.#onCallback.filter((l) => l !== listener);
          resolve(got);
        }
      };
      this.#onCallback.push(listener);
    });
  }

  async #handle(req: IncomingMessage): Promise<{ status: number; body: string; type: string }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    const fields: Record<string, string> = Object.fromEntries(url.searchParams);
    let json: unknown;
    if ((req.headers['content-type'] ?? '').includes('json')) json = JSON.parse(raw);
    else Object.assign(fields, Object.fromEntries(new URLSearchParams(raw)));
    this.requests.push({ method: req.method ?? '', path: url.pathname, headers: req.headers, fields, json });
    switch (this.flavour) {
      case 'smsc':
        return this.#smsc(url.pathname, fields);
      case 'smsaero':
        return this.#smsaero(url.pathname, req.headers.authorization, json as Record<string, unknown>, req.url ?? '/');
      case 'devino':
        return this.#devino(url.pathname, req.headers.authorization, json as { messages: Record<string, unknown>[] });
      case 'smstraffic':
        return this.#smstraffic(url.pathname, fields);
    }
  }

  #smsc(path: string, f: Record<string, string>) {
    const json = (body: unknown, status = 200) => ({ status, body: JSON.stringify(body), type: 'application/json' });
    if (path !== '/sys/send.php' && path !== '/sys/status.php') return json({ error: 'not found' }, 404);
    if (f.login !== this.#credentials.login || f.psw !== this.#credentials.password) return json({ error: 'authorise error', error_code: 2 });
    if (path === '/sys/status.php') {
      const known = this.#sent.get(f.id ?? '');
      if (!known) return json({ status: -3, last_timestamp: 0, err: 0 });
      if (this.#interim(f.id!)) return json({ status: -1, last_timestamp: Math.floor(Date.now() / 1000), err: 0 });
      return json({ status: Number(known.status), last_timestamp: Math.floor(Date.now() / 1000), err: Number(known.err) });
    }
    const phone = f.phones ?? '';
    const fault = this.#fault(phone);
    if (fault) return fault;
    if (phone.endsWith('0002')) return json({ error: 'invalid number', error_code: 7 });
    const id = String(Math.floor(Math.random() * 1e9));
    const [status, err] = phone.endsWith('0000') ? ['20', '1'] : phone.endsWith('0219') ? ['20', '219'] : ['1', '0'];
    this.#sent.set(id, { status, err });
    if (this.accountCallbackUrl) this.#post(this.accountCallbackUrl, new URLSearchParams({ id, phone, status, err }).toString(), 'application/x-www-form-urlencoded');
    return json({ id, cnt: 1 });
  }

  #smsaero(path: string, authorization: string | undefined, body: Record<string, unknown> | undefined, url: string) {
    const json = (b: unknown, status = 200) => ({ status, body: JSON.stringify(b), type: 'application/json' });
    const expected = `Basic ${Buffer.from(`${this.#credentials.login}:${this.#credentials.password}`).toString('base64')}`;
    if (authorization !== expected) return json({ success: false, data: null, message: 'Unauthorized' }, 401);
    if (path === '/v2/sms/status') {
      const id = new URL(url, 'http://x').searchParams.get('id') ?? String(body?.id ?? '');
      const known = this.#sent.get(id);
      if (!known) return json({ success: false, data: null, message: 'Message not found' }, 404);
      const status = this.#interim(id) ? 4 : Number(known.status);
      return json({ success: true, data: { id: Number(id), status, extendStatus: status === 1 ? 'delivery' : 'in progress' }, message: null });
    }
    if (path === '/v2/viber/send' || path === '/v2/viber/statistic') return this.#smsaeroViber(path, body ?? {});
    if (path !== '/v2/sms/send') return json({ success: false, message: 'not found' }, 404);
    body ??= {};
    const number = String(body.number ?? '');
    const fault = this.#fault(number);
    if (fault) return fault;
    if (typeof body.sign !== 'string' || body.sign === '') return json({ success: false, data: null, message: 'Validation error: sign is required' }, 400);
    if (number.endsWith('0002')) return json({ success: false, data: null, message: 'Validation error: number is invalid' }, 400);
    const id = Math.floor(Math.random() * 1e9);
    this.#sent.set(String(id), { status: number.endsWith('0000') ? '2' : '1', err: '0' });
    if (typeof body.callbackUrl === 'string') this.#post(body.callbackUrl, JSON.stringify({ id, number, status: number.endsWith('0000') ? 2 : 1 }), 'application/json');
    return json({ success: true, data: { id, number, text: body.text, status: 8 }, message: null });
  }

  /**
   * SMS Aero's Viber sendings: `viber/send` answers the sending with its id
   * (status 1 moderation); `viber/statistic {sendingId}` lists each number's
   * status: 0 sent, 1 delivered, 2 read ("write"), 3 undelivered, 4 error.
   * Numbers ending 0000 are undelivered, 0007 read, the rest delivered.
   */
  #smsaeroViber(path: string, body: Record<string, unknown>) {
    const json = (b: unknown, status = 200) => ({ status, body: JSON.stringify(b), type: 'application/json' });
    if (path === '/v2/viber/statistic') {
      const id = String(body.sendingId ?? '');
      const known = this.#sent.get(id);
      if (!known || typeof body.sendingId !== 'number') return json({ success: false, data: null, message: 'Sending not found' }, 404);
      const status = this.#interim(id) ? 0 : Number(known.status);
      const extendStatus = ['send', 'delivery', 'write', 'undelivered', 'error'][status];
      return json({ success: true, data: { 0: { number: known.number, status, extendStatus, dateSend: Math.floor(Date.now() / 1000) }, links: { self: `/v2/viber/statistic?sendingId=${id}&page=1` } }, message: null });
    }
    const number = String(body.number ?? '');
    const fault = this.#fault(number);
    if (fault) return fault;
    if (!['INFO', 'OFFICIAL', 'CASCADE'].includes(String(body.channel)) || typeof body.sign !== 'string' || body.sign === '') return json({ success: false, data: null, message: 'Validation error: channel and sign are required' }, 400);
    if (number.endsWith('0002')) return json({ success: false, data: null, message: 'Validation error: number is invalid' }, 400);
    const id = Math.floor(Math.random() * 1e9);
    this.#sent.set(String(id), { status: number.endsWith('0000') ? '3' : number.endsWith('0007') ? '2' : '1', err: '', number });
    return json({ success: true, data: { id, number, count: 1, sign: body.sign, channel: body.channel, text: body.text, status: 1, extendStatus: 'moderation' }, message: null });
  }

  #devino(path: string, authorization: string | undefined, body: { messages: Record<string, unknown>[] }) {
    const json = (b: unknown, status = 200) => ({ status, body: JSON.stringify(b), type: 'application/json' });
    if (authorization !== `Key ${this.#credentials.password}`) return json({ error: 'unauthorized' }, 401);
    if (path !== '/sms/messages') return json({ error: 'not found' }, 404);
    const m = body.messages[0]!;
    const to = String(m.to ?? '');
    const fault = this.#fault(to);
    if (fault) return fault;
    if (typeof m.from !== 'string' || m.from === '') return json({ result: [{ code: 'REJECTED', messageId: null, reasons: [{ key: 'from', ref: 'sender is required' }] }] });
    if (to.endsWith('0002')) return json({ result: [{ code: 'REJECTED', messageId: null, reasons: [{ key: 'invalid_phone' }] }] });
    const messageId = randomBytes(8).toString('hex');
    if (typeof m.callbackUrl === 'string') {
      const report = to.endsWith('0000') ? { messageId, status: 'UNDELIVERED', errorCode: '1' } : { messageId, status: 'DELIVERED' };
      this.#post(m.callbackUrl, JSON.stringify({ result: [report] }), 'application/json');
    }
    return json({ result: [{ code: 'OK', messageId }] });
  }

  #smstraffic(path: string, f: Record<string, string>) {
    const xml = (result: string, code: number, description: string, extra = '') => ({
      status: 200,
      body: `<?xml version="1.0"?>\n<reply>\n<result>${result}</result>\n<code>${code}</code>\n<description>${description}</description>\n${extra}</reply>\n`,
      type: 'text/xml',
    });
    if (path !== '/multi.php') return { status: 404, body: '', type: 'text/plain' };
    if (f.login !== this.#credentials.login || f.password !== this.#credentials.password) return xml('ERROR', 401, 'Wrong login or password');
    if (f.operation === 'status') {
      const known = this.#sent.get(f.sms_id ?? '');
      if (!known) return xml('ERROR', 1, 'no such message or this message does not belong to you');
      const date = new Date().toISOString().slice(0, 19).replace('T', ' ');
      const status = this.#interim(f.sms_id!) ? 'Buffered SMSC' : known.status;
      return {
        status: 200,
        body: `<?xml version="1.0"?>\n<reply>\n<submition_date>${date}</submition_date>\n<send_date>${date}</send_date>\n<last_status_change_date>${date}</last_status_change_date>\n<sms_id>${f.sms_id}</sms_id>\n<status>${status}</status>\n<error></error>\n</reply>\n`,
        type: 'text/xml',
      };
    }
    const phone = f.phones ?? '';
    const fault = this.#fault(phone);
    if (fault) return fault;
    if (phone.endsWith('0002')) return xml('ERROR', 402, 'Invalid phone number');
    const id = String(Math.floor(Math.random() * 1e9));
    this.#sent.set(id, { status: phone.endsWith('0000') ? 'Non Delivered' : phone.endsWith('0003') ? 'Expired' : 'Delivered', err: '' });
    return xml('OK', 0, 'queued 1 messages', `<message_infos>\n<message_info>\n<phone>${phone}</phone>\n<sms_id>${id}</sms_id>\n</message_info>\n</message_infos>\n`);
  }

  /** Counts a status request about `id`; true while it is to be answered interim. */
  #interim(id: string): boolean {
    const n = (this.statusRequests.get(id) ?? 0) + 1;
    this.statusRequests.set(id, n);
    return this.holdStatus || n <= this.interimPolls;
  }

  #fault(number: string) {
    if (number.endsWith('0005')) return { status: 500, body: 'internal error', type: 'text/plain' };
    if (number.endsWith('0009')) return { status: 429, body: 'too many requests', type: 'text/plain' };
    return undefined;
  }

  /** Posts a status report after the reply, as aggregators do; records how it was answered. */
  #post(url: string, body: string, type: string): void {
    setImmediate(() => {
      void fetch(url, { method: 'POST', headers: { 'content-type': type }, body }).then(
        async (res) => this.#record({ url, status: res.status, body: await res.text() }),
        () => this.#record({ url, status: 0, body: '' }),
      );
    });
  }

  #record(c: FakeCallback): void {
    this.callbacks.push(c);
    for (const l of [...this.#onCallback]) l(c);
  }
}
