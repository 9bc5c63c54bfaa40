import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A loopback FreeSWITCH event socket (mod_event_socket, inbound) speaking
 * the wire protocol: `auth/request` first, `auth` (+OK accepted / -ERR
 * invalid and close), `event plain|json …`, `filter`, `api` (uuid_exists;
 * unknown commands -ERR), `bgapi` (+OK Job-UUID, our Job-UUID honoured) and
 * the events of an originated call: CHANNEL_PROGRESS, CHANNEL_ANSWER,
 * BACKGROUND_JOB (+OK <uuid> / -ERR <CAUSE>), CHANNEL_HANGUP_COMPLETE with
 * Hangup-Cause. Event frames put Content-Length before Content-Type and are
 * written in two chunks, as TCP may split them.
 *
 * What a call does depends on the number's last four digits: 0017 USER_BUSY,
 * 0019 rings then NO_ANSWER, 0001 UNALLOCATED_NUMBER, 0021 CALL_REJECTED,
 * 0041 NORMAL_TEMPORARY_FAILURE on its first attempt (then answered), 0099
 * answered and held until `hangup()`; anything else is answered and cleared
 * (NORMAL_CLEARING) after `callMs`.
 */
export interface FakeCall {
  uuid: string;
  number: string;
  command: string;
  vars: Record<string, string>;
  /** the app and its argument: speak(flite|kal|text), playback(/path) */
  app: string;
  answered: boolean;
  ended: boolean;
}

interface Client {
  socket: Socket;
  authed: boolean;
  format: 'plain' | 'json' | undefined;
  events: Set<string>;
  filters: [string, string][];
  buffer: Buffer;
}

export class FakeFreeSwitch {
  readonly password: string;
  /** every command line received, auth included */
  readonly commands: string[] = [];
  readonly calls = new Map<string, FakeCall>();
  /** how long an answered call plays before it is cleared */
  callMs = 20;
  /** when set, the next bgapi is answered -ERR with this text */
  refuseNextBgapi: string | undefined;
  readonly #server: Server;
  readonly #clients = new Set<Client>();
  readonly #attempts = new Map<string, number>();
  #onAuth: (() => void)[] = [];
  #onCall: ((c: FakeCall) => void)[] = [];

  constructor(password = 'ClueCon') {
    this.password = password;
    this.#server = createServer((socket) => this.#accept(socket));
  }

  async start(port = 0): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(port, '127.0.0.1', resolve));
    return (this.#server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Closes every client connection at once (FreeSWITCH restarted, the network dropped). */
  dropAll(): void {
    for (const c of this.#clients) c.socket.destroy();
    this.#clients.clear();
  }

  /** Connections authenticated now. */
  get connected(): number {
    return [...this.#clients].filter((c) => c.authed && c.format !== undefined).length;
  }

  /** Resolves at the next successful auth + subscription. */
  nextSubscribed(): Promise<void> {
    return new Promise((resolve) => this.#onAuth.push(resolve));
  }

  /** Resolves with the next call originated. */
  nextCall(): Promise<FakeCall> {
    return new Promise((resolve) => this.#onCall.push(resolve));
  }

  /** Ends a held call as the callee hanging up. */
  hangup(uuid: string, cause = 'NORMAL_CLEARING'): void {
    const call = this.calls.get(uuid);
    if (!call || call.ended) return;
    this.#hangup(call, cause);
  }

  #accept(socket: Socket): void {
    const client: Client = { socket, authed: false, format: undefined, events: new Set(), filters: [], buffer: Buffer.alloc(0) };
    this.#clients.add(client);
    socket.on('close', () => this.#clients.delete(client));
    socket.on('error', () => {});
    socket.write('Content-Type: auth/request\n\n');
    socket.on('data', (chunk: Buffer) => {
      client.buffer = Buffer.concat([client.buffer, chunk]);
      for (;;) {
        const end = client.buffer.indexOf('\n\n');
        if (end < 0) break;
        const text = client.buffer.subarray(0, end).toString('utf8');
        client.buffer = client.buffer.subarray(end + 2);
        const [line = '', ...headerLines] = text.split('\n');
        const headers = Object.fromEntries(headerLines.map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
        this.commands.push(line);
        this.#command(client, line.trim(), headers);
      }
    });
  }

  #reply(client: Client, text: string, extra = ''): void {
    client.socket.write(`Content-Type: command/reply\nReply-Text: ${text}\n${extra}\n`);
  }

  #command(client: Client, line: string, headers: Record<string, string>): void {
    const [verb = '', ...rest] = line.split(' ');
    const args = rest.join(' ');
    if (!client.authed) {
      if (verb !== 'auth') return this.#reply(client, '-ERR command not found');
      if (args !== this.password) {
        this.#reply(client, '-ERR invalid');
        client.socket.end();
        return;
      }
      client.authed = true;
      return this.#reply(client, '+OK accepted');
    }
    switch (verb) {
      case 'event': {
        const [format, ...names] = rest;
        if (names.length === 0 || (format !== 'plain' && format !== 'json')) return this.#reply(client, '-ERR no keywords supplied');
        client.format = format;
        for (const n of names) client.events.add(n);
        this.#reply(client, `+OK event listener enabled ${format}`);
        for (const w of this.#onAuth.splice(0)) w();
        return;
      }
      case 'filter': {
        const [header = '', ...value] = rest;
        client.filters.push([header, value.join(' ')]);
        return this.#reply(client, `+OK filter added. [${header}]=[${value.join(' ')}]`);
      }
      case 'api':
        return this.#api(client, args);
      case 'bgapi':
        return this.#bgapi(client, args, headers['job-uuid'] ?? randomUUID());
      case 'exit':
        this.#reply(client, '+OK bye');
        client.socket.end();
        return;
      default:
        return this.#reply(client, '-ERR command not found');
    }
  }

  #api(client: Client, args: string): void {
    const [cmd = '', uuid = ''] = args.split(' ');
    let body: string;
    if (cmd === 'uuid_exists') body = String(this.calls.has(uuid) && !this.calls.get(uuid)!.ended);
    else body = `-ERR ${cmd} Command not found!\n`;
    client.socket.write(`Content-Type: api/response\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`);
  }

  #bgapi(client: Client, args: string, job: string): void {
    if (this.refuseNextBgapi !== undefined) {
      const text = this.refuseNextBgapi;
      this.refuseNextBgapi = undefined;
      return this.#reply(client, text);
    }
    this.#reply(client, `+OK Job-UUID: ${job}`, `Job-UUID: ${job}\n`);
    // originate {a=b,c=d}sofia/gateway/gw/79161234567 '&speak(flite|kal|text)'
    const m = /^originate \{([^}]*)\}(\S+) '&([^']*)'$/.exec(args);
    if (!m) return void setImmediate(() => this.#job(job, args, '-ERR INVALID_ARGS\n'));
    const vars = Object.fromEntries(m[1]!.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    const number = m[2]!.split('/').at(-1)!;
    const call: FakeCall = { uuid: vars.origination_uuid ?? randomUUID(), number, command: args, vars, app: m[3]!, answered: false, ended: false };
    this.calls.set(call.uuid, call);
    for (const w of this.#onCall.splice(0)) w(call);
    const attempt = (this.#attempts.get(number) ?? 0) + 1;
    this.#attempts.set(number, attempt);
    const tail = number.slice(-4);
    const fail = (cause: string) => {
      call.ended = true;
      this.#emit('CHANNEL_HANGUP_COMPLETE', this.#channel(call, { 'Hangup-Cause': cause, 'Answer-State': 'hangup', 'Caller-Channel-Answered-Time': '0' }));
      this.#job(job, args, `-ERR ${cause}\n`);
    };
    setImmediate(() => {
      if (tail === '0017') return fail('USER_BUSY');
      if (tail === '0001') return fail('UNALLOCATED_NUMBER');
      if (tail === '0021') return fail('CALL_REJECTED');
      if (tail === '0041' && attempt === 1) return fail('NORMAL_TEMPORARY_FAILURE');
      this.#emit('CHANNEL_PROGRESS', this.#channel(call, { 'Answer-State': 'ringing' }));
      if (tail === '0019') return void setTimeout(() => fail('NO_ANSWER'), 10);
      setTimeout(() => {
        call.answered = true;
        this.#emit('CHANNEL_ANSWER', this.#channel(call, { 'Answer-State': 'answered' }));
        this.#job(job, args, `+OK ${call.uuid}\n`);
        if (tail !== '0099') setTimeout(() => this.#hangup(call, 'NORMAL_CLEARING'), this.callMs);
      }, 5);
    });
  }

  #hangup(call: FakeCall, cause: string): void {
    call.ended = true;
    this.#emit('CHANNEL_HANGUP_COMPLETE', this.#channel(call, { 'Hangup-Cause': cause, 'Answer-State': 'hangup', 'Caller-Channel-Answered-Time': call.answered ? String(Date.now() * 1000) : '0', variable_billsec: call.answered ? '3' : '0' }));
  }

  #channel(call: FakeCall, extra: Record<string, string>): Record<string, string> {
    const vars = Object.fromEntries(Object.entries(call.vars).map(([k, v]) => [`variable_${k}`, v]));
    return { 'Unique-ID': call.uuid, 'Channel-Call-UUID': call.uuid, 'Caller-Destination-Number': call.number, ...vars, ...extra };
  }

  #job(job: string, args: string, result: string): void {
    const [cmd = '', ...rest] = args.split(' ');
    this.#emit('BACKGROUND_JOB', { 'Job-UUID': job, 'Job-Command': cmd, 'Job-Command-Arg': rest.join(' ') }, result);
  }

  #emit(name: string, headers: Record<string, string>, body?: string): void {
    const all: Record<string, string> = { 'Event-Name': name, 'Core-UUID': 'fake-core', 'Event-Date-Timestamp': String(Date.now() * 1000), ...headers };
    for (const c of this.#clients) {
      if (!c.authed || !c.format || !c.events.has(name)) continue;
      if (c.filters.length > 0 && !c.filters.some(([h, v]) => all[h] === v)) continue;
      let payload: string;
      if (c.format === 'json') {
        payload = JSON.stringify(body === undefined ? all : { ...all, 'Content-Length': String(Buffer.byteLength(body)), _body: body });
      } else {
        const lines = Object.entries(all).map(([k, v]) => `${k}: ${encodeURIComponent(v)}\n`).join('');
        payload = body === undefined ? `${lines}\n` : `${lines}Content-Length: ${Buffer.byteLength(body)}\n\n${body}`;
      }
      const frame = Buffer.from(`Content-Length: ${Buffer.byteLength(payload)}\nContent-Type: text/event-${c.format}\n\n${payload}`);
      // Split in two writes, as TCP may deliver it.
      const cut = Math.floor(frame.length / 2);
      c.socket.write(frame.subarray(0, cut));
      c.socket.write(frame.subarray(cut));
    }
  }
}
