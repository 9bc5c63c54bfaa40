/**
 * Phone number normalisation to E.164. Uses the `max` metadata: the smaller
 * sets only check lengths and would accept numbers no operator can reach.
 */
import {
  isSupportedCountry,
  ParseError,
  parsePhoneNumberWithError,
  validatePhoneNumberLength,
} from 'libphonenumber-js/max';
import type { CountryCode, PhoneNumber } from 'libphonenumber-js/max';

export type PhoneResult =
  | { ok: true; e164: string; country: string | undefined }
  | { ok: false; issue: string };

// One test per input, not per character; \p{L} covers Cyrillic "доб." and Latin "ext" alike.
const LETTER = /\p{L}/u;

/** True for an upper-case ISO 3166 alpha-2 code that libphonenumber has metadata for. */
export function isValidRegion(code: string): boolean {
  return /^[A-Z]{2}$/.test(code) && isSupportedCountry(code);
}

/**
 * Parses a number in any common form (+7 916 123-45-67, 8 (916) 123 45 67,
 * 79161234567, 9161234567 with default region RU) into E.164. `defaultRegion`
 * (upper-case ISO 3166 alpha-2) applies to numbers written without a country code.
 * Only numbers valid per the metadata are accepted; extensions are refused
 * because an SMS cannot be sent to one.
 */
export function normalizePhone(input: string, defaultRegion: string): PhoneResult {
  const text = input.trim();
  if (text === '') return { ok: false, issue: 'empty phone number' };
  if (LETTER.test(text)) return { ok: false, issue: 'contains letters' };

  const region = isValidRegion(defaultRegion) ? (defaultRegion as CountryCode) : undefined;
  let phone: PhoneNumber;
  try {
    phone = parsePhoneNumberWithError(text, { defaultCountry: region, extract: false });
  } catch (error) {
    if (error instanceof ParseError) return { ok: false, issue: parseIssue(error.message, defaultRegion, region) };
    throw error;
  }

  if (phone.ext !== undefined) return { ok: false, issue: 'contains an extension' };
  if (!phone.isValid()) return { ok: false, issue: invalidIssue(phone) };
  return { ok: true, e164: phone.number, country: phone.country };
}

function parseIssue(code: string, defaultRegion: string, region: CountryCode | undefined): string {
  switch (code) {
    case 'INVALID_COUNTRY':
      return region === undefined
        ? `no country code, and default region ${JSON.stringify(defaultRegion)} is unknown`
        : 'unknown country calling code';
    case 'TOO_SHORT':
      return 'too short';
    case 'TOO_LONG':
      return 'too long';
    default:
      return 'not a phone number';
  }
}

function invalidIssue(phone: PhoneNumber): string {
  const where = phone.country === undefined ? `country code +${phone.countryCallingCode}` : `region ${phone.country}`;
  switch (validatePhoneNumberLength(phone.number)) {
    case 'TOO_SHORT':
      return `too short for ${where}`;
    case 'TOO_LONG':
      return `too long for ${where}`;
    case 'INVALID_LENGTH':
      return `wrong number of digits for ${where}`;
    default:
      return `not a valid phone number for ${where}`;
  }
}
