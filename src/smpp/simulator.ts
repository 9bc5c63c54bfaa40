import net from 'node:net';
import { parseUdh } from './concat.ts';
import { CommandStatus } from './pdu.ts';
import { formatReceipt, type ReceiptStatus } from './receipt.ts';
import { acceptBind, leastBusy, type IncomingRequest, type Reply, type SmppSession } from './session.ts';

/**
 * An SMSC simulator: what operators' SMSCs do, on loopback, for tests,
 * benchmarks and the demo configuration. It accepts binds, answers submits
 * after a delay, sends receipts later, and can be told to misbehave the ways
 * real SMSCs do: throttling, temporary and permanent errors, undelivered
 * receipts, dropped connections.
 */
export interface SimulatorOptions {
  host?: string;
  /** 0 picks a free port */
  port?: number;
  /** system_id → password; when unset every bind is accepted */
  accounts?: Record<string, string> | undefined;
  /** time from submit_sm to its response, default 0 */
  submitDelayMs?: number;
  /** time from submit_sm_resp to the receipt, default 100 */
  receiptDelayMs?: number;
  /** how message ids are written: `hex` in submit_sm_resp, `decimal` in receipts is a common real mix; default hex / hex */
  submitIdFormat?: 'hex' | 'decimal';
  receiptIdFormat?: 'hex' | 'decimal';
  /** share of submits answered 0x58 (throttled), 0..1 */
  throttleRate?: number;
  /** share of submits answered with a temporary error (0x08, 0x14 or 0x64) */
  temporaryErrorRate?: number;
  /** share of submits refused with a permanent error (0x45 submit failed) */
  permanentErrorRate?: number;
  /** share of accepted messages whose receipt says UNDELIV */
  undeliveredRate?: number;
  /** share of submits after which the connection is dropped without an answer */
  disconnectRate?: number;
  /** window for the simulator's own requests (receipts, MO) per session, default 100 */
  windowSize?: number;
  random?: () => number;
  /**
   * a status to answer a submit to this number with instead of accepting it (a test's chosen numbers), or undefined to go on;
   * `part` is the submit's place in a long message (from its UDH or SAR TLVs), null for a single-part one
   */
  refuse?: ((destinationAddr: string, part: { seq: number; total: number } | null) => number | undefined) | undefined;
  /** accepted submits to this number get no receipt (a test's chosen numbers) */
  withholdReceipt?: ((destinationAddr: string) => boolean) | undefined;
}

export interface SimulatedSubmit {
  messageId: string;
  systemId: string;
  sourceAddr: string;
  destinationAddr: string;
  dataCoding: number;
  esmClass: number;
  /** the short_message or message_payload octets, UDH included */
  body: Buffer;
  /** from the UDH or SAR TLVs; null for a single-part message */
  concat: { ref: number; total: number; seq: number } | null;
  registeredDelivery: number;
  /** as the ESME wrote it ("" for the SMSC default) */
  validityPeriod: string;
  at: number;
  /** which bind it came over: 1 for the first session bound to the simulator, 2 for the next… */
  bind: number;
}

/** A bind the simulator accepted. */
export interface SimulatedBind {
  /** 1 for the first session bound, 2 for the next… */
  bind: number;
  systemId: string;
  openedAt: number;
  /** when its session closed; null while open */
  closedAt: number | null;
  /** submit_sm received over it and not answered yet (the ESME's window in use, when submitDelayMs > 0) */
  outstanding: number;
  /** the most that ever were */
  maxOutstanding: number;
}

/** A receipt's deliver_sm as the simulator sent it over one bind (a requeued receipt is another one). */
export interface SimulatedReceipt {
  /** the submit it reports on (its `messageId` as the receipt writes it) */
  submit: SimulatedSubmit;
  /** which bind it went over */
  bind: number;
  at: number;
  /** when the ESME answered it, and how; null while unanswered, and for ever when the bind went first */
  answeredAt: number | null;
  status: number | null;
}

interface HeldReceipt {
  systemId: string;
  submit: SimulatedSubmit;
  status: ReceiptStatus;
}

export class SmscSimulator {
  readonly #options: Required<Omit<SimulatorOptions, 'accounts' | 'refuse' | 'withholdReceipt'>> & Pick<SimulatorOptions, 'accounts' | 'refuse' | 'withholdReceipt'>;
  readonly #server: net.Server;
  readonly #sessions = new Set<SmppSession>();
  readonly #bindRecords = new WeakMap<SmppSession, SimulatedBind>();
  #peakBound = 0;
  /** every bind accepted, in order (SimulatedSubmit.bind is its number) */
  readonly binds: SimulatedBind[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  /** receipts waiting for a receiving bind of their system_id */
  readonly #held: HeldReceipt[] = [];
  #nextId = 1;
  #closed = false;
  /** every submit accepted, in order (tests read it; benchmarks clear it) */
  readonly submits: SimulatedSubmit[] = [];
  readonly stats = { binds: 0, submits: 0, accepted: 0, refused: 0, receipts: 0, receiptsAcked: 0, disconnects: 0 };
  /** every receipt sent, in order, with the bind it went over and its answer (tests read it) */
  readonly receipts: SimulatedReceipt[] = [];
  /** set false to keep `submits` and `receipts` empty under load */
  recordSubmits = true;
  /** called as each receipt's deliver_sm goes out (benchmarks time what follows from here) */
  onReceipt: ((destinationAddr: string, status: ReceiptStatus, at: number) => void) | undefined;

  constructor(options: SimulatorOptions = {}) {
    this.#options = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      accounts: options.accounts,
      submitDelayMs: options.submitDelayMs ?? 0,
      receiptDelayMs: options.receiptDelayMs ?? 100,
      submitIdFormat: options.submitIdFormat ?? 'hex',
      receiptIdFormat: options.receiptIdFormat ?? 'hex',
      throttleRate: options.throttleRate ?? 0,
      temporaryErrorRate: options.temporaryErrorRate ?? 0,
      permanentErrorRate: options.permanentErrorRate ?? 0,
      undeliveredRate: options.undeliveredRate ?? 0,
      disconnectRate: options.disconnectRate ?? 0,
      windowSize: options.windowSize ?? 100,
      random: options.random ?? Math.random,
      refuse: options.refuse,
      withholdReceipt: options.withholdReceipt,
    };
    this.#server = net.createServer((socket) => void this.#accept(socket));
  }

  /** Starts listening; resolves with the port. */
  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host, () => resolve());
    });
    return (this.#server.address() as net.AddressInfo).port;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Sessions bound now. */
  /** the most binds that were ever open at once */
  get peakBound(): number {
    return this.#peakBound;
  }

  get bound(): number {
    return this.#sessions.size;
  }

  /** Changes a misbehaviour while running (e.g. start throttling in the middle of a test). */
  set(options: Partial<Pick<SimulatorOptions, 'throttleRate' | 'temporaryErrorRate' | 'permanentErrorRate' | 'undeliveredRate' | 'disconnectRate' | 'submitDelayMs' | 'receiptDelayMs'>>): void {
    Object.assign(this.#options, options);
  }

  /** Drops every connection without unbinding, as a network failure would. */
  dropConnections(): void {
    for (const session of this.#sessions) void session.close();
  }

  /**
   * Sends a mobile-originated message to a receiving bind of `systemId` (any
   * when unset); a long text goes as parts with an 8-bit UDH, in the order
   * given by `order` (part numbers from 1), so tests can shuffle them.
   */
  async sendMo(mo: { from: string; to: string; text: string; systemId?: string; partsText?: string[]; order?: number[]; ref?: number }): Promise<void> {
    const session = this.#receiverFor(mo.systemId);
    if (!session) throw new Error('no receiving bind');
    const parts = mo.partsText ?? [mo.text];
    const ucs2 = [...parts.join('')].some((c) => c.charCodeAt(0) > 0x7f);
    const encode = (t: string) => (ucs2 ? Buffer.from(t, 'utf16le').swap16() : Buffer.from(t, 'latin1'));
    const order = mo.order ?? parts.map((_, i) => i + 1);
    for (const seq of order) {
      const text = encode(parts[seq - 1]!);
      const udh = parts.length > 1 ? Buffer.from([5, 0, 3, (mo.ref ?? 7) & 0xff, parts.length, seq]) : Buffer.alloc(0);
      const resp = await session.request({
        command: 'deliver_sm',
        sourceAddr: mo.from,
        sourceAddrTon: 1,
        sourceAddrNpi: 1,
        destinationAddr: mo.to,
        esmClass: parts.length > 1 ? 0x40 : 0,
        dataCoding: ucs2 ? 8 : 0,
        shortMessage: Buffer.concat([udh, text]),
      });
      if (resp.status !== 0) throw new Error(`deliver_sm refused with 0x${resp.status.toString(16)}`);
    }
  }

  async stop(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    await Promise.all([...this.#sessions].map((s) => s.close()));
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #accept(socket: net.Socket): Promise<void> {
    let session: SmppSession;
    try {
      session = await acceptBind(socket, {
        systemId: 'depesha-sim',
        windowSize: this.#options.windowSize,
        enquireLinkIntervalMs: 0,
        onRequest: (request, s) => this.#onRequest(request, s),
        authenticate: (bind) => {
          const accounts = this.#options.accounts;
          if (!accounts) return CommandStatus.ESME_ROK;
          if (!(bind.systemId in accounts)) return CommandStatus.ESME_RINVSYSID;
          return accounts[bind.systemId] === bind.password ? CommandStatus.ESME_ROK : CommandStatus.ESME_RINVPASWD;
        },
      });
    } catch {
      return; // refused or gone before binding
    }
    if (this.#closed) return void session.close();
    this.stats.binds++;
    const record: SimulatedBind = { bind: this.stats.binds, systemId: session.bind?.systemId ?? '', openedAt: Date.now(), closedAt: null, outstanding: 0, maxOutstanding: 0 };
    this.binds.push(record);
    this.#bindRecords.set(session, record);
    this.#sessions.add(session);
    this.#peakBound = Math.max(this.#peakBound, this.#sessions.size);
    session.on('close', () => {
      this.#sessions.delete(session);
      record.closedAt = Date.now();
    });
    if (session.bind?.mode !== 'transmitter') this.#flushHeld();
  }

  #onRequest(request: IncomingRequest, session: SmppSession): Reply | Promise<Reply> | void {
    if (request.command === 'submit_sm') return this.#onSubmit(request, session);
    if (request.command === 'query_sm') return { command: 'query_sm_resp', status: CommandStatus.ESME_RQUERYFAIL };
    if (request.command === 'outbind' || request.command === 'alert_notification') return;
    return { command: 'generic_nack', status: CommandStatus.ESME_RINVCMDID };
  }

  async #onSubmit(request: Extract<IncomingRequest, { command: 'submit_sm' }>, session: SmppSession): Promise<Reply> {
    const record = this.#bindRecords.get(session);
    if (!record) return this.#answerSubmit(request, session);
    record.outstanding++;
    record.maxOutstanding = Math.max(record.maxOutstanding, record.outstanding);
    try {
      return await this.#answerSubmit(request, session);
    } finally {
      record.outstanding--;
    }
  }

  async #answerSubmit(request: Extract<IncomingRequest, { command: 'submit_sm' }>, session: SmppSession): Promise<Reply> {
    this.stats.submits++;
    const o = this.#options;
    if (o.submitDelayMs > 0) await this.#delay(o.submitDelayMs);
    const r = o.random;
    if (o.disconnectRate > 0 && r() < o.disconnectRate) {
      this.stats.disconnects++;
      void session.close();
      return { command: 'submit_sm_resp', status: CommandStatus.ESME_RSYSERR }; // never written: the session is closed
    }
    const body = request.tlvs.messagePayload ?? request.shortMessage;
    const udh = request.esmClass & 0x40 ? parseUdh(body) : null;
    const sar = request.tlvs.sarTotalSegments ? { ref: request.tlvs.sarMsgRefNum ?? 0, total: request.tlvs.sarTotalSegments, seq: request.tlvs.sarSegmentSeqnum ?? 0 } : null;
    const concat = udh?.concat ?? sar;
    const chosen = o.refuse?.(request.destinationAddr, concat && { seq: concat.seq, total: concat.total });
    if (chosen !== undefined) return this.#refuse(chosen);
    if (o.throttleRate > 0 && r() < o.throttleRate) return this.#refuse(CommandStatus.ESME_RTHROTTLED);
    if (o.temporaryErrorRate > 0 && r() < o.temporaryErrorRate) return this.#refuse([0x08, 0x14, 0x64][Math.floor(r() * 3)]!);
    if (o.permanentErrorRate > 0 && r() < o.permanentErrorRate) return this.#refuse(CommandStatus.ESME_RSUBMITFAIL);

    const id = this.#nextId++;
    const systemId = session.bind?.systemId ?? '';
    const submit: SimulatedSubmit = {
      messageId: this.#formatId(id, 'submit'),
      systemId,
      sourceAddr: request.sourceAddr,
      destinationAddr: request.destinationAddr,
      dataCoding: request.dataCoding,
      esmClass: request.esmClass,
      body,
      concat,
      registeredDelivery: request.registeredDelivery,
      validityPeriod: request.validityPeriod,
      at: Date.now(),
      bind: this.#bindRecords.get(session)?.bind ?? 0,
    };
    this.stats.accepted++;
    if (this.recordSubmits) this.submits.push(submit);
    if (request.registeredDelivery & 0x03 && !o.withholdReceipt?.(request.destinationAddr)) {
      const status: ReceiptStatus = o.undeliveredRate > 0 && r() < o.undeliveredRate ? 'undelivered' : 'delivered';
      if ((request.registeredDelivery & 0x03) === 1 || status !== 'delivered') {
        const receiptId = this.#formatId(id, 'receipt');
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          this.#sendReceipt({ systemId, submit: { ...submit, messageId: receiptId }, status });
        }, o.receiptDelayMs);
        this.#timers.add(timer);
      }
    }
    return { command: 'submit_sm_resp', messageId: submit.messageId };
  }

  #refuse(status: number): Reply {
    this.stats.refused++;
    return { command: 'submit_sm_resp', status };
  }

  #formatId(n: number, side: 'submit' | 'receipt'): string {
    const format = side === 'submit' ? this.#options.submitIdFormat : this.#options.receiptIdFormat;
    return format === 'hex' ? n.toString(16).toUpperCase().padStart(8, '0') : String(n);
  }

  #receiverFor(systemId: string | undefined): SmppSession | undefined {
    return leastBusy(this.#sessions, (s) => s.bind?.mode !== 'transmitter' && (systemId === undefined || s.bind?.systemId === systemId));
  }

  /** Sends every held receipt that has a receiving bind now; those without one keep waiting. */
  #flushHeld(): void {
    for (const held of this.#held.splice(0)) this.#sendReceipt(held);
  }

  /**
   * Sends a receipt to a receiving bind of its system_id, or holds it until
   * one binds. (Each receipt on its own: rescanning every held receipt on each
   * one would be quadratic while a transmitter-only ESME submits fast.)
   */
  #sendReceipt(held: HeldReceipt): void {
    const session = this.#receiverFor(held.systemId);
    if (!session) {
      this.#held.push(held);
      return;
    }
    const receipt = formatReceipt({ messageId: held.submit.messageId, status: held.status, submitDate: held.submit.at, doneDate: Date.now(), errorCode: held.status === 'delivered' ? 0 : 1 });
    this.stats.receipts++;
    this.onReceipt?.(held.submit.destinationAddr, held.status, Date.now());
    const record: SimulatedReceipt = { submit: held.submit, bind: this.#bindRecords.get(session)?.bind ?? 0, at: Date.now(), answeredAt: null, status: null };
    if (this.recordSubmits) this.receipts.push(record);
    session
      .request({
        command: 'deliver_sm',
        sourceAddr: held.submit.destinationAddr,
        sourceAddrTon: 1,
        sourceAddrNpi: 1,
        destinationAddr: held.submit.sourceAddr,
        esmClass: receipt.esmClass,
        dataCoding: receipt.dataCoding,
        shortMessage: receipt.shortMessage,
        tlvs: receipt.tlvs,
      })
      .then(
        (resp) => {
          record.answeredAt = Date.now();
          record.status = resp.status;
          if (resp.status === 0) this.stats.receiptsAcked++;
          else this.#requeue(held); // the ESME could not record it: SMSCs redeliver
        },
        () => this.#requeue(held),
      );
  }

  #requeue(held: HeldReceipt): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#sendReceipt(held);
    }, 200);
    this.#timers.add(timer);
  }

  #delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }
}
