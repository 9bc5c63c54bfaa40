import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isValidRegion, normalizePhone } from './phone.ts';

function assertE164(input: string, region: string, e164: string, country: string | undefined): void {
  assert.deepEqual(normalizePhone(input, region), { ok: true, e164, country }, `normalizePhone(${JSON.stringify(input)}, ${region})`);
}

function assertIssue(input: string, region: string, issue: string | RegExp): void {
  const result = normalizePhone(input, region);
  assert.equal(result.ok, false, `${JSON.stringify(input)} should be refused, got ${JSON.stringify(result)}`);
  if (!result.ok) {
    if (typeof issue === 'string') assert.equal(result.issue, issue);
    else assert.match(result.issue, issue);
  }
}

describe('normalizePhone, Russian forms', () => {
  it('accepts every common way of writing a Russian mobile', () => {
    for (const input of [
      '+7 916 123-45-67',
      '+79161234567',
      '8 (916) 123 45 67',
      '89161234567',
      '8-916-123-45-67',
      '79161234567',
      '7 916 123 45 67',
      '9161234567',
      '(916) 123-45-67',
      '  +7 (916) 123-45-67  ',
      '８９１６１２３４５６７',
    ]) {
      assertE164(input, 'RU', '+79161234567', 'RU');
    }
  });

  it('accepts the 8-800 free-phone range and Moscow landlines', () => {
    assertE164('8 800 555-35-35', 'RU', '+78005553535', 'RU');
    assertE164('8 (495) 123-45-67', 'RU', '+74951234567', 'RU');
  });

  it('dials abroad with the Russian 8~10 prefix', () => {
    assertE164('810 44 20 7946 0958', 'RU', '+442079460958', 'GB');
  });

  it('tells Kazakhstan from Russia inside +7', () => {
    assertE164('+7 701 123 45 67', 'RU', '+77011234567', 'KZ');
  });
});

describe('normalizePhone, international', () => {
  it('parses numbers with a country code whatever the default region', () => {
    assertE164('+44 20 7946 0958', 'RU', '+442079460958', 'GB');
    assertE164('+44 7400 123456', 'US', '+447400123456', 'GB');
    assertE164('+1 212 555 0123', 'RU', '+12125550123', 'US');
    assertE164('+1 (416) 555-0123', 'RU', '+14165550123', 'CA');
    assertE164('+49 30 901820', 'RU', '+4930901820', 'DE');
    assertE164('+380 44 123 4567', 'RU', '+380441234567', 'UA');
    assertE164('+998 90 123 45 67', 'RU', '+998901234567', 'UZ');
  });

  it('applies the default region to national numbers', () => {
    assertE164('(212) 555-0123', 'US', '+12125550123', 'US');
    assertE164('020 7946 0958', 'GB', '+442079460958', 'GB');
    assertE164('07400 123456', 'GB', '+447400123456', 'GB');
  });

  it('accepts a non-geographic number with no country', () => {
    assertE164('+800 1234 5678', 'RU', '+80012345678', undefined);
  });
});

describe('normalizePhone, refusals', () => {
  it('refuses empty input', () => {
    assertIssue('', 'RU', 'empty phone number');
    assertIssue('   ', 'RU', 'empty phone number');
  });

  it('refuses letters, Latin or Cyrillic, vanity numbers and extensions spelled out', () => {
    assertIssue('+7 916 ABC-45-67', 'RU', 'contains letters');
    assertIssue('1-800-FLOWERS', 'US', 'contains letters');
    assertIssue('+7 (916) 123-45-67 доб. 5', 'RU', 'contains letters');
    assertIssue('tel:+79161234567', 'RU', 'contains letters');
  });

  it('refuses garbage', () => {
    assertIssue('+', 'RU', 'not a phone number');
    assertIssue('!!!', 'RU', 'not a phone number');
    assertIssue('++79161234567', 'RU', 'not a phone number');
  });

  it('refuses an extension written with #', () => {
    assertIssue('+7 916 123-45-67 #12', 'RU', 'contains an extension');
  });

  it('refuses numbers that are too short', () => {
    assertIssue('0', 'RU', 'too short');
    assertIssue('12345', 'RU', 'too short for region RU');
    assertIssue('916123456', 'RU', 'too short for region RU');
    assertIssue('+7916123456', 'RU', 'too short for region RU');
  });

  it('refuses numbers that are too long', () => {
    assertIssue('+7 916 123 45 67 89 01 23 45 67 89', 'RU', 'too long');
    assertIssue('79161234567', 'US', 'too long for region US');
    assertIssue('+791612345678', 'RU', /^(too long|wrong number of digits) for region RU$/);
  });

  it('refuses numbers of a possible length that no range contains', () => {
    assertIssue('+7 000 123 45 67', 'RU', 'not a valid phone number for country code +7');
    assertIssue('+1 212 055 0123', 'RU', 'not a valid phone number for country code +1');
    // Ofcom keeps 07700 900000–900999 for drama; no real subscriber has one.
    assertIssue('+44 7700 900123', 'RU', 'not a valid phone number for country code +44');
  });

  it('refuses an unknown country calling code', () => {
    assertIssue('+999 12345678', 'RU', 'unknown country calling code');
  });

  it('still parses international numbers when the default region is unknown', () => {
    assertE164('+79161234567', 'XX', '+79161234567', 'RU');
    assertIssue('9161234567', 'XX', 'no country code, and default region "XX" is unknown');
  });
});

describe('isValidRegion', () => {
  it('accepts upper-case alpha-2 codes libphonenumber knows', () => {
    for (const code of ['RU', 'US', 'GB', 'KZ', 'DE', 'UA']) assert.equal(isValidRegion(code), true, code);
  });

  it('refuses anything else', () => {
    for (const code of ['', 'ru', 'XX', 'RUS', '001', '7', 'R']) assert.equal(isValidRegion(code), false, code);
  });
});
