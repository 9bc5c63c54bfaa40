/**
 * "UCS-2" as SMSCs actually use it (data_coding 8): UTF-16 big-endian, so
 * characters outside the BMP travel as surrogate pairs. Code units are copied
 * as they are, lone surrogates included, so decode(encode(text)) === text.
 */

/** Encodes `text` as UTF-16BE. */
export function encodeUcs2(text: string): Buffer {
  return Buffer.from(text, 'utf16le').swap16();
}

/**
 * Decodes UTF-16BE bytes.
 * @throws RangeError on an odd byte count (a truncated code unit).
 */
export function decodeUcs2(buf: Uint8Array): string {
  if (buf.length % 2 !== 0) {
    throw new RangeError(`UCS-2 data has an odd length (${buf.length} bytes)`);
  }
  // Buffer.from copies, so swapping never touches the caller's bytes.
  return Buffer.from(buf).swap16().toString('utf16le');
}
