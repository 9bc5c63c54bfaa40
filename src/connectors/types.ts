import type { FailureReason, ReasonCode } from '../domain/reasons.ts';
import type { SmsEncoding, SmsPart } from '../sms/encoding.ts';
import type { Channel, MessageContent } from './channels.ts';

export type { Channel } from './channels.ts';

/** What the pipeline hands a connector: one message, already encoded and split. */
export interface OutboundMessage {
  id: string;
  accountId: string;
  /** 1 on the first attempt; a connector that supports idempotent submits keys on (id, part) */
  attempt: number;
  /** E.164 */
  to: string;
  from: string | null;
  text: string;
  encoding: SmsEncoding;
  parts: SmsPart[];
  trafficType: string;
  /** epoch ms after which the operator should stop trying (SMPP validity_period) */
  validUntil: number;
  /** absent: sms */
  channel?: Channel | undefined;
  /** a non-SMS message's subject, HTML body or template */
  content?: MessageContent | null | undefined;
  /**
   * A retry of a long text some of whose parts this connector's provider took
   * on an earlier attempt (SendResult.deferred): send only the other parts,
   * with their own part numbers and `concatRef`, so that the handset joins
   * them with those it has; return the ids given here for the parts taken.
   * Absent: send every part.
   */
  resume?: ResumedSend | undefined;
}

/** The parts of a long text the provider took already, for a retry of the rest. */
export interface ResumedSend {
  /** the provider's id of each part taken, by part number from 1 */
  taken: ReadonlyMap<number, string>;
  /** the concatenation reference those parts carried (SendResult.concatRef); undefined: the connector gave none */
  concatRef?: number | undefined;
}

export interface SendResult {
  /** the provider's message id of each part, in part order; '' for a part in `refused` or `deferred` */
  providerIds: string[];
  /**
   * Parts the provider refused for good while it accepted others (an SMSC
   * answering one submit_sm of a long text with an error), by part number
   * from 1. They are not charged; the message ends `rejected` with the first
   * one's reason. A connector whose every part is refused throws instead.
   */
  refused?: RefusedPart[] | undefined;
  /**
   * Parts the provider refused for now (throttled, a temporary error, no
   * answer in time) while it accepted the others, none refused for good: the
   * pipeline keeps the parts taken and, after a back-off, sends only these
   * again (OutboundMessage.resume). A connector whose every part is deferred
   * throws its retryable error instead.
   */
  deferred?: RefusedPart[] | undefined;
  /** the concatenation reference (SMPP UDH or SAR) the parts carried, if any: a retry of the deferred parts uses it again */
  concatRef?: number | undefined;
}

/** One part of a message the provider refused at submission (for good, or for now), and why. */
export interface RefusedPart {
  /** 1 for the first part */
  part: number;
  reason: FailureReason;
}

/**
 * A status the provider reported for one part it accepted earlier. `read`:
 * the recipient opened it (messengers that report it); it implies delivered.
 */
export interface Receipt {
  connectorId: string;
  providerMessageId: string;
  status: 'delivered' | 'read' | 'undelivered' | 'expired' | 'rejected';
  reason?: FailureReason | undefined;
  /** epoch ms the provider says it happened (falls back to arrival time) */
  at: number;
  /** the provider's report as it came (e.g. the SMPP receipt text), kept when the receipt matches nothing */
  raw?: string | undefined;
}

/**
 * A failed send. `retryable` says whether trying again later can help
 * (throttling, a link down) or not (a bad number, a refused sender).
 */
export class ConnectorError extends Error {
  readonly retryable: boolean;
  readonly reason: ReasonCode;
  readonly providerCode: string | undefined;

  constructor(message: string, options: { retryable: boolean; reason: ReasonCode; providerCode?: string | undefined; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'ConnectorError';
    this.retryable = options.retryable;
    this.reason = options.reason;
    this.providerCode = options.providerCode;
  }
}

/** A message a subscriber sent to one of our numbers, reassembled from its parts. */
export interface InboundMessage {
  connectorId: string;
  /** as the operator wrote it */
  from: string;
  to: string;
  text: string;
  partsExpected: number;
  partsReceived: number;
  /** false: the reassembly timed out and `text` holds the parts that came */
  complete: boolean;
  /** epoch ms of the first part */
  receivedAt: number;
}

export interface ConnectorContext {
  /**
   * Hands a receipt to the pipeline. The promise resolves once it is durably
   * recorded; only then may the connector acknowledge it to the provider.
   */
  receipt(receipt: Receipt): Promise<void>;
  /** Hands an inbound message to the pipeline; resolves once it is stored (then acknowledge it). */
  inbound(message: InboundMessage): Promise<void>;
  /**
   * The parts this connector sent that still wait for a status (`sent`),
   * read from the store, for connectors that ask the provider (status
   * polling): what to ask about survives a restart. Absent in contexts
   * without a store (unit tests).
   */
  openParts?(query: OpenPartsQuery): Promise<OpenPart[]>;
}

export interface OpenPartsQuery {
  connectorId: string;
  /** epoch ms: parts sent at or after this … */
  sentFrom: number;
  /** … and before this */
  sentBefore: number;
  /** keyset: only parts after this one in (sent_at, message_id, part_index) order */
  after?: { sentAt: number; messageId: string; partIndex: number } | undefined;
  limit: number;
}

/** A part sent and not yet final. */
export interface OpenPart {
  messageId: string;
  partIndex: number;
  providerMessageId: string;
  /** E.164 or the channel's address */
  recipient: string;
  sentAt: number;
}

/** One credential or setting of a connector type; the cabinet builds its form from these. */
export interface ManifestField {
  name: string;
  label: string;
  type: 'string' | 'integer' | 'boolean' | 'secret' | 'enum';
  required: boolean;
  default?: string | number | boolean;
  options?: string[];
  description: string;
}

export interface ConnectorManifest {
  type: string;
  name: string;
  channels: Channel[];
  fields: ManifestField[];
  /**
   * The provider takes the whole text in one request and splits it itself
   * (HTTP aggregators, messengers): send() returns its one id once per part,
   * and one receipt settles every part.
   */
  wholeMessage?: boolean;
}

/** A request to the connector's public callback route (`/v1/callbacks/{connector_id}`), as it came. */
export interface CallbackRequest {
  method: 'GET' | 'POST';
  /** lower-case names */
  headers: Record<string, string>;
  query: Record<string, string>;
  /** the raw body: signatures are checked over these exact bytes */
  body: string;
}

/** What the callback route answers the provider. */
export interface CallbackReply {
  status: number;
  body: string;
  contentType?: string | undefined;
}

/**
 * How a connector is doing, for `GET /v1/connectors` and monitoring: `up`
 * takes traffic, `degraded` takes it with less capacity (some binds down,
 * throttled), `connecting` and `down` take none and say why in `detail`.
 */
export interface ConnectorState {
  id: string;
  type: string;
  status: 'up' | 'degraded' | 'connecting' | 'down' | 'stopped';
  /** why it is not up, e.g. "bind refused: 0x0000000E invalid password" */
  detail: string | null;
  /** epoch ms of the last change of `status` */
  since: number;
  /** links (SMPP binds) up and configured */
  links: { up: number; total: number };
  /** requests sent and not yet answered */
  inFlight: number;
}

/** A small adapter to one provider. Stateless towards the store: the pipeline records what it returns. */
export interface Connector {
  readonly id: string;
  readonly manifest: ConnectorManifest;
  /** Submits one message; throws ConnectorError on failure. */
  send(message: OutboundMessage): Promise<SendResult>;
  /** Maps the provider's raw status report to a Receipt; null when it is not one of ours. */
  parseReceipt(raw: unknown): Receipt | null;
  /**
   * Withdraws a message sent earlier, by its provider id, where the provider
   * can (Telegram Gateway's revokeVerificationMessage): a verification code
   * no longer needed. Resolves true when the provider took the request;
   * throws when it could not be asked. Connectors that cannot leave it out.
   */
  revoke?(providerMessageId: string): Promise<boolean>;
  /**
   * Handles a request to its callback route: checks it is the provider's
   * (signature, secret), hands the status reports in it to the pipeline and
   * resolves once they are recorded. Connectors without callbacks leave it out.
   */
  callback?(request: CallbackRequest): Promise<CallbackReply>;
  start(context: ConnectorContext): Promise<void>;
  stop(): Promise<void>;
  state(): ConnectorState;
  /** Connectors with binds (SMPP): how many there are cluster-wide, spread over the worker nodes (cluster/binds.ts). */
  readonly bindSlots?: number;
  /** runs this many of the binds on this node */
  shareBinds?(slots: number): Promise<void>;
  /** false while this node runs none of the binds: its messages go to a node that does */
  readonly hasBinds?: boolean;
}
