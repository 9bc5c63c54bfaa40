/**
 * One SMPP connection, either side: our connector bound to an operator's
 * SMSC, or a customer bound to our SMPP server. The session owns sequence
 * numbers, the window, response timeouts, keep-alive and unbinding; the owner
 * sends requests with `request()` and answers the peer's requests through its
 * handler. What a PDU means (bind modes, which commands a side may send) is
 * the owner's business.
 *
 * Failures say whether a retry can help: a request that timed out or was cut
 * off by a closing session rejects with `retryable = true`, because the peer
 * may never have seen it. (It may also have seen it: an operator that acts on
 * a submit_sm and then loses the link causes a duplicate on retry, which SMPP
 * cannot prevent.) A response with a non-zero command_status still resolves:
 * the caller decides what ESME_RTHROTTLED or ESME_RINVDSTADR means to it.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { PduReader } from './framing.ts';
import { CommandStatus, describeStatus, encodePdu, isResponseId, isTemporaryStatus, responseCommand } from './pdu.ts';
import type { AnyPduInit, DecodeResult, Pdu, PduInit, PduOf, RequestCommand, ResponseCommand, ResponseTo } from './pdu.ts';

export type BindMode = 'transmitter' | 'receiver' | 'transceiver';
export type BindCommand = `bind_${BindMode}`;

/** Why a session closed. */
export type SmppCloseReason =
  | 'local' // close() was called
  | 'unbind' // we unbound
  | 'peer_unbind' // the peer unbound
  | 'peer_closed' // the peer closed the connection without unbinding
  | 'peer_silent' // no answer to enquire_link within the response timeout
  | 'protocol_error' // the peer sent a PDU with an impossible command_length
  | 'socket_error'
  | 'bind_failed'
  | 'bind_timeout';

export interface SmppCloseInfo {
  reason: SmppCloseReason;
  error?: Error | undefined;
}

/** Something the owner may want to log; the session has already dealt with it. */
export interface SmppWarning {
  kind: 'malformed_pdu' | 'unexpected_response' | 'handler_failed' | 'request_dropped';
  message: string;
  error?: unknown;
}

/** Base of every error the session rejects with; `retryable` says whether the same request may succeed later. */
export class SmppError extends Error {
  readonly retryable: boolean;
  /** the command_status the peer answered, when the error comes from one */
  readonly commandStatus: number | undefined;

  constructor(message: string, options: { retryable: boolean; commandStatus?: number | undefined; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'SmppError';
    this.retryable = options.retryable;
    this.commandStatus = options.commandStatus;
  }
}

/** The session closed before the request was answered (or before it was even written). */
export class SmppSessionClosedError extends SmppError {
  readonly reason: SmppCloseReason;

  constructor(reason: SmppCloseReason, cause?: Error) {
    super(`SMPP session closed (${reason})${cause ? `: ${cause.message}` : ''}`, { retryable: true, cause });
    this.name = 'SmppSessionClosedError';
    this.reason = reason;
  }
}

/** No response within the response timeout; the window slot is free again. */
export class SmppTimeoutError extends SmppError {
  constructor(message: string) {
    super(message, { retryable: true });
    this.name = 'SmppTimeoutError';
  }
}

/** The peer answered with a response that does not parse. */
export class SmppProtocolError extends SmppError {
  constructor(message: string) {
    super(message, { retryable: true });
    this.name = 'SmppProtocolError';
  }
}

/**
 * A bind was refused, e.g. "cannot bind: invalid password (ESME_RINVPASWD,
 * 0x0000000e)". Wrong credentials do not fix themselves: only a temporary
 * status or a generic ESME_RBINDFAIL (often "too many binds") is retryable.
 */
export class SmppBindError extends SmppError {
  constructor(commandStatus: number) {
    const retryable = isTemporaryStatus(commandStatus) || commandStatus === CommandStatus.ESME_RBINDFAIL;
    super(`cannot bind: ${describeStatus(commandStatus)}`, { retryable, commandStatus });
    this.name = 'SmppBindError';
  }
}

/** Requests of the peer that reach the handler; enquire_link and unbind are answered by the session. */
export type HandledCommand = Exclude<RequestCommand, 'enquire_link' | 'unbind'> | 'outbind' | 'alert_notification';
export type IncomingRequest = { [C in HandledCommand]: PduOf<C> }[HandledCommand];

/** An answer to the peer: the request's `_resp` (or generic_nack); the session fills in the sequence number. */
export type Reply = { [C in ResponseCommand | 'generic_nack']: Omit<PduInit<C>, 'sequence'> }[ResponseCommand | 'generic_nack'];

/**
 * Answers one request of the peer. Requests are handed over as they arrive,
 * without waiting for earlier ones to be answered, so a slow handler (one that
 * stores the message first) does not hold up the rest. Throwing, or returning
 * nothing for a request that needs an answer, answers ESME_RSYSERR, which the
 * peer retries. outbind and alert_notification take no answer. Once the
 * session is unbinding (either side began it) requests are no longer handed
 * over: they are answered ESME_RTHROTTLED.
 */
export type RequestHandler = (request: IncomingRequest, session: SmppSession) => Reply | void | Promise<Reply | void>;

export interface SmppSessionOptions {
  /** requests written and not yet answered, at most; further ones wait in FIFO order; default 10 */
  windowSize?: number;
  /** per request, and for enquire_link and unbind; default 30,000 */
  responseTimeoutMs?: number;
  /** send enquire_link after this long without hearing from the peer; 0 turns it off; default 30,000 */
  enquireLinkIntervalMs?: number;
  /** the peer's requests being handled at once; beyond it they are answered ESME_RTHROTTLED; default 100 */
  maxIncomingInFlight?: number;
  /** largest PDU accepted from the peer, default 68 KiB (framing.ts) */
  maxPduBytes?: number;
  /**
   * The handler for the peer's requests. Give it here rather than through
   * onRequest() later: a request that arrives while there is none is
   * answered ESME_RSYSERR.
   */
  onRequest?: RequestHandler | undefined;
}

/** What a bind established; set by bindClient and acceptBind. */
export interface SmppBindInfo {
  mode: BindMode;
  /** the ESME's system_id: our login on the client side, the customer's on the server side */
  systemId: string;
  /** system_id in the bind_resp */
  smscSystemId: string;
  /** the peer's SMPP version (interface_version of the bind, sc_interface_version of its response), when it said */
  interfaceVersion: number | undefined;
}

export type SmppSessionEvents = {
  close: [SmppCloseInfo];
  warning: [SmppWarning];
};

/**
 * Of the open sessions that `accept` takes, the one with the fewest requests
 * in flight and queued: where the next request waits least.
 */
export function leastBusy(sessions: Iterable<SmppSession>, accept: (session: SmppSession) => boolean): SmppSession | undefined {
  let best: SmppSession | undefined;
  for (const s of sessions) {
    if (s.state !== 'open' || !accept(s)) continue;
    if (!best || s.inFlight + s.queued < best.inFlight + best.queued) best = s;
  }
  return best;
}

/** The sequence number after `current`: 1..0x7FFFFFFF, wrapping (the spec reserves the top half). */
export function nextSequence(current: number): number {
  return current >= 0x7fffffff || current < 1 ? 1 : current + 1;
}

interface Queued {
  command: RequestCommand;
  bytes: Buffer;
  timeoutMs: number;
  resolve: (pdu: Pdu) => void;
  reject: (err: Error) => void;
}

interface Pending {
  expect: ResponseCommand;
  /** counts against the window (false for keep-alive and unbind) */
  windowed: boolean;
  timer: NodeJS.Timeout;
  resolve: (pdu: Pdu) => void;
  reject: (err: Error) => void;
}

let closeWith: (session: SmppSession, reason: SmppCloseReason, error?: Error) => Promise<void>;

export class SmppSession extends EventEmitter<SmppSessionEvents> {
  readonly windowSize: number;
  readonly responseTimeoutMs: number;
  /** set once a bind succeeds through bindClient or acceptBind */
  bind: SmppBindInfo | undefined;
  readonly #socket: net.Socket;
  readonly #reader: PduReader;
  readonly #enquireLinkIntervalMs: number;
  readonly #maxIncoming: number;
  #handler: RequestHandler | undefined;
  #state: 'open' | 'unbinding' | 'closed' = 'open';
  #closeInfo: SmppCloseInfo | undefined;
  readonly #closed: Promise<void>;
  #markClosed: () => void = () => {};
  #sequence = 0;
  #queue: (Queued | undefined)[] = [];
  #queueHead = 0;
  readonly #pending = new Map<number, Pending>();
  #inFlight = 0;
  #incoming = 0;
  #idleWaiters: (() => void)[] = [];
  #congested = false;
  #corked = false;
  #lastReceivedAt = Date.now();
  #keepaliveTimer: NodeJS.Timeout | undefined;
  #enquiring = false;
  #socketError: Error | undefined;
  #closeEmitted = false;
  /** why request() refuses while unbinding */
  #stopReason: SmppCloseReason = 'unbind';

  static {
    closeWith = (session, reason, error) => {
      session.#finish(reason, error);
      return session.#closed;
    };
  }

  constructor(socket: net.Socket, options: SmppSessionOptions = {}) {
    super();
    this.windowSize = Math.max(1, options.windowSize ?? 10);
    this.responseTimeoutMs = options.responseTimeoutMs ?? 30_000;
    this.#enquireLinkIntervalMs = options.enquireLinkIntervalMs ?? 30_000;
    this.#maxIncoming = Math.max(1, options.maxIncomingInFlight ?? 100);
    this.#handler = options.onRequest;
    this.#socket = socket;
    this.#reader = new PduReader({ maxPduBytes: options.maxPduBytes });
    this.#closed = new Promise<void>((resolve) => (this.#markClosed = resolve));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => {
      this.#congested = false;
      this.#pump();
    });
    socket.on('end', () => this.#finish('peer_closed'));
    socket.on('error', (err) => {
      this.#socketError ??= err;
      this.#finish('socket_error', err);
    });
    socket.on('close', () => this.#onSocketClose());
    if (socket.destroyed) queueMicrotask(() => this.#onSocketClose());
    if (this.#enquireLinkIntervalMs > 0) this.#armKeepalive(this.#enquireLinkIntervalMs);
  }

  /** requests written and not answered yet (keep-alive and unbind not counted) */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** requests waiting for a window slot */
  get queued(): number {
    return this.#queue.length - this.#queueHead;
  }

  /** the peer's requests whose handler has not answered yet */
  get incomingInFlight(): number {
    return this.#incoming;
  }

  get state(): 'open' | 'unbinding' | 'closed' {
    return this.#state;
  }

  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }

  /** Replaces the handler for the peer's requests; undefined answers them ESME_RSYSERR. */
  onRequest(handler: RequestHandler | undefined): void {
    this.#handler = handler;
  }

  /**
   * Sends a request once a window slot is free and resolves with the peer's
   * response, whatever its command_status (generic_nack included). Rejects
   * with SmppTimeoutError or SmppSessionClosedError (both retryable), or at
   * once with a RangeError when a field cannot be encoded. `sequence` is
   * assigned by the session. The queue has no cap of its own: `queued` is
   * there for the owner to stop feeding a session that falls behind.
   */
  request<C extends RequestCommand>(pdu: PduInit<C>, options: { timeoutMs?: number } = {}): Promise<ResponseTo<C>> {
    if (this.#state !== 'open') return Promise.reject(new SmppSessionClosedError(this.#closeInfo?.reason ?? this.#stopReason));
    let bytes: Buffer;
    try {
      bytes = encodePdu({ ...pdu, sequence: 0 } as AnyPduInit);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise<ResponseTo<C>>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.responseTimeoutMs;
      this.#queue.push({ command: pdu.command, bytes, timeoutMs, resolve: resolve as (pdu: Pdu) => void, reject });
      this.#pump();
    });
  }

  /** Sends a PDU that takes no response (outbind, alert_notification); throws SmppSessionClosedError once closed. */
  send(pdu: PduInit<'outbind'> | PduInit<'alert_notification'>): void {
    if (this.#state === 'closed') throw new SmppSessionClosedError(this.#closeInfo?.reason ?? 'local');
    this.#write(encodePdu({ ...pdu, sequence: this.#nextSequence() } as AnyPduInit));
  }

  /**
   * Ends the session gracefully: requests still queued are rejected (never
   * sent, so safe to retry elsewhere), requests in flight and the peer's
   * requests being handled get up to the response timeout to finish, then
   * unbind is sent and the socket closed on unbind_resp or after the timeout.
   * Requests of the peer that arrive from the start of unbind() on are not
   * handed to the handler: they are answered ESME_RTHROTTLED (temporary), so
   * that nothing the peer is owed an answer for is started and then cut off
   * by the close; the peer sends them again, on another bind.
   * Resolves when the socket has closed.
   */
  async unbind(): Promise<void> {
    if (this.#state !== 'open') return this.#closed;
    this.#state = 'unbinding';
    this.#rejectQueued(new SmppSessionClosedError('unbind'));
    await this.#whenIdle(this.responseTimeoutMs);
    try {
      await this.#control({ command: 'unbind' });
    } catch {
      // no unbind_resp in time, or the peer closed first: closing is what we wanted anyway
    }
    this.#finish('unbind');
    return this.#closed;
  }

  /** Closes at once: every queued and in-flight request rejects with SmppSessionClosedError. Resolves when the socket has closed. */
  close(): Promise<void> {
    this.#finish('local');
    return this.#closed;
  }

  // ── outgoing ──

  #nextSequence(): number {
    do this.#sequence = nextSequence(this.#sequence);
    while (this.#pending.has(this.#sequence));
    return this.#sequence;
  }

  #pump(): void {
    while (this.#state === 'open' && !this.#congested && this.#inFlight < this.windowSize && this.#queueHead < this.#queue.length) {
      const item = this.#queue[this.#queueHead]!;
      this.#queue[this.#queueHead++] = undefined;
      if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#queueHead);
        this.#queueHead = 0;
      }
      this.#inFlight++;
      this.#dispatch(item.bytes, item.command, item.timeoutMs, true, item.resolve, item.reject);
    }
  }

  #dispatch(bytes: Buffer, command: RequestCommand, timeoutMs: number, windowed: boolean, resolve: (pdu: Pdu) => void, reject: (err: Error) => void): void {
    const sequence = this.#nextSequence();
    bytes.writeUInt32BE(sequence, 12);
    const timer = setTimeout(() => {
      if (this.#pending.get(sequence)?.timer !== timer) return;
      this.#settle(sequence);
      reject(new SmppTimeoutError(`no ${command}_resp within ${timeoutMs} ms (sequence ${sequence})`));
    }, timeoutMs);
    this.#pending.set(sequence, { expect: responseCommand(command), windowed, timer, resolve, reject });
    this.#write(bytes);
  }

  /** A request outside the window (keep-alive, unbind): it must go out even when the window is full. */
  #control(pdu: PduInit<'enquire_link'> | PduInit<'unbind'>): Promise<Pdu> {
    if (this.#state === 'closed') return Promise.reject(new SmppSessionClosedError(this.#closeInfo!.reason));
    return new Promise((resolve, reject) => {
      this.#dispatch(encodePdu(pdu), pdu.command, this.responseTimeoutMs, false, resolve, reject);
    });
  }

  /** Forgets an answered or timed-out request and frees its window slot. */
  #settle(sequence: number): Pending | undefined {
    const pending = this.#pending.get(sequence);
    if (pending === undefined) return undefined;
    this.#pending.delete(sequence);
    clearTimeout(pending.timer);
    if (pending.windowed) {
      this.#inFlight--;
      this.#checkIdle();
      this.#pump();
    }
    return pending;
  }

  #write(bytes: Buffer): void {
    const socket = this.#socket;
    if (!socket.writable) return;
    // Cork for the rest of the tick: a burst of responses or requests goes out in one write.
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    if (!socket.write(bytes)) this.#congested = true;
  }

  #rejectQueued(err: Error): void {
    const queued = this.#queue;
    const head = this.#queueHead;
    this.#queue = [];
    this.#queueHead = 0;
    for (let i = head; i < queued.length; i++) queued[i]!.reject(err);
  }

  // ── incoming ──

  #onData(chunk: Buffer): void {
    this.#lastReceivedAt = Date.now();
    for (const result of this.#reader.push(chunk)) {
      if (this.#state === 'closed') return;
      this.#onResult(result);
    }
  }

  #onResult(result: DecodeResult): void {
    if (!result.ok) {
      const { error } = result;
      this.#warn('malformed_pdu', error.reason);
      if (isResponseId(error.commandId) && !error.fatal) {
        const pending = this.#settle(error.sequence);
        pending?.reject(new SmppProtocolError(`unreadable response: ${error.reason}`));
        return;
      }
      this.#write(encodePdu({ command: 'generic_nack', sequence: error.sequence, status: error.status }));
      if (error.fatal) this.#finish('protocol_error', new SmppProtocolError(error.reason));
      return;
    }
    const pdu = result.pdu;
    if (isResponse(pdu)) {
      const pending = this.#pending.get(pdu.sequence);
      if (pending === undefined || (pdu.command !== 'generic_nack' && pdu.command !== pending.expect)) {
        this.#warn('unexpected_response', `${pdu.command} with sequence ${pdu.sequence} answers no request of ours`);
        return;
      }
      this.#settle(pdu.sequence);
      pending.resolve(pdu);
      return;
    }
    if (pdu.command === 'enquire_link') {
      this.#write(encodePdu({ command: 'enquire_link_resp', sequence: pdu.sequence }));
      return;
    }
    if (pdu.command === 'unbind') {
      void this.#onPeerUnbind(pdu.sequence);
      return;
    }
    void this.#handle(pdu as IncomingRequest);
  }

  async #handle(request: IncomingRequest): Promise<void> {
    const noAnswer = request.command === 'outbind' || request.command === 'alert_notification';
    const expect = noAnswer ? undefined : responseCommand(request.command);
    // Not started, answered "throttled" (the peer sends it again): while unbinding, since the close could cut its
    // answer off, and beyond the peer's window.
    const refusal = this.#state !== 'open' ? 'the session is unbinding' : this.#incoming >= this.#maxIncoming ? `${this.#incoming} requests of the peer are being handled` : undefined;
    if (refusal !== undefined) {
      if (expect !== undefined) this.#reply(request.sequence, { command: expect, status: CommandStatus.ESME_RTHROTTLED });
      else this.#warn('request_dropped', `${request.command} dropped: ${refusal}`);
      return;
    }
    this.#incoming++;
    let reply: Reply | void;
    try {
      reply = this.#handler ? await this.#handler(request, this) : undefined;
      if (expect !== undefined && (reply === undefined || (reply.command !== expect && reply.command !== 'generic_nack'))) {
        throw new Error(reply ? `handler answered ${request.command} with ${reply.command}` : `handler gave no answer to ${request.command}`);
      }
    } catch (err) {
      this.#warn('handler_failed', `${request.command} (sequence ${request.sequence}): ${(err as Error).message}`, err);
      reply = expect === undefined ? undefined : { command: expect, status: CommandStatus.ESME_RSYSERR };
    } finally {
      this.#incoming--;
      this.#checkIdle();
    }
    if (reply && expect !== undefined) this.#reply(request.sequence, reply, expect);
  }

  #reply(sequence: number, reply: Reply, fallback?: ResponseCommand): void {
    if (this.#state === 'closed') return;
    let bytes: Buffer;
    try {
      bytes = encodePdu({ ...reply, sequence } as AnyPduInit);
    } catch (err) {
      this.#warn('handler_failed', `cannot encode ${reply.command}: ${(err as Error).message}`, err);
      bytes = encodePdu({ command: fallback ?? 'generic_nack', sequence, status: CommandStatus.ESME_RSYSERR });
    }
    this.#write(bytes);
  }

  /** The peer's own requests get their answers before unbind_resp, so nothing it is owed is lost. */
  async #onPeerUnbind(sequence: number): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'unbinding';
    this.#stopReason = 'peer_unbind';
    this.#rejectQueued(new SmppSessionClosedError('peer_unbind'));
    await this.#whenIdle(this.responseTimeoutMs, true);
    this.#reply(sequence, { command: 'unbind_resp' });
    this.#finish('peer_unbind');
  }

  // ── keep-alive, idleness, closing ──

  #armKeepalive(delayMs: number): void {
    this.#keepaliveTimer = setTimeout(() => this.#keepaliveTick(), delayMs);
  }

  #keepaliveTick(): void {
    if (this.#state === 'closed') return;
    const quietMs = Date.now() - this.#lastReceivedAt;
    if (quietMs < this.#enquireLinkIntervalMs) return this.#armKeepalive(this.#enquireLinkIntervalMs - quietMs);
    if (!this.#enquiring) {
      this.#enquiring = true;
      this.#control({ command: 'enquire_link' }).then(
        () => (this.#enquiring = false),
        (err: Error) => {
          this.#enquiring = false;
          if (err instanceof SmppTimeoutError) this.#finish('peer_silent', err);
        },
      );
    }
    this.#armKeepalive(this.#enquireLinkIntervalMs);
  }

  #whenIdle(timeoutMs: number, incomingOnly = false): Promise<void> {
    const idle = () => this.#state === 'closed' || (this.#incoming === 0 && (incomingOnly || this.#inFlight === 0));
    if (idle()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const waiter = () => {
        if (idle()) done();
        else this.#idleWaiters.push(waiter);
      };
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#idleWaiters.push(waiter);
    });
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const waiter of waiters) waiter();
  }

  #finish(reason: SmppCloseReason, error?: Error): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closeInfo = { reason, error };
    clearTimeout(this.#keepaliveTimer);
    const closedError = new SmppSessionClosedError(reason, error);
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#inFlight = 0;
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(closedError);
    }
    this.#rejectQueued(closedError);
    this.#checkIdle();
    const socket = this.#socket;
    if (socket.destroyed) return;
    // end() lets a final generic_nack or unbind_resp reach the peer; destroy if it never closes its side.
    socket.end();
    const timer = setTimeout(() => socket.destroy(), Math.min(this.responseTimeoutMs, 5_000));
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  #onSocketClose(): void {
    this.#finish(this.#socketError ? 'socket_error' : 'peer_closed', this.#socketError);
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    this.#markClosed();
    this.emit('close', this.#closeInfo!);
  }

  #warn(kind: SmppWarning['kind'], message: string, error?: unknown): void {
    this.emit('warning', error === undefined ? { kind, message } : { kind, message, error });
  }
}

function isResponse(pdu: Pdu): boolean {
  return pdu.command === 'generic_nack' || pdu.command.endsWith('_resp');
}

// ── binding ──────────────────────────────────────────────────────────────────

export interface BindClientOptions extends SmppSessionOptions {
  host: string;
  port: number;
  systemId: string;
  password: string;
  /** default '' */
  systemType?: string;
  mode: BindMode;
  /** default 0x34 */
  interfaceVersion?: number;
  addrTon?: number;
  addrNpi?: number;
  /** default '' */
  addressRange?: string;
  /** default 10,000 */
  connectTimeoutMs?: number;
}

/**
 * Connects and binds. Resolves to a bound session (its `bind` filled in);
 * rejects with SmppBindError carrying the bind_resp command_status (so a
 * caller can say "cannot bind: invalid password"), or with
 * SmppSessionClosedError / SmppTimeoutError when the connection or the bind
 * response does not come.
 */
export async function bindClient(options: BindClientOptions): Promise<SmppSession> {
  const socket = await connect(options.host, options.port, options.connectTimeoutMs ?? 10_000);
  const session = new SmppSession(socket, options);
  const command: BindCommand = `bind_${options.mode}`;
  let resp;
  try {
    resp = await session.request({
      command,
      systemId: options.systemId,
      password: options.password,
      systemType: options.systemType ?? '',
      interfaceVersion: options.interfaceVersion ?? 0x34,
      addrTon: options.addrTon ?? 0,
      addrNpi: options.addrNpi ?? 0,
      addressRange: options.addressRange ?? '',
    });
  } catch (err) {
    await closeWith(session, err instanceof SmppTimeoutError ? 'bind_timeout' : 'bind_failed', err as Error);
    throw err;
  }
  if (resp.status !== CommandStatus.ESME_ROK) {
    const err = new SmppBindError(resp.status);
    await closeWith(session, 'bind_failed', err);
    throw err;
  }
  session.bind = {
    mode: options.mode,
    systemId: options.systemId,
    smscSystemId: resp.command === 'generic_nack' ? '' : resp.systemId,
    interfaceVersion: resp.tlvs.scInterfaceVersion,
  };
  return session;
}

function connect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => fail(new Error(`connect timeout after ${timeoutMs} ms`)), timeoutMs);
    function fail(err: Error) {
      clearTimeout(timer);
      socket.destroy();
      reject(new SmppSessionClosedError('socket_error', new Error(`cannot connect to ${host}:${port}: ${err.message}`, { cause: err })));
    }
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

export type BindRequest = PduOf<BindCommand>;

export interface AcceptBindOptions extends SmppSessionOptions {
  /**
   * Decides a bind: resolve ESME_ROK to accept it, or the status to refuse it
   * with (ESME_RINVPASWD, ESME_RINVSYSID, ESME_RBINDFAIL…). Throwing refuses
   * with ESME_RSYSERR. `session.remoteAddress` is there for IP allowlists.
   */
  authenticate: (bind: BindRequest, session: SmppSession) => number | Promise<number>;
  /** our system_id in bind_resp, default '' */
  systemId?: string;
  /** how long a fresh connection may take to bind, default 30,000 */
  bindTimeoutMs?: number;
}

/**
 * Server side of a bind: waits for the first bind on an accepted socket, lets
 * `authenticate` decide, and answers bind_resp. Resolves with the bound
 * session (its `bind` filled in, `onRequest` installed before any later PDU
 * is read); on refusal, timeout or loss of the connection the socket is
 * closed and the promise rejects (SmppBindError with the status we refused
 * with, SmppTimeoutError, SmppSessionClosedError). Before the bind, other
 * requests are answered ESME_RINVBNDSTS.
 */
export function acceptBind(socket: net.Socket, options: AcceptBindOptions): Promise<SmppSession> {
  const session = new SmppSession(socket, { ...options, onRequest: undefined });
  return new Promise((resolve, reject) => {
    let settled = false;
    let binding = false;
    const settle = (err: Error | undefined, reason?: SmppCloseReason) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.off('close', onClose);
      // After the tick, once the bind_resp is written: the owner's first PDU must not overtake it.
      setImmediate(() => {
        if (err === undefined && session.state === 'closed') return reject(new SmppSessionClosedError('peer_closed'));
        if (err === undefined) return resolve(session);
        void closeWith(session, reason ?? 'bind_failed', err);
        reject(err);
      });
    };
    const bindTimeoutMs = options.bindTimeoutMs ?? 30_000;
    const timer = setTimeout(() => settle(new SmppTimeoutError(`no bind within ${bindTimeoutMs} ms`), 'bind_timeout'), bindTimeoutMs);
    const onClose = (info: SmppCloseInfo) => settle(new SmppSessionClosedError(info.reason, info.error));
    session.on('close', onClose);
    session.onRequest(async (request): Promise<Reply | void> => {
      if (request.command === 'outbind' || request.command === 'alert_notification') return;
      const expect = responseCommand(request.command);
      if (request.command !== 'bind_transmitter' && request.command !== 'bind_receiver' && request.command !== 'bind_transceiver') {
        return { command: expect, status: CommandStatus.ESME_RINVBNDSTS };
      }
      if (binding) return { command: expect, status: CommandStatus.ESME_RALYBND };
      binding = true;
      let status: number;
      try {
        status = await options.authenticate(request, session);
      } catch {
        status = CommandStatus.ESME_RSYSERR;
      }
      if (settled) return { command: expect, status: CommandStatus.ESME_RBINDFAIL };
      const systemId = options.systemId ?? '';
      if (status !== CommandStatus.ESME_ROK) {
        settle(new SmppBindError(status));
        return { command: expect, status, systemId };
      }
      session.bind = {
        mode: request.command.slice('bind_'.length) as BindMode,
        systemId: request.systemId,
        smscSystemId: systemId,
        interfaceVersion: request.interfaceVersion,
      };
      session.onRequest(options.onRequest);
      settle(undefined);
      return { command: expect, systemId, tlvs: request.interfaceVersion >= 0x34 ? { scInterfaceVersion: 0x34 } : {} };
    });
  });
}
