/**
 * Cuts a TCP byte stream into SMPP PDUs. TCP keeps no message boundaries: a
 * read may hold half a header or forty PDUs, and the only boundary is the
 * peer's command_length, which it may get wrong by accident or on purpose. So
 * the length is checked before anything is buffered for it, and what the
 * reader holds never exceeds one PDU under the cap.
 */
import { decodePdu } from './pdu.ts';
import type { DecodeResult } from './pdu.ts';

/**
 * Default largest PDU accepted, header included: 68 KiB. The largest PDU a
 * peer may legitimately send is a submit_sm or data_sm with a full
 * message_payload (65,535 octets) plus a few hundred octets of mandatory
 * fields and other TLVs; anything bigger is a broken or hostile peer.
 */
export const DEFAULT_MAX_PDU_BYTES = 68 * 1024;

const HEADER_BYTES = 16;

export interface PduReaderOptions {
  /** largest command_length accepted, in octets, default DEFAULT_MAX_PDU_BYTES (68 KiB); at least 16 */
  maxPduBytes?: number;
}

/**
 * A stream decoder: `push()` each chunk as it arrives and handle the results
 * in order. A PDU that does not parse is an error result and the stream goes
 * on after it; a command_length below 16 or above the cap is a fatal error
 * result, after which the stream has no trustworthy boundary left and the
 * reader discards everything. Never throws.
 */
export class PduReader {
  readonly maxPduBytes: number;
  #chunks: Buffer[] = [];
  #size = 0;
  /** octets needed before parsing is worth trying: a header, then the whole PDU */
  #need = HEADER_BYTES;
  #failed = false;

  constructor(options: PduReaderOptions = {}) {
    this.maxPduBytes = Math.max(HEADER_BYTES, options.maxPduBytes ?? DEFAULT_MAX_PDU_BYTES);
  }

  /** octets held for a PDU not complete yet; always below maxPduBytes */
  get bufferedBytes(): number {
    return this.#size;
  }

  /** true after a fatal framing error */
  get failed(): boolean {
    return this.#failed;
  }

  push(chunk: Uint8Array): DecodeResult[] {
    if (this.#failed || chunk.length === 0) return [];
    const results: DecodeResult[] = [];
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    // Concatenating only once enough has arrived keeps byte-by-byte input linear.
    if (this.#size + buf.length < this.#need) {
      this.#chunks.push(Buffer.from(buf));
      this.#size += buf.length;
      if (this.#size >= 4 && this.#need === HEADER_BYTES) this.#checkHeldLength(results);
      return results;
    }
    if (this.#size > 0) {
      this.#chunks.push(buf);
      buf = Buffer.concat(this.#chunks, this.#size + buf.length);
    }
    this.#chunks = [];
    this.#size = 0;
    let off = 0;
    while (buf.length - off >= 4) {
      const length = buf.readUInt32BE(off);
      if (!this.#lengthOk(length)) return this.#fail(buf.subarray(off), results);
      if (buf.length - off < length) break;
      results.push(decodePdu(buf.subarray(off, off + length)));
      off += length;
    }
    const rest = buf.length - off;
    if (rest > 0) {
      this.#chunks.push(Buffer.from(buf.subarray(off)));
      this.#size = rest;
    }
    this.#need = rest >= 4 ? buf.readUInt32BE(off) : HEADER_BYTES;
    return results;
  }

  #lengthOk(length: number): boolean {
    return length >= HEADER_BYTES && length <= this.maxPduBytes;
  }

  /** A held partial header whose first 4 octets just arrived: reject a bad length before waiting for more. */
  #checkHeldLength(results: DecodeResult[]): void {
    const head = Buffer.concat(this.#chunks, this.#size);
    const length = head.readUInt32BE(0);
    if (!this.#lengthOk(length)) {
      this.#fail(head, results);
      return;
    }
    this.#chunks = [head];
    this.#need = length;
  }

  #fail(at: Buffer, results: DecodeResult[]): DecodeResult[] {
    this.#failed = true;
    this.#chunks = [];
    this.#size = 0;
    const length = at.readUInt32BE(0);
    results.push({
      ok: false,
      error: {
        fatal: true,
        status: 0x02,
        sequence: at.length >= HEADER_BYTES ? at.readUInt32BE(12) : 0,
        commandId: at.length >= 8 ? at.readUInt32BE(4) : 0,
        reason: `command_length ${length} is outside 16..${this.maxPduBytes}`,
      },
    });
    return results;
  }
}
