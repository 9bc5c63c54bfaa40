/**
 * Long messages over SMPP: submit fields for each part of a segmented text
 * (UDH, SAR TLVs or one message_payload), and reassembly of the parts of
 * inbound (MO) messages, which arrive in any order, twice, or never.
 *
 * Size limits. The 140-octet user data limit is on the air interface, after
 * the SMSC packs septets; `short_message` carries GSM-7 text unpacked, one
 * septet per octet, and is limited to 254 octets. So a 153-septet part behind
 * the 6-octet UDH is 159 octets in the PDU, which is what SMSCs expect: they
 * pack the UDH (48 bits, padded to 7 septets) and the 153 septets into
 * exactly 140 octets. The check is therefore on packed size, header included:
 * GSM-7 header septets + text septets ≤ 160, UCS-2 header + text ≤ 140
 * octets. encoding.ts sizes parts for the 6-octet UDH (153 / 67), and those
 * are the parts sent: one submit per part counted (and charged) at accept,
 * never split again here. The 7-octet UDH of a 16-bit reference leaves
 * 152 / 66, so a message whose parts are fuller goes with the 8-bit one.
 * Packing GSM-7 ourselves is left out: encoding.ts has no packer and SMPP
 * SMSCs take unpacked septets.
 */
import type { Segmentation, SmsEncoding } from '../sms/encoding.ts';
import { decodeGsm7, decodeUcs2, encodeGsm7, encodeUcs2 } from '../sms/encoding.ts';

/** esm_class bit 6: short_message (or message_payload) starts with a UDH. */
export const ESM_CLASS_UDHI = 0x40;

/**
 * How a connector sends a long text: a UDH with an 8- or 16-bit reference in
 * each part, SAR TLVs on each part, or the whole text in one message_payload
 * (for SMSCs that accept it and split it themselves).
 */
export type ConcatMethod = 'udh8' | 'udh16' | 'sar' | 'payload';

/** The fields of one submit_sm that concatenation decides; the PDU codec adds the rest. */
export interface SubmitPart {
  shortMessage: Buffer;
  /** ESM_CLASS_UDHI or 0; OR in a messaging mode if the connector uses one */
  esmClass: number;
  dataCoding: number;
  tlvs: {
    sarMsgRefNum?: number;
    sarTotalSegments?: number;
    sarSegmentSeqnum?: number;
    messagePayload?: Buffer;
  };
}

export interface SubmitPartsOptions {
  method: ConcatMethod;
  /** the next concatenation reference, called once per multipart message; masked to 8 or 16 bits */
  nextRef: () => number;
  /**
   * data_coding for GSM-7 texts, default 0. 0 sends unpacked GSM-7 septets;
   * 1 (IA5) and 3 (Latin-1) send those bytes instead, for SMSCs whose
   * "default alphabet" is not GSM-7, and throw on characters they lack.
   */
  gsmDataCoding?: 0 | 1 | 3;
}

const UDH8_OCTETS = 6;
const UDH16_OCTETS = 7;
const MAX_PARTS = 255;

/**
 * The submit_sm fields for each part of `segmentation`: exactly one per part
 * (the parts encoding.ts split the text into, which accept counted and
 * charged). A single-part text goes without UDH or SAR (no reference is
 * taken); an empty text has no parts. With `payload` the whole text is one
 * PDU whatever its length. SAR references are masked to 8 bits although the
 * TLV holds 16: an SMSC that turns SAR into a UDH can then always use the
 * 6-octet one that the 153 / 67 parts are sized for. For the same reason
 * `udh16` takes the 16-bit reference only when every part leaves room for
 * its 7-octet UDH (152 septets / 66 code units), the 8-bit one otherwise:
 * the choice depends on the parts alone, so a retry of some parts takes the
 * same one.
 * @throws RangeError beyond 255 parts, for a part too long for a 6-octet UDH, or for a character data_coding 1 or 3 cannot carry.
 */
export function submitParts(segmentation: Pick<Segmentation, 'encoding' | 'parts'>, options: SubmitPartsOptions): SubmitPart[] {
  const parts = segmentation.parts;
  if (parts.length === 0) return [];
  const dataCoding = segmentation.encoding === 'ucs2' ? 8 : (options.gsmDataCoding ?? 0);
  const encode = (text: string) => encodeText(text, dataCoding);
  if (options.method === 'payload') {
    const whole = encode(parts.map((p) => p.text).join(''));
    return [{ shortMessage: Buffer.alloc(0), esmClass: 0, dataCoding, tlvs: { messagePayload: whole } }];
  }
  if (parts.length === 1) return [{ shortMessage: encode(parts[0]?.text ?? ''), esmClass: 0, dataCoding, tlvs: {} }];

  const total = parts.length;
  if (total > MAX_PARTS) throw new RangeError(`a text of ${total} parts exceeds the ${MAX_PARTS} concatenation allows`);
  const tooLong = parts.find((p) => p.units > unitsBehind(segmentation.encoding, UDH8_OCTETS));
  if (tooLong) throw new RangeError(`part ${tooLong.index} has ${tooLong.units} units, more than a concatenated part carries`);
  const method = options.method === 'udh16' && parts.some((p) => p.units > unitsBehind(segmentation.encoding, UDH16_OCTETS)) ? 'udh8' : options.method;
  const ref = options.nextRef();
  return parts.map((part, i): SubmitPart => {
    const seq = i + 1;
    const body = encode(part.text);
    const withUdh = (udh: number[]): SubmitPart => ({
      shortMessage: Buffer.concat([Buffer.from(udh), body]),
      esmClass: ESM_CLASS_UDHI,
      dataCoding,
      tlvs: {},
    });
    switch (method) {
      case 'udh8':
        return withUdh([UDH8_OCTETS - 1, 0x00, 3, ref & 0xff, total, seq]);
      case 'udh16':
        return withUdh([UDH16_OCTETS - 1, 0x08, 4, (ref >> 8) & 0xff, ref & 0xff, total, seq]);
      default:
        return {
          shortMessage: body,
          esmClass: 0,
          dataCoding,
          tlvs: { sarMsgRefNum: ref & 0xff, sarTotalSegments: total, sarSegmentSeqnum: seq },
        };
    }
  });
}

function encodeText(text: string, dataCoding: number): Buffer {
  if (dataCoding === 8) return encodeUcs2(text);
  if (dataCoding === 0) return Buffer.from(encodeGsm7(text));
  const max = dataCoding === 1 ? 0x7f : 0xff;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > max) {
      const name = dataCoding === 1 ? 'IA5 (ASCII)' : 'Latin-1';
      const char = JSON.stringify(text[i]);
      throw new RangeError(`character ${char} at index ${i} is not in ${name} (data_coding ${dataCoding})`);
    }
  }
  return Buffer.from(text, 'latin1');
}

/** Septets (GSM-7) or code units (UCS-2) a part may hold behind a UDH of `udhOctets`, packed into 140 octets. */
function unitsBehind(encoding: SmsEncoding, udhOctets: number): number {
  return encoding === 'gsm7' ? 160 - Math.ceil((udhOctets * 8) / 7) : Math.floor((140 - udhOctets) / 2);
}

/** Where a part sits in its message: `seq` of `total` (1-based) under reference `ref`. */
export interface ConcatInfo {
  ref: number;
  total: number;
  seq: number;
}

/** One information element of a UDH. */
export interface InformationElement {
  iei: number;
  data: Buffer;
}

export interface ParsedUdh {
  /** from IE 0x00 or 0x08; null without one, or when it is invalid (seq 0 or above total) */
  concat: ConcatInfo | null;
  /** every IE in order, the concatenation one included (port addressing and the like) */
  elements: InformationElement[];
  /** the octets after the UDH */
  body: Buffer;
}

/**
 * Splits a UDH off `shortMessage` (call it when esm_class has ESM_CLASS_UDHI).
 * As TS 23.040 asks, an invalid concatenation IE is ignored and, when the IE
 * repeats, the last one counts. Null when the header overruns the data.
 */
export function parseUdh(shortMessage: Uint8Array): ParsedUdh | null {
  const bytes = Buffer.from(shortMessage.buffer, shortMessage.byteOffset, shortMessage.byteLength);
  const headerLength = bytes[0];
  if (headerLength === undefined || 1 + headerLength > bytes.length) return null;
  const elements: InformationElement[] = [];
  let concat: ConcatInfo | null = null;
  for (let at = 1; at < 1 + headerLength; ) {
    const iei = bytes[at];
    const length = bytes[at + 1];
    if (iei === undefined || length === undefined || at + 2 + length > 1 + headerLength) return null;
    const data = bytes.subarray(at + 2, at + 2 + length);
    elements.push({ iei, data });
    if (iei === 0x00 && length === 3) concat = validConcat(data[0] ?? 0, data[1] ?? 0, data[2] ?? 0);
    if (iei === 0x08 && length === 4) concat = validConcat(data.readUInt16BE(0), data[2] ?? 0, data[3] ?? 0);
    at += 2 + length;
  }
  return { concat, elements, body: bytes.subarray(1 + headerLength) };
}

function validConcat(ref: number, total: number, seq: number): ConcatInfo | null {
  return total >= 1 && seq >= 1 && seq <= total ? { ref, total, seq } : null;
}

/** The fields of a deliver_sm (or data_sm) that say where the text is and how it is split. */
export interface InboundFields {
  esmClass: number;
  shortMessage: Uint8Array;
  tlvs?: {
    sarMsgRefNum?: number;
    sarTotalSegments?: number;
    sarSegmentSeqnum?: number;
    messagePayload?: Uint8Array;
  };
}

/**
 * The text octets of an inbound PDU and its place in a long message, from the
 * UDH or else the SAR TLVs. The text is in message_payload when short_message
 * is empty. A UDH that overruns its data is kept as text: the message is
 * malformed, and showing the stray octets beats dropping it.
 */
export function inboundBody(fields: InboundFields): { concat: ConcatInfo | null; body: Buffer } {
  const tlvs = fields.tlvs ?? {};
  const raw = fields.shortMessage.length > 0 ? fields.shortMessage : (tlvs.messagePayload ?? fields.shortMessage);
  const bytes = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (fields.esmClass & ESM_CLASS_UDHI) {
    const udh = parseUdh(bytes);
    if (udh !== null && udh.concat !== null) return { concat: udh.concat, body: udh.body };
    if (udh !== null) return { concat: sarConcat(tlvs), body: udh.body };
  }
  return { concat: sarConcat(tlvs), body: bytes };
}

function sarConcat(tlvs: NonNullable<InboundFields['tlvs']>): ConcatInfo | null {
  const { sarMsgRefNum: ref, sarTotalSegments: total, sarSegmentSeqnum: seq } = tlvs;
  return ref === undefined || total === undefined || seq === undefined ? null : validConcat(ref, total, seq);
}

export interface DecodeOptions {
  /**
   * What the SMSC means by data_coding 0, its "default alphabet": GSM-7
   * unpacked septets (default), or Latin-1 / ASCII for SMSCs that say so.
   */
  defaultAlphabet?: 'gsm7' | 'latin1' | 'ascii';
}

/**
 * Decodes text octets by data_coding: 0 the SMSC default, 1 IA5, 3 Latin-1,
 * 8 UCS-2, and the GSM-7 / UCS-2 alphabets of the TS 23.038 coding groups
 * (flash and message-waiting included). Null for binary data and alphabets
 * we do not carry (JIS, Cyrillic, Hebrew…), which the caller keeps as octets.
 * Never throws on what an SMSC sends: GSM-7 with a byte above 0x7F is read as
 * Latin-1 (the SMSC meant that), ASCII is read as Latin-1 so a stray high byte
 * stays visible, and an odd trailing UCS-2 octet is dropped.
 */
export function decodeText(bytes: Uint8Array, dataCoding: number, options: DecodeOptions = {}): string | null {
  switch (alphabet(dataCoding, options.defaultAlphabet ?? 'gsm7')) {
    case 'gsm7':
      return bytes.every((b) => b <= 0x7f) ? decodeGsm7(bytes) : latin1(bytes);
    case 'latin1':
      return latin1(bytes);
    case 'ucs2':
      return decodeUcs2(bytes.subarray(0, bytes.length - (bytes.length % 2)));
    default:
      return null;
  }
}

function alphabet(dataCoding: number, defaultAlphabet: 'gsm7' | 'latin1' | 'ascii'): 'gsm7' | 'latin1' | 'ucs2' | null {
  if (dataCoding === 0) return defaultAlphabet === 'gsm7' ? 'gsm7' : 'latin1';
  if (dataCoding === 1 || dataCoding === 3) return 'latin1';
  if (dataCoding === 8) return 'ucs2';
  if (dataCoding < 0x10) return null;
  const group = dataCoding & 0xc0;
  // General data coding and automatic deletion groups: bit 5 compressed, bits 3..2 the alphabet.
  if (group === 0x00 || group === 0x40) {
    if (dataCoding & 0x20) return null;
    return (['gsm7', null, 'ucs2', null] as const)[(dataCoding >> 2) & 3] ?? null;
  }
  if (dataCoding >= 0xc0 && dataCoding <= 0xdf) return 'gsm7';
  if (dataCoding >= 0xe0 && dataCoding <= 0xef) return 'ucs2';
  if (dataCoding >= 0xf0) return dataCoding & 0x04 ? null : 'gsm7';
  return null;
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** One received part, as `inboundBody` gives it plus the addresses. */
export interface InboundPart {
  source: string;
  destination: string;
  dataCoding: number;
  /** null for a message that was not split */
  concat: ConcatInfo | null;
  body: Uint8Array;
}

export interface AssembledMessage {
  source: string;
  destination: string;
  /** the joined text; null when a part is binary or in an alphabet we do not decode */
  text: string | null;
  /** false when the timeout passed first; `text` then joins the parts that arrived */
  complete: boolean;
  /** 1 for a message that was not split */
  total: number;
  /** null for a message that was not split */
  ref: number | null;
  /** seq numbers that arrived, ascending */
  received: number[];
  /** seq numbers that never came, ascending */
  missing: number[];
  /** epoch ms the first part arrived */
  firstAt: number;
}

export interface ReassemblerOptions {
  /** how long after its first part a message may wait for the rest, default 300 000 (5 min) */
  timeoutMs?: number;
  decode?: DecodeOptions;
}

interface Group {
  source: string;
  destination: string;
  ref: number | null;
  total: number;
  firstAt: number;
  parts: Map<number, { dataCoding: number; body: Buffer }>;
}

/**
 * Joins the parts of inbound messages. Parts belong together when source,
 * destination, reference and total agree (the reference alone is only unique
 * per sender and recipient). The clock is passed in, so the caller decides
 * when time moves and tests need no timers.
 *
 * A completed message is remembered until `timeoutMs` after its first part:
 * SMSCs resend parts whose response they missed, and a part arriving after
 * its message completed would otherwise start a message that can never
 * complete. Such a part is dropped when its octets equal the ones received;
 * different octets mean the sender reused the reference for a new message,
 * which then starts afresh.
 */
export class Reassembler {
  readonly #timeoutMs: number;
  readonly #decode: DecodeOptions;
  readonly #pending = new Map<string, Group>();
  readonly #completed = new Map<string, Group>();

  constructor(options: ReassemblerOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 300_000;
    this.#decode = options.decode ?? {};
  }

  /** messages waiting for parts */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Takes a part received at `now` (epoch ms). Returns the message once its
   * last part is in, at once for a message that was not split, and null
   * while parts are missing or when the part is a duplicate.
   */
  add(part: InboundPart, now: number): AssembledMessage | null {
    const body = Buffer.from(part.body.buffer, part.body.byteOffset, part.body.byteLength);
    // An impossible position is ignored, as TS 23.040 asks of the IE itself.
    const concat = part.concat !== null && validConcat(part.concat.ref, part.concat.total, part.concat.seq);
    if (!concat || concat.total === 1) {
      const parts = new Map([[1, { dataCoding: part.dataCoding, body }]]);
      const { source, destination } = part;
      return this.#assemble({ source, destination, ref: null, total: 1, firstAt: now, parts });
    }
    const key = JSON.stringify([part.source, part.destination, concat.ref, concat.total]);
    const done = this.#completed.get(key);
    if (done !== undefined) {
      if (done.parts.get(concat.seq)?.body.equals(body)) return null;
      this.#completed.delete(key);
    }
    let group = this.#pending.get(key);
    if (group === undefined) {
      group = {
        source: part.source,
        destination: part.destination,
        ref: concat.ref,
        total: concat.total,
        firstAt: now,
        parts: new Map(),
      };
      this.#pending.set(key, group);
    }
    if (group.parts.has(concat.seq)) return null;
    group.parts.set(concat.seq, { dataCoding: part.dataCoding, body });
    if (group.parts.size < group.total) return null;
    this.#pending.delete(key);
    this.#completed.set(key, group);
    return this.#assemble(group);
  }

  /**
   * Gives up on messages whose first part is `timeoutMs` old at `now`,
   * oldest first, and forgets completed ones as old.
   */
  expire(now: number): AssembledMessage[] {
    const expired: AssembledMessage[] = [];
    for (const [key, group] of this.#pending) {
      if (now - group.firstAt < this.#timeoutMs) continue;
      this.#pending.delete(key);
      expired.push(this.#assemble(group));
    }
    for (const [key, group] of this.#completed) {
      if (now - group.firstAt >= this.#timeoutMs) this.#completed.delete(key);
    }
    return expired.sort((a, b) => a.firstAt - b.firstAt);
  }

  /**
   * Decodes the whole when it is complete and in one coding, so a GSM escape
   * or a surrogate pair split between parts survives; part by part otherwise.
   */
  #assemble(group: Group): AssembledMessage {
    const received = [...group.parts.keys()].sort((a, b) => a - b);
    const missing: number[] = [];
    for (let seq = 1; seq <= group.total; seq++) if (!group.parts.has(seq)) missing.push(seq);
    const parts = received.map((seq) => group.parts.get(seq)).filter((p) => p !== undefined);
    const codings = new Set(parts.map((p) => p.dataCoding));
    let text: string | null;
    const [coding] = codings;
    if (missing.length === 0 && codings.size === 1 && coding !== undefined) {
      text = decodeText(Buffer.concat(parts.map((p) => p.body)), coding, this.#decode);
    } else {
      const texts = parts.map((p) => decodeText(p.body, p.dataCoding, this.#decode));
      text = texts.every((t) => t !== null) ? texts.join('') : null;
    }
    return {
      source: group.source,
      destination: group.destination,
      text,
      complete: missing.length === 0,
      total: group.total,
      ref: group.ref,
      received,
      missing,
      firstAt: group.firstAt,
    };
  }
}
