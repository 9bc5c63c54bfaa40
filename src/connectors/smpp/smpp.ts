import type { SmppDefinition } from '../definitions.ts';
import type { FailureReason, ReasonCode } from '../../domain/reasons.ts';
import { inboundBody, Reassembler, submitParts, type AssembledMessage } from '../../smpp/concat.ts';
import { CommandStatus, describeStatus, isTemporaryStatus, type Tlvs } from '../../smpp/pdu.ts';
import { formatSmppTime } from '../../smpp/time.ts';
import { canonicalReceiptId, canonicalSubmitId, isReceiptEsmClass, parseReceipt, type MessageIdConfig, type ParsedReceipt } from '../../smpp/receipt.ts';
import { bindClient, SmppBindError, SmppError, type BindMode, type IncomingRequest, type Reply, type SmppSession } from '../../smpp/session.ts';
import { ConnectorError, type Connector, type ConnectorContext, type ConnectorManifest, type ConnectorState, type OutboundMessage, type Receipt, type RefusedPart, type SendResult } from '../types.ts';
import { wholeMessageIds } from '../shared/http-client.ts';
import { AdaptiveRate } from './rate.ts';

export const smppManifest: ConnectorManifest = {
  type: 'smpp',
  name: 'SMPP 3.4 (operator SMSC)',
  channels: ['sms'],
  fields: [
    { name: 'host', label: 'Host', type: 'string', required: true, description: 'The SMSC address.' },
    { name: 'port', label: 'Port', type: 'integer', required: false, default: 2775, description: 'The SMSC port.' },
    { name: 'system_id', label: 'System ID', type: 'string', required: true, description: 'Our login at the SMSC.' },
    { name: 'password', label: 'Password', type: 'secret', required: true, description: 'At most 8 characters.' },
    { name: 'bind_mode', label: 'Bind mode', type: 'enum', required: false, default: 'transceiver', options: ['transceiver', 'transmitter_receiver'], description: 'One transceiver per bind, or a transmitter plus a receiver.' },
    { name: 'binds', label: 'Binds', type: 'integer', required: false, default: 1, description: 'Parallel binds.' },
    { name: 'window', label: 'Window', type: 'integer', required: false, default: 10, description: 'Unanswered submits per bind.' },
    { name: 'max_submits_per_second', label: 'Max submits per second', type: 'integer', required: false, default: 0, description: 'For the whole connector; 0: no limit.' },
    { name: 'long_messages', label: 'Long messages', type: 'enum', required: false, default: 'udh8', options: ['udh8', 'udh16', 'sar', 'payload'], description: 'How long texts are split.' },
    { name: 'receipt_id_format', label: 'Receipt id format', type: 'enum', required: false, default: 'as-is', options: ['as-is', 'hex', 'decimal', 'submit-hex-receipt-decimal', 'submit-decimal-receipt-hex'], description: 'How the SMSC writes message ids in submit responses and receipts.' },
  ],
};

const ID_FORMATS: Record<NonNullable<SmppDefinition['receipt_id_format']>, MessageIdConfig> = {
  'as-is': { submit: 'as-is', receipt: 'as-is' },
  hex: { submit: 'hex', receipt: 'hex' },
  decimal: { submit: 'decimal', receipt: 'decimal' },
  'submit-hex-receipt-decimal': { submit: 'hex', receipt: 'decimal' },
  'submit-decimal-receipt-hex': { submit: 'decimal', receipt: 'hex' },
};

/** GSM MAP / operator `err:` codes we can name; others keep the raw code under the state's default reason. */
const ERR_REASONS: Record<number, ReasonCode> = {
  1: 'subscriber_unknown',
  9: 'subscriber_unknown',
  11: 'subscriber_blocked',
  13: 'subscriber_blocked',
  27: 'subscriber_absent',
  31: 'subscriber_absent',
};

/** Permanent submit_sm_resp statuses we can name; the rest are operator_rejected with the raw code. */
const SUBMIT_REASONS: Record<number, ReasonCode> = {
  [CommandStatus.ESME_RINVDSTADR]: 'invalid_destination',
  [CommandStatus.ESME_RINVSRCADR]: 'invalid_sender',
  [CommandStatus.ESME_RINVEXPIRY]: 'validity_expired',
};

const hex = (status: number) => `0x${status.toString(16).padStart(8, '0')}`;

/**
 * The outcome of a message from the answers to its parts (`taken`: how many
 * of them an earlier attempt had out already). A part refused for good
 * decides it: the parts taken are kept and every other is refused (the
 * handset could not join the text anyway), or, with none taken, the refusal
 * is thrown. Otherwise parts refused for now (throttled, timed out, a bind
 * lost under them) are deferred, to be sent again alone with the same
 * reference; with none taken, the temporary error is thrown.
 */
export function settleParts(outcomes: PromiseSettledResult<string>[], concatRef: number | undefined, taken: number): SendResult {
  const errors = outcomes.flatMap((o) => (o.status === 'rejected' ? [asConnectorError(o.reason)] : []));
  const permanent = errors.find((e) => !e.retryable);
  const anyTaken = taken > 0 || errors.length < outcomes.length;
  if (!anyTaken) throw permanent ?? errors[0];
  const failedParts: RefusedPart[] = [];
  const providerIds = outcomes.map((o, i) => {
    if (o.status === 'fulfilled') return o.value;
    const err = asConnectorError(o.reason);
    failedParts.push({ part: i + 1, reason: { code: err.reason, providerCode: err.providerCode, detail: err.message } });
    return '';
  });
  if (failedParts.length === 0) return { providerIds, ...(concatRef === undefined ? {} : { concatRef }) };
  if (permanent) return { providerIds, refused: failedParts };
  return { providerIds, deferred: failedParts, ...(concatRef === undefined ? {} : { concatRef }) };
}

/** An unexpected failure under a submit is a temporary one: the part is tried again. */
function asConnectorError(err: unknown): ConnectorError {
  return err instanceof ConnectorError ? err : new ConnectorError((err as Error)?.message ?? String(err), { retryable: true, reason: 'operator_error', cause: err });
}

/** One bind of the connector: a transceiver, a transmitter or a receiver, kept bound. */
class Bind {
  readonly mode: BindMode;
  session: SmppSession | undefined;
  /** why it is not bound, from the last attempt */
  detail: string | null = null;
  everBound = false;
  #attempt = 0;
  #stopped = false;
  #wake: (() => void) | undefined;
  readonly #connector: SmppConnector;

  constructor(connector: SmppConnector, mode: BindMode) {
    this.#connector = connector;
    this.mode = mode;
  }

  get up(): boolean {
    return this.session?.state === 'open';
  }

  /** Binds, and binds again after every loss, with exponential back-off and jitter. */
  async run(): Promise<void> {
    while (!this.#stopped) {
      try {
        const session = await this.#connector.bind(this.mode);
        if (this.#stopped) {
          await session.unbind().catch(() => {});
          return;
        }
        this.session = session;
        this.detail = null;
        this.everBound = true;
        this.#attempt = 0;
        this.#connector.changed();
        const info = await new Promise<{ reason: string }>((resolve) => session.once('close', (i) => resolve(i)));
        this.session = undefined;
        if (this.#stopped) return;
        this.detail = `connection lost (${info.reason})`;
      } catch (err) {
        this.detail = err instanceof SmppBindError ? `bind refused: ${describeStatus(err.commandStatus ?? 0)}` : (err as Error).message;
      }
      this.#connector.changed();
      if (this.#stopped) return;
      await this.#sleep(this.#connector.backoffMs(this.#attempt++));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    const session = this.session;
    this.session = undefined;
    if (session) await session.unbind().catch(() => {});
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** How long a submit_sm's answer is waited for unless the definition sets `response_timeout_ms`. */
export const DEFAULT_SMPP_RESPONSE_TIMEOUT_MS = 10_000;

/**
 * A connector to an operator's SMSC over SMPP 3.4: a number of binds kept up
 * by themselves (a bind that cannot be made says why in its state), a window
 * of unanswered submits per bind, a submit rate that follows what the SMSC
 * accepts, long texts split the way the SMSC wants, and receipts and inbound
 * messages acknowledged only once the pipeline has recorded them.
 */
export class SmppConnector implements Connector {
  readonly id: string;
  readonly manifest = smppManifest;
  readonly #def: SmppDefinition;
  #binds: Bind[] = [];
  /** true once the cluster shares the binds out (cluster/binds.ts): none here then means they run on other workers */
  #shared = false;
  readonly #modes: BindMode[];
  readonly #rate: AdaptiveRate;
  readonly #ids: MessageIdConfig;
  readonly #receiptOptions: { utcOffsetMinutes: number };
  readonly #reassembler: Reassembler;
  readonly #partsTimeoutMs: number;
  #context: ConnectorContext | undefined;
  #since = Date.now();
  #lastStatus: ConnectorState['status'] = 'stopped';
  #next = 0;
  #ref = Math.floor(Math.random() * 0xffff);
  #expiryTimer: NodeJS.Timeout | undefined;
  #random: () => number;

  /**
   * `clusterPaced`: the cluster's slots (cluster/submit-rate.ts) already hold
   * max_submits_per_second across the nodes, so the connector's own limiter
   * drops the cap and only adapts to what the SMSC takes. Spacing again here
   * at the cap would push a node's run of slots late, into the next second.
   */
  constructor(definition: SmppDefinition, options: { random?: () => number; clusterPaced?: boolean | undefined } = {}) {
    this.id = definition.id;
    this.#def = definition;
    this.#random = options.random ?? Math.random;
    this.#rate = new AdaptiveRate({ maxPerSecond: options.clusterPaced ? 0 : (definition.max_submits_per_second ?? 0) });
    this.#ids = ID_FORMATS[definition.receipt_id_format ?? 'as-is'];
    this.#receiptOptions = { utcOffsetMinutes: (definition.receipt_utc_offset_hours ?? 0) * 60 };
    this.#partsTimeoutMs = (definition.inbound_parts_timeout_seconds ?? 120) * 1000;
    this.#reassembler = new Reassembler({ timeoutMs: this.#partsTimeoutMs });
    this.#modes = definition.bind_mode === 'transmitter_receiver' ? ['transmitter', 'receiver'] : ['transceiver'];
    for (let i = 0; i < this.bindSlots; i++) for (const mode of this.#modes) this.#binds.push(new Bind(this, mode));
  }

  /** `binds` of the definition: all of them here in the embedded process, spread over the workers in a cluster (cluster/binds.ts). */
  get bindSlots(): number {
    return this.#def.binds ?? 1;
  }

  /**
   * Runs `slots` of the binds on this node (a slot is one bind, or a
   * transmitter and a receiver): more are opened, the last ones closed.
   */
  async shareBinds(slots: number): Promise<void> {
    this.#shared = true;
    const want = Math.max(0, Math.min(slots, this.bindSlots)) * this.#modes.length;
    while (this.#binds.length < want) {
      for (const mode of this.#modes) {
        const bind = new Bind(this, mode);
        this.#binds.push(bind);
        if (this.#context) void bind.run();
      }
    }
    const gone = this.#binds.slice(want);
    this.#binds = this.#binds.slice(0, want);
    this.changed();
    await Promise.all(gone.map((b) => b.stop()));
  }

  /** false while this node runs none of the connector's binds (another worker has them): its messages are for that one */
  get hasBinds(): boolean {
    return this.#binds.length > 0;
  }

  async start(context: ConnectorContext): Promise<void> {
    this.#context = context;
    this.changed();
    for (const bind of this.#binds) void bind.run();
    this.#expiryTimer = setInterval(() => void this.#expireInbound(), Math.min(5000, Math.max(100, this.#partsTimeoutMs / 4)));
    this.#expiryTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#expiryTimer);
    await Promise.all(this.#binds.map((b) => b.stop()));
    this.#context = undefined;
    this.changed();
  }

  /**
   * In a cluster a worker running none of the binds reports `up` with 0 of 0
   * links (its messages go to the workers that have them, so it must stay in
   * rotation) and says so in `detail`, so that it reads neither as healthy
   * with no binds nor as down.
   */
  state(): ConnectorState {
    const up = this.#binds.filter((b) => b.up).length;
    const elsewhere = this.#shared && this.#binds.length === 0 && this.#context !== undefined;
    return {
      id: this.id,
      type: 'smpp',
      status: this.#status(),
      detail: elsewhere
        ? `binds on other nodes: none of the ${this.bindSlots} here`
        : up === this.#binds.length
          ? null
          : (this.#binds.find((b) => !b.up && b.detail)?.detail ?? null),
      since: this.#since,
      links: { up, total: this.#binds.length },
      inFlight: this.#binds.reduce((n, b) => n + (b.session?.inFlight ?? 0), 0),
    };
  }

  /** Called by a bind when it goes up or down: keeps `since` true. */
  changed(): void {
    const status = this.#status();
    if (status !== this.#lastStatus) {
      this.#lastStatus = status;
      this.#since = Date.now();
    }
  }

  #status(): ConnectorState['status'] {
    if (!this.#context) return 'stopped';
    const up = this.#binds.filter((b) => b.up).length;
    if (up === this.#binds.length) return 'up';
    const canSend = this.#binds.some((b) => b.up && b.mode !== 'receiver');
    if (up > 0 && canSend) return 'degraded';
    return this.#binds.some((b) => b.everBound || b.detail) ? 'down' : 'connecting';
  }

  backoffMs(attempt: number): number {
    const min = this.#def.reconnect_min_ms ?? 1000;
    const max = this.#def.reconnect_max_ms ?? 60_000;
    const step = Math.min(max, min * 2 ** attempt);
    return Math.round(step / 2 + (this.#random() * step) / 2);
  }

  bind(mode: BindMode): Promise<SmppSession> {
    const d = this.#def;
    return bindClient({
      host: d.host,
      port: d.port ?? 2775,
      systemId: d.system_id,
      password: d.password ?? '',
      systemType: d.system_type ?? '',
      mode,
      windowSize: d.window ?? 10,
      responseTimeoutMs: d.response_timeout_ms ?? DEFAULT_SMPP_RESPONSE_TIMEOUT_MS,
      enquireLinkIntervalMs: (d.enquire_link_seconds ?? 30) * 1000,
      onRequest: (request, session) => this.#onRequest(request, session),
    });
  }

  parseReceipt(raw: unknown): Receipt | null {
    const pdu = raw as Extract<IncomingRequest, { command: 'deliver_sm' }>;
    if (!pdu || typeof pdu !== 'object' || !isReceiptEsmClass(pdu.esmClass)) return null;
    const parsed = parseReceipt(pdu, this.#receiptOptions);
    return parsed && this.#toReceipt(parsed, pdu.shortMessage);
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const bind = this.#pickTransmitter();
    if (!bind?.session) {
      const detail = this.#binds.find((b) => b.detail)?.detail ?? 'binding';
      throw new ConnectorError(`${this.id}: not bound (${detail})`, { retryable: true, reason: 'operator_unavailable' });
    }
    const session = bind.session;
    const resume = message.resume;
    let parts;
    let concatRef: number | undefined;
    try {
      // The parts the pipeline split the text into (sms/encoding.ts, counted and charged at accept): one submit each.
      parts = submitParts({ encoding: message.encoding, parts: message.parts }, {
        method: this.#def.long_messages ?? 'udh8',
        // The rest of a long text carries the reference its parts taken carried: the handset joins them by it.
        nextRef: () => (concatRef = resume?.concatRef ?? (this.#ref = (this.#ref + 1) & 0xffff)),
        gsmDataCoding: this.#def.default_data_coding ?? 0,
      });
    } catch (err) {
      throw new ConnectorError(`${this.id}: ${(err as Error).message}`, { retryable: false, reason: 'content_rejected' });
    }
    const source = this.#source(message.from);
    const destination = this.#def.destination ?? { ton: 1, npi: 1 };
    const validity = formatSmppTime(message.validUntil);
    // Every part is answered before the outcome is decided: parts the SMSC took are not lost when another is refused.
    const outcomes = await Promise.allSettled(
      parts.map(async (part, i): Promise<string> => {
        const known = resume?.taken.get(i + 1);
        if (known !== undefined) return known;
        const wait = this.#rate.reserve();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        let resp;
        try {
          resp = await session.request({
            command: 'submit_sm',
            sourceAddrTon: source.ton,
            sourceAddrNpi: source.npi,
            sourceAddr: source.addr,
            destAddrTon: destination.ton,
            destAddrNpi: destination.npi,
            destinationAddr: message.to.replace(/^\+/, ''),
            esmClass: part.esmClass,
            dataCoding: part.dataCoding,
            registeredDelivery: 1,
            validityPeriod: validity,
            shortMessage: part.shortMessage,
            tlvs: part.tlvs as Tlvs,
          });
        } catch (err) {
          const retryable = !(err instanceof SmppError) || err.retryable;
          throw new ConnectorError(`${this.id}: ${(err as Error).message}`, { retryable, reason: 'operator_unavailable', cause: err });
        }
        if (resp.status === CommandStatus.ESME_ROK && resp.command === 'submit_sm_resp') {
          this.#rate.record('accepted');
          return canonicalSubmitId(resp.messageId, this.#ids);
        }
        if (isTemporaryStatus(resp.status)) {
          this.#rate.record('temporary_error');
          const reason = resp.status === CommandStatus.ESME_RTHROTTLED ? 'operator_throttled' : 'operator_error';
          throw new ConnectorError(`${this.id}: ${describeStatus(resp.status)}`, { retryable: true, reason, providerCode: hex(resp.status) });
        }
        throw new ConnectorError(`${this.id}: ${describeStatus(resp.status)}`, { retryable: false, reason: SUBMIT_REASONS[resp.status] ?? 'operator_rejected', providerCode: hex(resp.status) });
      }),
    );
    const result = settleParts(outcomes, parts.length > 1 ? concatRef : undefined, resume?.taken.size ?? 0);
    // message_payload: the SMSC took the whole text under one id, and splits it itself; that id (and its one receipt)
    // stands for every part counted, as for a provider that takes the whole text (ConnectorManifest.wholeMessage).
    if (parts.length === 1 && message.parts.length > 1) return { ...result, providerIds: wholeMessageIds(message.parts, result.providerIds[0]!) };
    return result;
  }

  /** The bound transmitting session with the most room, round robin among equals. */
  #pickTransmitter(): Bind | undefined {
    let best: Bind | undefined;
    const n = this.#binds.length;
    for (let i = 0; i < n; i++) {
      const b = this.#binds[(this.#next + i) % n]!;
      if (!b.up || b.mode === 'receiver') continue;
      if (!best || b.session!.inFlight + b.session!.queued < best.session!.inFlight + best.session!.queued) best = b;
    }
    this.#next = (this.#next + 1) % Math.max(1, n);
    return best;
  }

  #source(from: string | null): { ton: number; npi: number; addr: string } {
    const d = this.#def;
    if (!from) return { ton: 0, npi: 0, addr: '' };
    if (/[^0-9+]/.test(from)) return { ...(d.source_alphanumeric ?? { ton: 5, npi: 0 }), addr: from };
    const digits = from.replace(/^\+/, '');
    if (digits.length <= 8) return { ...(d.source_short ?? { ton: 3, npi: 0 }), addr: digits };
    return { ...(d.source_international ?? { ton: 1, npi: 1 }), addr: digits };
  }

  async #onRequest(request: IncomingRequest, _session: SmppSession): Promise<Reply | void> {
    if (request.command !== 'deliver_sm' && request.command !== 'data_sm') {
      if (request.command === 'outbind' || request.command === 'alert_notification') return;
      return { command: 'generic_nack', status: CommandStatus.ESME_RINVCMDID };
    }
    const respCommand = request.command === 'deliver_sm' ? 'deliver_sm_resp' : 'data_sm_resp';
    const context = this.#context;
    if (!context) return { command: respCommand, status: CommandStatus.ESME_RX_T_APPN };
    const shortMessage = request.command === 'deliver_sm' ? request.shortMessage : Buffer.alloc(0);
    try {
      if (isReceiptEsmClass(request.esmClass)) {
        const parsed = parseReceipt({ esmClass: request.esmClass, dataCoding: request.dataCoding, shortMessage, tlvs: request.tlvs }, this.#receiptOptions);
        // Intermediate states (ENROUTE, ACCEPTD) change nothing; a receipt with no id cannot be matched or kept.
        if (parsed && parsed.final) await context.receipt(this.#toReceipt(parsed, shortMessage));
      } else {
        const { concat, body } = inboundBody({ esmClass: request.esmClass, shortMessage, tlvs: request.tlvs });
        const done = this.#reassembler.add({ source: request.sourceAddr, destination: request.destinationAddr, dataCoding: request.dataCoding, concat, body }, Date.now());
        if (done) await this.#deliverInbound(done);
      }
    } catch {
      // Not recorded: a temporary error makes the SMSC deliver it again.
      return { command: respCommand, status: CommandStatus.ESME_RX_T_APPN };
    }
    return { command: respCommand, messageId: '' };
  }

  #toReceipt(parsed: ParsedReceipt, body: Buffer): Receipt {
    const status: Receipt['status'] =
      parsed.state === 'delivered' ? 'delivered' : parsed.state === 'expired' ? 'expired' : parsed.state === 'rejected' || parsed.state === 'deleted' ? 'rejected' : 'undelivered';
    let reason: FailureReason | undefined;
    if (status !== 'delivered') {
      const err = parsed.errorCode === undefined ? undefined : Number(parsed.errorCode);
      const code: ReasonCode = (err !== undefined && ERR_REASONS[err]) || (status === 'expired' ? 'validity_expired' : status === 'rejected' ? 'operator_rejected' : 'unknown');
      reason = { code, providerCode: `stat:${parsed.rawStat ?? parsed.state.toUpperCase()}${parsed.errorCode === undefined ? '' : ` err:${parsed.errorCode}`}` };
    }
    return {
      connectorId: this.id,
      providerMessageId: canonicalReceiptId(parsed.messageId, this.#ids),
      status,
      reason,
      at: parsed.doneDate ?? Date.now(),
      raw: body.toString('latin1'),
    };
  }

  async #deliverInbound(m: AssembledMessage): Promise<void> {
    await this.#context?.inbound({
      connectorId: this.id,
      from: m.source,
      to: m.destination,
      text: m.text ?? '',
      partsExpected: m.total,
      partsReceived: m.received.length,
      complete: m.complete,
      receivedAt: m.firstAt,
    });
  }

  /** Long inbound messages whose parts stopped coming are stored with what arrived. */
  async #expireInbound(): Promise<void> {
    for (const m of this.#reassembler.expire(Date.now())) await this.#deliverInbound(m).catch(() => {});
  }
}
