/**
 * SMPP delivery receipts: reading the ones an SMSC sends (deliver_sm or
 * data_sm), matching their message ids to the ids of submit_sm_resp, and
 * writing receipts for the customers of our own SMPP server.
 *
 * Appendix B of SMPP 3.4 only suggests the text body, and SMSCs differ in
 * every detail it leaves open: field order, key spelling, letter case, date
 * length, status words, the base of the id. Unmatched receipts are the most
 * frequent complaint against open gateways, so the reader accepts every
 * variant seen in practice and never throws on what an SMSC sends.
 */

/** What a receipt says happened; SMPP `message_state` values 1..8 under our names. */
export type ReceiptState =
  | 'enroute'
  | 'delivered'
  | 'expired'
  | 'deleted'
  | 'undelivered'
  | 'accepted'
  | 'unknown'
  | 'rejected';

/** The fields of a deliver_sm or data_sm a receipt is read from (the PDU codec fills it). */
export interface ReceiptPdu {
  esmClass: number;
  dataCoding: number;
  shortMessage: Uint8Array;
  tlvs?: {
    receiptedMessageId?: string;
    messageState?: number;
    /** 3 octets: network type (1 ANSI-136, 2 IS-95, 3 GSM) + 16-bit error code */
    networkErrorCode?: Uint8Array;
    /** data_sm receipts carry the text body here instead of in short_message */
    messagePayload?: Uint8Array;
  };
}

export interface ParsedReceipt {
  /** the id as the SMSC wrote it (trimmed); compare it through `canonicalReceiptId` */
  messageId: string;
  state: ReceiptState;
  /** true when no later receipt will change the outcome */
  final: boolean;
  /** `err:` as written, or the network_error_code's code in decimal, at least 3 digits */
  errorCode?: string;
  /** network type of network_error_code: 1 ANSI-136, 2 IS-95, 3 GSM */
  networkErrorType?: number;
  /** epoch ms, from `submit date:` */
  submitDate?: number;
  /** epoch ms, from `done date:` */
  doneDate?: number;
  /** the `stat:` word as written, even when message_state decided the state */
  rawStat?: string;
  /** the `text:` field: the start of the original message, as the SMSC echoed it */
  text?: string;
}

export interface ParseReceiptOptions {
  /** the SMSC's clock offset from UTC in minutes (its dates carry no zone), default 0 */
  utcOffsetMinutes?: number;
  /**
   * Also read a deliver_sm of the default message type as a receipt when its
   * body names both `id:` and `stat:` (or it carries receipted_message_id and
   * message_state). For SMSCs that forget the esm_class bits; default false,
   * because a customer's MO text could look like a receipt.
   */
  untypedReceipts?: boolean;
}

/** esm_class bits 2..5: the message type of a deliver_sm or data_sm. */
const MESSAGE_TYPE_MASK = 0x3c;
const SMSC_DELIVERY_RECEIPT = 0x04;
const INTERMEDIATE_NOTIFICATION = 0x20;

/**
 * True when esm_class marks an SMSC delivery receipt (0x04) or an
 * intermediate delivery notification (0x20). SME delivery and manual
 * acknowledgements (0x08, 0x10) are not: they come from the recipient's
 * application, say nothing about network delivery and rarely follow the
 * receipt format, so they are not receipts here.
 */
export function isReceiptEsmClass(esmClass: number): boolean {
  const type = esmClass & MESSAGE_TYPE_MASK;
  return type === SMSC_DELIVERY_RECEIPT || type === INTERMEDIATE_NOTIFICATION;
}

/** message_state value → state; every state but ENROUTE and ACCEPTED (see STAT_WORDS) is final. */
const MESSAGE_STATES: ReadonlyArray<ReceiptState | undefined> = [
  undefined,
  'enroute',
  'delivered',
  'expired',
  'deleted',
  'undelivered',
  'accepted',
  'unknown',
  'rejected',
];

/**
 * `stat:` words, upper case, letters only → [state, final]. Appendix B's seven
 * words plus the spellings SMSCs use. ACCEPTD is final in the spec (accepted
 * by customer service on the subscriber's behalf) but SMSCs send it to mean
 * "taken by the SMSC", with the real outcome following, so it is not final
 * here; ACKED and BUFFRED are the same kind of intermediate report. FAILED and
 * ERROR mean the SMSC could not deliver. UNKNOWN is the spec's final "invalid
 * state"; a word missing from this table, by contrast, proves nothing and
 * leaves the message open (state unknown, not final).
 */
const STAT_WORDS: ReadonlyMap<string, readonly [ReceiptState, boolean]> = new Map([
  ['DELIVRD', ['delivered', true]],
  ['DELIVERED', ['delivered', true]],
  ['DELIVER', ['delivered', true]],
  ['UNDELIV', ['undelivered', true]],
  ['UNDELIVERABLE', ['undelivered', true]],
  ['UNDELIVERED', ['undelivered', true]],
  ['UNDELIVRD', ['undelivered', true]],
  ['FAILED', ['undelivered', true]],
  ['FAIL', ['undelivered', true]],
  ['ERROR', ['undelivered', true]],
  ['REJECTD', ['rejected', true]],
  ['REJECTED', ['rejected', true]],
  ['EXPIRED', ['expired', true]],
  ['EXPIRD', ['expired', true]],
  ['DELETED', ['deleted', true]],
  ['DELETD', ['deleted', true]],
  ['UNKNOWN', ['unknown', true]],
  ['ACCEPTD', ['accepted', false]],
  ['ACCEPTED', ['accepted', false]],
  ['ACKED', ['accepted', false]],
  ['ENROUTE', ['enroute', false]],
  ['BUFFRED', ['enroute', false]],
  ['BUFFERED', ['enroute', false]],
]);

/**
 * Reads a receipt. TLVs win over the text body wherever both say something
 * (they are typed and the body is free text). Returns null when the PDU is not
 * a receipt, or is one that names no message id: with nothing to match it is
 * of no use, and `isReceiptEsmClass` tells that case apart from an MO message.
 * A receipt with an id but no readable status comes back as state `unknown`,
 * not final. An intermediate notification (0x20) is never final, whatever its
 * status says.
 */
export function parseReceipt(pdu: ReceiptPdu, options: ParseReceiptOptions = {}): ParsedReceipt | null {
  const tlvs = pdu.tlvs ?? {};
  const bytes = pdu.shortMessage.length > 0 ? pdu.shortMessage : (tlvs.messagePayload ?? pdu.shortMessage);
  const body = parseBody(decodeBody(bytes, pdu.dataCoding));
  const typed = isReceiptEsmClass(pdu.esmClass);
  if (!typed) {
    if (!options.untypedReceipts || (pdu.esmClass & MESSAGE_TYPE_MASK) !== 0) return null;
    const tlvReceipt = tlvs.receiptedMessageId !== undefined && tlvs.messageState !== undefined;
    if (!tlvReceipt && (body.id === undefined || body.stat === undefined)) return null;
  }

  const messageId = cleanId(tlvs.receiptedMessageId ?? '') || cleanId(body.id ?? '');
  if (messageId === '') return null;

  const fromTlv = tlvs.messageState === undefined ? undefined : messageState(tlvs.messageState);
  const fromBody = body.stat === undefined ? undefined : statWord(body.stat);
  let [state, final] = fromTlv ?? fromBody ?? (['unknown', false] as const);
  if ((pdu.esmClass & MESSAGE_TYPE_MASK) === INTERMEDIATE_NOTIFICATION) final = false;

  const receipt: ParsedReceipt = { messageId, state, final };
  const network = tlvs.networkErrorCode;
  if (network !== undefined && network.length === 3) {
    receipt.networkErrorType = network[0] ?? 0;
    receipt.errorCode = String(((network[1] ?? 0) << 8) | (network[2] ?? 0)).padStart(3, '0');
  } else if (body.err !== undefined && body.err !== '') {
    receipt.errorCode = body.err;
  }
  const offset = options.utcOffsetMinutes ?? 0;
  const submitDate = body.submitDate === undefined ? undefined : parseSmscDate(body.submitDate, offset);
  const doneDate = body.doneDate === undefined ? undefined : parseSmscDate(body.doneDate, offset);
  if (submitDate !== undefined) receipt.submitDate = submitDate;
  if (doneDate !== undefined) receipt.doneDate = doneDate;
  if (body.stat !== undefined && body.stat !== '') receipt.rawStat = body.stat;
  if (body.text !== undefined) receipt.text = body.text;
  return receipt;
}

function messageState(value: number): readonly [ReceiptState, boolean] | undefined {
  const state = MESSAGE_STATES[value];
  return state && [state, state !== 'enroute' && state !== 'accepted'];
}

function statWord(raw: string): readonly [ReceiptState, boolean] | undefined {
  // Some SMSCs write the message_state number instead of a word.
  if (/^\d+$/.test(raw)) return messageState(Number(raw));
  return STAT_WORDS.get(raw.toUpperCase().replace(/[^A-Z]/g, ''));
}

/** Trims spaces and the NUL some SMSCs keep from a C string. */
function cleanId(id: string): string {
  return id.replace(/\0/g, '').trim();
}

/**
 * The body as text. Receipts are ASCII in practice, so data_coding 0 is read
 * as Latin-1 (which never fails on a stray high byte) rather than GSM-7; with
 * data_coding 8 it is UTF-16BE, unless the bytes turn out to be ASCII, which
 * some SMSCs send under data_coding 8 anyway.
 */
function decodeBody(bytes: Uint8Array, dataCoding: number): string {
  const latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  if (dataCoding !== 8) return latin1;
  const even = bytes.subarray(0, bytes.length - (bytes.length % 2));
  const utf16 = Buffer.from(even).swap16().toString('utf16le');
  return !/id\s*:/i.test(utf16) && /id\s*:/i.test(latin1) ? latin1 : utf16;
}

interface BodyFields {
  id?: string;
  stat?: string;
  err?: string;
  submitDate?: string;
  doneDate?: string;
  text?: string;
}

/** A key of the body, not inside a longer word, with any spacing before its colon. */
const BODY_KEY = /(?<![a-z0-9_])(id|sub|dlvrd|submit[\s_]*date|done[\s_]*date|stat|err|text)\s*:/gi;

/**
 * Splits the text body into fields. `text:` runs to the end and may hold
 * anything, `stat:` included, so only the keys before it count; a key missing
 * there is looked for after it (an SMSC that writes `text:` early appends its
 * own fields after the echoed text, so the last occurrence is taken).
 */
function parseBody(decoded: string): BodyFields {
  // A trailing NUL is left over from C strings; it is not part of the last field.
  const body = decoded.replace(/\0+$/, '');
  const keys = [...body.matchAll(BODY_KEY)].map((m) => ({
    name: keyName(m[1] ?? ''),
    start: m.index,
    valueStart: m.index + m[0].length,
  }));
  const textAt = keys.findIndex((k) => k.name === 'text');
  const head = textAt < 0 ? keys : keys.slice(0, textAt);
  const values = new Map<string, string>();
  head.forEach((key, i) => {
    const end = keys[i + 1]?.start ?? body.length;
    if (!values.has(key.name)) values.set(key.name, body.slice(key.valueStart, end).trim());
  });

  const fields: BodyFields = {};
  const textKey = keys[textAt];
  if (textKey !== undefined) {
    let textEnd = body.length;
    const tail = keys.slice(textAt + 1);
    for (let i = tail.length - 1; i >= 0; i--) {
      const key = tail[i];
      if (key === undefined || key.name === 'text' || values.has(key.name)) continue;
      values.set(key.name, body.slice(key.valueStart, tail[i + 1]?.start ?? body.length).trim());
      textEnd = Math.min(textEnd, key.start);
    }
    fields.text = body.slice(textKey.valueStart, textEnd).trim();
  }

  const firstToken = (name: string) => values.get(name)?.split(/\s+/)[0];
  const id = firstToken('id');
  const stat = firstToken('stat');
  const err = firstToken('err');
  const submitDate = values.get('submitdate');
  const doneDate = values.get('donedate');
  if (id !== undefined) fields.id = id;
  if (stat !== undefined) fields.stat = stat;
  if (err !== undefined) fields.err = err;
  if (submitDate !== undefined) fields.submitDate = submitDate;
  if (doneDate !== undefined) fields.doneDate = doneDate;
  return fields;
}

function keyName(raw: string): string {
  return raw.toLowerCase().replace(/[\s_]/g, '');
}

/**
 * YYMMDDhhmm, YYMMDDhhmmss or YYYYMMDDhhmmss in the SMSC's local time → epoch
 * ms; undefined for anything else, an impossible date included.
 */
function parseSmscDate(raw: string, utcOffsetMinutes: number): number | undefined {
  const digits = raw.split(/\s+/)[0] ?? '';
  const m =
    /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?$/.exec(digits) ?? /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)$/.exec(digits);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1).map((d) => Number(d ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const fullYear = year < 100 ? 2000 + year : year;
  const at = new Date(Date.UTC(fullYear, month - 1, day, hour, minute, second));
  const exact =
    at.getUTCFullYear() === fullYear &&
    at.getUTCMonth() === month - 1 &&
    at.getUTCDate() === day &&
    at.getUTCHours() === hour &&
    at.getUTCMinutes() === minute &&
    at.getUTCSeconds() === second;
  return exact ? at.getTime() - utcOffsetMinutes * 60_000 : undefined;
}

/** How a connector's SMSC writes message ids, on one side. */
export type MessageIdFormat = 'hex' | 'decimal' | 'as-is';

/** The id format of submit_sm_resp and of receipts, configured per connector. */
export interface MessageIdConfig {
  submit: MessageIdFormat;
  receipt: MessageIdFormat;
}

/**
 * The config for Kannel's `msg-id-type`, which operators quote: bit 0 set =
 * submit_sm_resp id in hex, bit 1 set = receipt id in hex (0 both decimal,
 * 1 submit hex / receipt decimal, 2 submit decimal / receipt hex, 3 both hex).
 */
export function messageIdConfig(msgIdType: 0 | 1 | 2 | 3): MessageIdConfig {
  return {
    submit: msgIdType & 1 ? 'hex' : 'decimal',
    receipt: msgIdType & 2 ? 'hex' : 'decimal',
  };
}

/**
 * The canonical key of an id: a numeric id (hex or decimal) becomes its value
 * in decimal, so `0A`, `a` and `0010` (decimal) all give `10` and base, case
 * and leading zeros never matter. An id that is not a number in the format
 * declared for it (a UUID, say) falls back to the `as-is` key: trimmed and
 * lower-cased, leading zeros kept. A fallback key always holds a non-digit, so
 * it never equals a numeric key by accident. An empty id gives '', which
 * callers must not match.
 */
export function normalizeMessageId(id: string, format: MessageIdFormat): string {
  const trimmed = cleanId(id);
  if (format === 'hex') {
    const hex = trimmed.replace(/^0x/i, '');
    if (/^[0-9a-f]+$/i.test(hex)) return BigInt(`0x${hex}`).toString(10);
  } else if (format === 'decimal' && /^\d+$/.test(trimmed)) {
    return BigInt(trimmed).toString(10);
  }
  return trimmed.toLowerCase();
}

/** The key of a submit_sm_resp id; a receipt matches when `canonicalReceiptId` gives the same. */
export function canonicalSubmitId(id: string, config: MessageIdConfig): string {
  return normalizeMessageId(id, config.submit);
}

/** The key of a receipt's id; see `canonicalSubmitId`. */
export function canonicalReceiptId(id: string, config: MessageIdConfig): string {
  return normalizeMessageId(id, config.receipt);
}

/** Our final statuses that a customer's receipt can report. */
export type ReceiptStatus = 'delivered' | 'undelivered' | 'expired' | 'rejected' | 'failed' | 'cancelled';

/** A receipt our SMPP server sends to a customer. */
export interface OutgoingReceipt {
  /** the id we returned in submit_sm_resp */
  messageId: string;
  status: ReceiptStatus;
  /** epoch ms the message was accepted */
  submitDate: number;
  /** epoch ms of the final status */
  doneDate: number;
  /** operator error code for `err:` and network_error_code, default 0 */
  errorCode?: number;
  /** the message text; its first 20 characters are echoed in `text:` */
  text?: string;
}

export interface FormatReceiptOptions {
  /** offset from UTC, in minutes, of the dates written (the customer's SMSC clock), default 0 */
  utcOffsetMinutes?: number;
  /** write YYMMDDhhmmss instead of Appendix B's YYMMDDhhmm, default false */
  dateSeconds?: boolean;
  /** network type of network_error_code, default 3 (GSM) */
  networkErrorType?: number;
}

/** A receipt ready for the PDU codec; also a `ReceiptPdu`, so it parses back. */
export interface FormattedReceipt {
  esmClass: number;
  dataCoding: number;
  shortMessage: Buffer;
  tlvs: {
    receiptedMessageId: string;
    messageState: number;
    networkErrorCode?: Buffer;
  };
}

/**
 * Our status → Appendix B word and message_state, by the canonical table:
 * failed reads as REJECTD and cancelled as DELETED (what cancel_sm does).
 */
const OUTGOING: Readonly<Record<ReceiptStatus, readonly [stat: string, messageState: number]>> = {
  delivered: ['DELIVRD', 2],
  undelivered: ['UNDELIV', 5],
  expired: ['EXPIRED', 3],
  rejected: ['REJECTD', 8],
  failed: ['REJECTD', 8],
  cancelled: ['DELETED', 4],
};

/**
 * Builds the receipt for a customer: the Appendix B body exactly as most
 * client libraries expect it, plus the TLVs for those that read them. The
 * body is ASCII under data_coding 0 because that is how clients read
 * receipts; echoed characters outside printable ASCII become '?', so the body
 * is the same bytes whatever the client assumes.
 */
export function formatReceipt(receipt: OutgoingReceipt, options: FormatReceiptOptions = {}): FormattedReceipt {
  const [stat, messageState] = OUTGOING[receipt.status];
  const errorCode = receipt.errorCode ?? 0;
  const offset = options.utcOffsetMinutes ?? 0;
  const seconds = options.dateSeconds ?? false;
  const echoed = [...(receipt.text ?? '')]
    .slice(0, 20)
    .map((c) => (/^[\x20-\x7e]$/.test(c) ? c : '?'))
    .join('');
  const body =
    `id:${receipt.messageId} sub:001 dlvrd:${receipt.status === 'delivered' ? '001' : '000'}` +
    ` submit date:${smscDate(receipt.submitDate, offset, seconds)}` +
    ` done date:${smscDate(receipt.doneDate, offset, seconds)}` +
    ` stat:${stat} err:${String(errorCode).padStart(3, '0')} text:${echoed}`;
  const formatted: FormattedReceipt = {
    esmClass: SMSC_DELIVERY_RECEIPT,
    dataCoding: 0,
    shortMessage: Buffer.from(body, 'latin1'),
    tlvs: { receiptedMessageId: receipt.messageId, messageState },
  };
  if (errorCode !== 0) {
    const network = Buffer.alloc(3);
    network[0] = options.networkErrorType ?? 3;
    network.writeUInt16BE(errorCode & 0xffff, 1);
    formatted.tlvs.networkErrorCode = network;
  }
  return formatted;
}

function smscDate(epochMs: number, utcOffsetMinutes: number, seconds: boolean): string {
  const at = new Date(epochMs + utcOffsetMinutes * 60_000);
  const two = (n: number) => String(n).padStart(2, '0');
  const date =
    two(at.getUTCFullYear() % 100) +
    two(at.getUTCMonth() + 1) +
    two(at.getUTCDate()) +
    two(at.getUTCHours()) +
    two(at.getUTCMinutes());
  return seconds ? date + two(at.getUTCSeconds()) : date;
}
