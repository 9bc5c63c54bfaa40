/**
 * SMS encoding choice and segmentation into concatenated parts, with the limits
 * of a 140-octet user data field: GSM-7 160 septets alone or 153 per part, UCS-2
 * 70 code units alone or 67 per part (the rest of each part holds the 6-octet
 * concatenation UDH).
 */
import { gsm7Cost, notGsm7Error } from './gsm7.ts';

export { decodeGsm7, encodeGsm7, GSM7_ESCAPE, isGsm7 } from './gsm7.ts';
export { decodeUcs2, encodeUcs2 } from './ucs2.ts';

export type SmsEncoding = 'gsm7' | 'ucs2';

export interface SegmentOptions {
  /** `auto` (default) picks gsm7 when every character fits it, otherwise ucs2. */
  encoding?: 'auto' | SmsEncoding;
}

export interface SmsPart {
  /** 1-based */
  index: number;
  text: string;
  /** septets (gsm7) or UTF-16 code units (ucs2) this part uses */
  units: number;
}

export interface Segmentation {
  encoding: SmsEncoding;
  /** Unicode code points in the text */
  characters: number;
  /** septets or UTF-16 code units of the whole text */
  units: number;
  /** units one part may hold given how many parts there are: 160/153 or 70/67 */
  unitsPerPart: number;
  parts: SmsPart[];
}

export const GSM7_SINGLE_SEPTETS = 160;
export const GSM7_CONCAT_SEPTETS = 153;
export const UCS2_SINGLE_UNITS = 70;
export const UCS2_CONCAT_UNITS = 67;

/**
 * Splits `text` into the parts it will be sent as. An extension character
 * (two septets) and a surrogate pair are never split across parts; the parts'
 * texts concatenated equal `text`; an empty text has no parts.
 * @throws RangeError when `encoding: 'gsm7'` is forced on a text GSM-7 cannot carry.
 */
export function segment(text: string, options?: SegmentOptions): Segmentation {
  const wanted = options?.encoding ?? 'auto';
  if (wanted === 'ucs2') return segmentUcs2(text);
  const septets = countSeptets(text);
  if (septets >= 0) return segmentGsm7(text, septets);
  if (wanted === 'gsm7') throw notGsm7Error(text, -septets - 1);
  return segmentUcs2(text);
}

/** Septets of `text`, or −(index + 1) of the first character GSM-7 cannot carry. */
function countSeptets(text: string): number {
  let septets = 0;
  for (let i = 0; i < text.length; i++) {
    const cost = gsm7Cost(text.charCodeAt(i));
    if (cost === 0) return -i - 1;
    septets += cost;
  }
  return septets;
}

function segmentGsm7(text: string, septets: number): Segmentation {
  const result: Segmentation = {
    encoding: 'gsm7',
    // Every GSM character is a single BMP code unit.
    characters: text.length,
    units: septets,
    unitsPerPart: GSM7_SINGLE_SEPTETS,
    parts: [],
  };
  if (septets === 0) return result;
  if (septets <= GSM7_SINGLE_SEPTETS) {
    result.parts.push({ index: 1, text, units: septets });
    return result;
  }
  result.unitsPerPart = GSM7_CONCAT_SEPTETS;
  let start = 0;
  let partUnits = 0;
  for (let i = 0; i < text.length; i++) {
    const cost = gsm7Cost(text.charCodeAt(i));
    if (partUnits + cost > GSM7_CONCAT_SEPTETS) {
      result.parts.push({ index: result.parts.length + 1, text: text.slice(start, i), units: partUnits });
      start = i;
      partUnits = 0;
    }
    partUnits += cost;
  }
  result.parts.push({ index: result.parts.length + 1, text: text.slice(start), units: partUnits });
  return result;
}

function segmentUcs2(text: string): Segmentation {
  const units = text.length;
  const result: Segmentation = {
    encoding: 'ucs2',
    characters: units - countSurrogatePairs(text),
    units,
    unitsPerPart: UCS2_SINGLE_UNITS,
    parts: [],
  };
  if (units === 0) return result;
  if (units <= UCS2_SINGLE_UNITS) {
    result.parts.push({ index: 1, text, units });
    return result;
  }
  result.unitsPerPart = UCS2_CONCAT_UNITS;
  let start = 0;
  while (start < units) {
    let end = Math.min(start + UCS2_CONCAT_UNITS, units);
    if (end < units && isHighSurrogate(text.charCodeAt(end - 1)) && isLowSurrogate(text.charCodeAt(end))) end--;
    result.parts.push({ index: result.parts.length + 1, text: text.slice(start, end), units: end - start });
    start = end;
  }
  return result;
}

function countSurrogatePairs(text: string): number {
  let pairs = 0;
  for (let i = 0; i < text.length - 1; i++) {
    if (isHighSurrogate(text.charCodeAt(i)) && isLowSurrogate(text.charCodeAt(i + 1))) {
      pairs++;
      i++;
    }
  }
  return pairs;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
