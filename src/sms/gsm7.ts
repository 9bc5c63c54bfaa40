/**
 * GSM 03.38 (3GPP TS 23.038) 7-bit default alphabet and its extension table,
 * as unpacked septets (one septet value per byte). Packing into octets is the
 * transport codec's job, because SMPP carries septets unpacked in `short_message`
 * while UDH-bearing PDUs need bit-level alignment decided there.
 */

/** The escape septet that introduces an extension-table character. */
export const GSM7_ESCAPE = 0x1b;

/**
 * The default alphabet, indexed by septet value. 0x1B is the escape and never
 * stands for a character of its own; the placeholder keeps indices aligned.
 * 0x09 is capital C-cedilla as in TS 23.038; small ç is deliberately absent so
 * that decoding reproduces the encoded text exactly.
 */
const BASE_TABLE =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ' +
  ' !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§' +
  '¿abcdefghijklmnopqrstuvwxyzäöñüà';

/** Extension table: septet after ESC → character. */
const EXTENSION_TABLE: ReadonlyArray<readonly [septet: number, char: string]> = [
  [0x0a, '\f'],
  [0x14, '^'],
  [0x28, '{'],
  [0x29, '}'],
  [0x2f, '\\'],
  [0x3c, '['],
  [0x3d, '~'],
  [0x3e, ']'],
  [0x40, '|'],
  [0x65, '€'],
];

/** Marks an ENCODE entry as an extension character (ESC + low 7 bits). */
const EXTENSION_FLAG = 0x100;
const NOT_ENCODABLE = -1;

/**
 * UTF-16 code unit → septet (0..0x7F), extension septet | EXTENSION_FLAG, or
 * NOT_ENCODABLE. A flat table over the whole BMP (128 KiB) makes every lookup
 * one indexed load, which matters at thousands of messages a second.
 */
const ENCODE = new Int16Array(0x10000).fill(NOT_ENCODABLE);

/** Septet → UTF-16 code unit, for the default and the extension table (0 = undefined). */
const DECODE_BASE = new Uint16Array(128);
const DECODE_EXTENSION = new Uint16Array(128);

for (let septet = 0; septet < BASE_TABLE.length; septet++) {
  if (septet === GSM7_ESCAPE) continue;
  const code = BASE_TABLE.charCodeAt(septet);
  ENCODE[code] = septet;
  DECODE_BASE[septet] = code;
}
for (const [septet, char] of EXTENSION_TABLE) {
  const code = char.charCodeAt(0);
  ENCODE[code] = septet | EXTENSION_FLAG;
  DECODE_EXTENSION[septet] = code;
}

/**
 * Septets the UTF-16 code unit takes in GSM-7: 1 for the default alphabet,
 * 2 for the extension table, 0 if it cannot be encoded.
 */
export function gsm7Cost(codeUnit: number): 0 | 1 | 2 {
  const entry = ENCODE[codeUnit] ?? NOT_ENCODABLE;
  if (entry === NOT_ENCODABLE) return 0;
  return entry & EXTENSION_FLAG ? 2 : 1;
}

/** True when every character of `text` is in the default alphabet or its extension table. */
export function isGsm7(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (ENCODE[text.charCodeAt(i)] === NOT_ENCODABLE) return false;
  }
  return true;
}

/** The RangeError thrown for the character of `text` at `index` that GSM-7 cannot carry. */
export function notGsm7Error(text: string, index: number): RangeError {
  const codePoint = text.codePointAt(index) ?? 0;
  const char = String.fromCodePoint(codePoint);
  const hex = codePoint.toString(16).toUpperCase().padStart(4, '0');
  return new RangeError(
    `character ${JSON.stringify(char)} (U+${hex}) at index ${index} is not in the GSM 03.38 alphabet`,
  );
}

/**
 * Encodes `text` as unpacked septets, one per byte; extension characters become
 * ESC (0x1B) followed by their extension septet.
 * @throws RangeError naming the first character GSM-7 cannot carry.
 */
export function encodeGsm7(text: string): Uint8Array {
  let septets = 0;
  for (let i = 0; i < text.length; i++) {
    const entry = ENCODE[text.charCodeAt(i)] ?? NOT_ENCODABLE;
    if (entry === NOT_ENCODABLE) throw notGsm7Error(text, i);
    septets += entry & EXTENSION_FLAG ? 2 : 1;
  }
  const out = new Uint8Array(septets);
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    const entry = ENCODE[text.charCodeAt(i)] ?? NOT_ENCODABLE;
    if (entry & EXTENSION_FLAG) {
      out[at++] = GSM7_ESCAPE;
      out[at++] = entry & 0x7f;
    } else {
      out[at++] = entry;
    }
  }
  return out;
}

/** Enough code units per String.fromCharCode call to be fast, few enough not to overflow the stack. */
const FROM_CHAR_CODE_CHUNK = 8192;

/**
 * Decodes unpacked septets. As TS 23.038 asks of a receiver, ESC followed by a
 * septet with no extension character shows the default-alphabet character, and
 * a lone or doubled ESC shows a space.
 * @throws RangeError if a byte is above 0x7F (not a septet).
 */
export function decodeGsm7(septets: Uint8Array): string {
  const units = new Uint16Array(septets.length);
  let length = 0;
  for (let i = 0; i < septets.length; i++) {
    const septet = septets[i] ?? 0;
    if (septet > 0x7f) throw new RangeError(`byte 0x${septet.toString(16)} at offset ${i} is not a septet`);
    if (septet !== GSM7_ESCAPE) {
      units[length++] = DECODE_BASE[septet] ?? 0;
      continue;
    }
    const next = septets[i + 1];
    if (next === undefined || next === GSM7_ESCAPE) {
      units[length++] = 0x20;
      if (next !== undefined) i++;
      continue;
    }
    if (next > 0x7f) throw new RangeError(`byte 0x${next.toString(16)} at offset ${i + 1} is not a septet`);
    units[length++] = (DECODE_EXTENSION[next] || DECODE_BASE[next]) ?? 0;
    i++;
  }
  let text = '';
  for (let start = 0; start < length; start += FROM_CHAR_CODE_CHUNK) {
    text += String.fromCharCode(...units.subarray(start, Math.min(start + FROM_CHAR_CODE_CHUNK, length)));
  }
  return text;
}
