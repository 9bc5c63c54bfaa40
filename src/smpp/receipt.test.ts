import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MessageIdConfig, ParsedReceipt, ReceiptPdu, ReceiptState, ReceiptStatus } from './receipt.ts';
import {
  canonicalReceiptId,
  canonicalSubmitId,
  formatReceipt,
  isReceiptEsmClass,
  messageIdConfig,
  normalizeMessageId,
  parseReceipt,
} from './receipt.ts';

/** A receipt PDU whose body is `body` in ASCII. */
function pdu(body: string, extra: Partial<ReceiptPdu> = {}): ReceiptPdu {
  return { esmClass: 0x04, dataCoding: 0, shortMessage: Buffer.from(body, 'latin1'), ...extra };
}

const JAN15_1230 = Date.UTC(2024, 0, 15, 12, 30);
const JAN15_1231 = Date.UTC(2024, 0, 15, 12, 31);
const STANDARD =
  'id:1234567890 sub:001 dlvrd:001 submit date:2401151230 done date:2401151231 stat:DELIVRD err:000 text:Your code is 4711';

interface Case {
  name: string;
  pdu: ReceiptPdu;
  expected: ParsedReceipt | null;
}

const CASES: Case[] = [
  {
    name: 'Appendix B body',
    pdu: pdu(STANDARD),
    expected: {
      messageId: '1234567890',
      state: 'delivered',
      final: true,
      errorCode: '000',
      submitDate: JAN15_1230,
      doneDate: JAN15_1231,
      rawStat: 'DELIVRD',
      text: 'Your code is 4711',
    },
  },
  {
    name: 'TLVs only, empty body',
    pdu: pdu('', { tlvs: { receiptedMessageId: '0A1B', messageState: 5, networkErrorCode: Uint8Array.of(3, 0, 27) } }),
    expected: { messageId: '0A1B', state: 'undelivered', final: true, errorCode: '027', networkErrorType: 3 },
  },
  {
    name: 'TLVs and body disagree: the TLVs win, the body stat word is kept',
    pdu: pdu('id:123 stat:UNDELIV err:001 text:x', {
      tlvs: { receiptedMessageId: '7B', messageState: 2, networkErrorCode: Uint8Array.of(3, 0x01, 0x00) },
    }),
    expected: {
      messageId: '7B',
      state: 'delivered',
      final: true,
      errorCode: '256',
      networkErrorType: 3,
      rawStat: 'UNDELIV',
      text: 'x',
    },
  },
  {
    name: 'message_state outside 1..8 and a short network_error_code fall back to the body',
    pdu: pdu('id:9 stat:EXPIRED err:005', { tlvs: { messageState: 9, networkErrorCode: Uint8Array.of(3, 5) } }),
    expected: { messageId: '9', state: 'expired', final: true, errorCode: '005', rawStat: 'EXPIRED' },
  },
  {
    name: 'any field order',
    pdu: pdu('stat:DELIVRD err:000 done date:2401151231 id:42 dlvrd:001 submit date:2401151230 sub:001 text:hi'),
    expected: {
      messageId: '42',
      state: 'delivered',
      final: true,
      errorCode: '000',
      submitDate: JAN15_1230,
      doneDate: JAN15_1231,
      rawStat: 'DELIVRD',
      text: 'hi',
    },
  },
  {
    name: 'letter case of keys and values',
    pdu: pdu('ID:abc Sub:1 DLVRD:1 Submit Date:2401151230 DONE DATE:2401151231 Stat:delivrd Err:0 Text:Hello'),
    expected: {
      messageId: 'abc',
      state: 'delivered',
      final: true,
      errorCode: '0',
      submitDate: JAN15_1230,
      doneDate: JAN15_1231,
      rawStat: 'delivrd',
      text: 'Hello',
    },
  },
  {
    name: 'submit_date / done_date and extra spaces',
    pdu: pdu('id:  77   sub:001  submit_date: 2401151230  done_date:2401151231   stat : UNDELIV  err:  027 text:  '),
    expected: {
      messageId: '77',
      state: 'undelivered',
      final: true,
      errorCode: '027',
      submitDate: JAN15_1230,
      doneDate: JAN15_1231,
      rawStat: 'UNDELIV',
      text: '',
    },
  },
  {
    name: 'missing fields',
    pdu: pdu('id:5 stat:REJECTD'),
    expected: { messageId: '5', state: 'rejected', final: true, rawStat: 'REJECTD' },
  },
  {
    name: 'text holding receipt words runs to the end',
    pdu: pdu('id:1 stat:UNDELIV err:001 text:stat:DELIVRD id:999 err:000'),
    expected: {
      messageId: '1',
      state: 'undelivered',
      final: true,
      errorCode: '001',
      rawStat: 'UNDELIV',
      text: 'stat:DELIVRD id:999 err:000',
    },
  },
  {
    name: 'text before the status: the missing fields are taken from after it',
    pdu: pdu('id:5 text:hello world stat:DELIVRD err:000'),
    expected: { messageId: '5', state: 'delivered', final: true, errorCode: '000', rawStat: 'DELIVRD', text: 'hello world' },
  },
  {
    name: '12-digit dates (with seconds)',
    pdu: pdu('id:1 submit date:240115123005 done date:240115123159 stat:DELIVRD'),
    expected: {
      messageId: '1',
      state: 'delivered',
      final: true,
      submitDate: JAN15_1230 + 5_000,
      doneDate: JAN15_1231 + 59_000,
      rawStat: 'DELIVRD',
    },
  },
  {
    name: '14-digit dates (four-digit year)',
    pdu: pdu('id:1 submit date:20240115123005 stat:DELIVRD'),
    expected: { messageId: '1', state: 'delivered', final: true, submitDate: JAN15_1230 + 5_000, rawStat: 'DELIVRD' },
  },
  {
    name: 'impossible or malformed dates are left out',
    pdu: pdu('id:1 submit date:2413011200 done date:24011512 stat:DELIVRD'),
    expected: { messageId: '1', state: 'delivered', final: true, rawStat: 'DELIVRD' },
  },
  {
    name: 'UCS-2 body (data_coding 8)',
    pdu: {
      esmClass: 0x04,
      dataCoding: 8,
      shortMessage: Buffer.from('id:A1 stat:EXPIRED err:000 text:Привет', 'utf16le').swap16(),
    },
    expected: { messageId: 'A1', state: 'expired', final: true, errorCode: '000', rawStat: 'EXPIRED', text: 'Привет' },
  },
  {
    name: 'ASCII body under data_coding 8',
    pdu: pdu('id:A1 stat:DELIVRD', { dataCoding: 8 }),
    expected: { messageId: 'A1', state: 'delivered', final: true, rawStat: 'DELIVRD' },
  },
  {
    name: 'data_sm receipt with the body in message_payload',
    pdu: pdu('', { tlvs: { messagePayload: Buffer.from('id:8 stat:DELETED') } }),
    expected: { messageId: '8', state: 'deleted', final: true, rawStat: 'DELETED' },
  },
  {
    name: 'NUL-terminated TLV id and body',
    pdu: pdu('id:1 stat:DELIVRD\0', { tlvs: { receiptedMessageId: '00ff\0' } }),
    expected: { messageId: '00ff', state: 'delivered', final: true, rawStat: 'DELIVRD' },
  },
  {
    name: 'status written as a message_state number',
    pdu: pdu('id:1 stat:2'),
    expected: { messageId: '1', state: 'delivered', final: true, rawStat: '2' },
  },
  {
    name: 'a status word nobody knows leaves the message open',
    pdu: pdu('id:1 stat:WEIRD'),
    expected: { messageId: '1', state: 'unknown', final: false, rawStat: 'WEIRD' },
  },
  {
    name: 'no status at all: a partial result, not final',
    pdu: pdu('id:1 sub:001'),
    expected: { messageId: '1', state: 'unknown', final: false },
  },
  {
    name: 'intermediate notification (0x20) is never final',
    pdu: pdu('id:1 stat:DELIVRD', { esmClass: 0x20 }),
    expected: { messageId: '1', state: 'delivered', final: false, rawStat: 'DELIVRD' },
  },
  {
    name: 'UDHI and mode bits do not hide the receipt type',
    pdu: pdu('id:1 stat:ENROUTE', { esmClass: 0x44 }),
    expected: { messageId: '1', state: 'enroute', final: false, rawStat: 'ENROUTE' },
  },
  { name: 'garbage body', pdu: pdu('hello, this is not a receipt'), expected: null },
  { name: 'binary garbage', pdu: pdu('', { shortMessage: Uint8Array.of(0xff, 0x00, 0x3a, 0x80, 0x01) }), expected: null },
  { name: 'empty receipt', pdu: pdu(''), expected: null },
  { name: 'empty id', pdu: pdu('id: stat:DELIVRD'), expected: null },
  { name: 'MO message (esm_class 0) that looks like a receipt', pdu: pdu(STANDARD, { esmClass: 0 }), expected: null },
  { name: 'SME delivery acknowledgement (0x08)', pdu: pdu(STANDARD, { esmClass: 0x08 }), expected: null },
  { name: 'SME manual acknowledgement (0x10)', pdu: pdu(STANDARD, { esmClass: 0x10 }), expected: null },
];

describe('parseReceipt', () => {
  for (const c of CASES) {
    it(c.name, () => {
      assert.deepEqual(parseReceipt(c.pdu), c.expected);
    });
  }

  const STAT_WORDS: Array<[string, ReceiptState, boolean]> = [
    ['DELIVRD', 'delivered', true],
    ['DELIVERED', 'delivered', true],
    ['UNDELIV', 'undelivered', true],
    ['UNDELIVERABLE', 'undelivered', true],
    ['UNDELIVERED', 'undelivered', true],
    ['FAILED', 'undelivered', true],
    ['ERROR', 'undelivered', true],
    ['REJECTD', 'rejected', true],
    ['REJECTED', 'rejected', true],
    ['EXPIRED', 'expired', true],
    ['DELETED', 'deleted', true],
    ['UNKNOWN', 'unknown', true],
    ['ACCEPTD', 'accepted', false],
    ['ACCEPTED', 'accepted', false],
    ['ACKED', 'accepted', false],
    ['ENROUTE', 'enroute', false],
    ['BUFFRED', 'enroute', false],
    ['BUFFERED', 'enroute', false],
  ];
  for (const [word, state, final] of STAT_WORDS) {
    it(`stat:${word} → ${state}${final ? ', final' : ''}`, () => {
      for (const written of [word, word.toLowerCase()]) {
        const receipt = parseReceipt(pdu(`id:1 stat:${written}`));
        assert.deepEqual([receipt?.state, receipt?.final, receipt?.rawStat], [state, final, written]);
      }
    });
  }

  it('maps every message_state value', () => {
    const expected: Array<[ReceiptState, boolean]> = [
      ['enroute', false],
      ['delivered', true],
      ['expired', true],
      ['deleted', true],
      ['undelivered', true],
      ['accepted', false],
      ['unknown', true],
      ['rejected', true],
    ];
    expected.forEach(([state, final], i) => {
      const receipt = parseReceipt(pdu('', { tlvs: { receiptedMessageId: 'x', messageState: i + 1 } }));
      assert.deepEqual([receipt?.state, receipt?.final], [state, final], `message_state ${i + 1}`);
    });
  });

  it('reads dates in the SMSC time zone', () => {
    const receipt = parseReceipt(pdu('id:1 submit date:2401151230 done date:2401010000 stat:DELIVRD'), {
      utcOffsetMinutes: 180,
    });
    assert.equal(receipt?.submitDate, JAN15_1230 - 3 * 3_600_000);
    assert.equal(receipt?.doneDate, Date.UTC(2023, 11, 31, 21, 0));
  });

  it('reads untyped receipts only when asked, and never SME acknowledgements', () => {
    const options = { untypedReceipts: true };
    assert.equal(parseReceipt(pdu(STANDARD, { esmClass: 0 }), options)?.state, 'delivered');
    assert.equal(
      parseReceipt(pdu('', { esmClass: 0, tlvs: { receiptedMessageId: '5', messageState: 3 } }), options)?.state,
      'expired',
    );
    assert.equal(parseReceipt(pdu('id:1 hello', { esmClass: 0 }), options), null);
    assert.equal(parseReceipt(pdu(STANDARD, { esmClass: 0x08 }), options), null);
  });

  it('tells receipt types apart', () => {
    assert.deepEqual(
      [0x00, 0x04, 0x08, 0x10, 0x18, 0x20, 0x44, 0x43].map(isReceiptEsmClass),
      [false, true, false, false, false, true, true, false],
    );
  });
});

describe('message ids', () => {
  it('normalizes numeric ids whatever their case and leading zeros', () => {
    const table: Array<[string, 'hex' | 'decimal' | 'as-is', string]> = [
      ['0A1B', 'hex', '2587'],
      ['0a1b', 'hex', '2587'],
      ['00000A1B', 'hex', '2587'],
      [' 0x0a1b ', 'hex', '2587'],
      ['a1b\0', 'hex', '2587'],
      ['0002587', 'decimal', '2587'],
      ['2587', 'decimal', '2587'],
      ['0', 'decimal', '0'],
      ['000', 'hex', '0'],
      ['FFFFFFFFFFFFFFFFFFFFFFFF', 'hex', (2n ** 96n - 1n).toString()],
      ['AbC0012', 'as-is', 'abc0012'],
      [' 0012 ', 'as-is', '0012'],
      ['550E8400-E29B-41D4-A716-446655440000', 'hex', '550e8400-e29b-41d4-a716-446655440000'],
      ['1A', 'decimal', '1a'],
      ['', 'hex', ''],
    ];
    for (const [id, format, key] of table) assert.equal(normalizeMessageId(id, format), key, `${id} as ${format}`);
  });

  it('matches submit_sm_resp and receipt ids for every msg-id-type', () => {
    const table: Array<[MessageIdConfig, string, string, boolean]> = [
      [messageIdConfig(0), '12345', '0000012345', true],
      [messageIdConfig(0), '12345', '12346', false],
      [messageIdConfig(1), '3039', '12345', true],
      [messageIdConfig(1), '00003039', '012345', true],
      [messageIdConfig(1), '3039', '3039', false],
      [messageIdConfig(2), '12345', '3039', true],
      [messageIdConfig(2), '0012345', '00003039', true],
      [messageIdConfig(3), '3a', '003A', true],
      [messageIdConfig(3), '0x3A', '3a', true],
      [{ submit: 'as-is', receipt: 'as-is' }, 'Ab-12', ' ab-12 ', true],
      [{ submit: 'as-is', receipt: 'as-is' }, '0012', '12', false],
      // A fallback key holds a non-digit, so it cannot collide with a numeric one.
      [{ submit: 'decimal', receipt: 'hex' }, '26', '1a', true],
      [{ submit: 'decimal', receipt: 'decimal' }, '26', '1a', false],
    ];
    for (const [config, submitId, receiptId, match] of table) {
      const equal = canonicalSubmitId(submitId, config) === canonicalReceiptId(receiptId, config);
      assert.equal(equal, match, `${JSON.stringify(config)}: ${submitId} vs ${receiptId}`);
    }
  });

  it('reads Kannel msg-id-type', () => {
    assert.deepEqual(
      ([0, 1, 2, 3] as const).map(messageIdConfig),
      [
        { submit: 'decimal', receipt: 'decimal' },
        { submit: 'hex', receipt: 'decimal' },
        { submit: 'decimal', receipt: 'hex' },
        { submit: 'hex', receipt: 'hex' },
      ],
    );
  });
});

describe('formatReceipt', () => {
  const base = { messageId: 'msg_01HX', submitDate: JAN15_1230, doneDate: JAN15_1231 + 42_000 };

  it('writes the Appendix B body and the TLVs', () => {
    const receipt = formatReceipt({ ...base, status: 'delivered', text: 'Your code is 4711, valid 5 min' });
    assert.equal(
      receipt.shortMessage.toString('latin1'),
      'id:msg_01HX sub:001 dlvrd:001 submit date:2401151230 done date:2401151231 stat:DELIVRD err:000 text:Your code is 4711, v',
    );
    assert.deepEqual([receipt.esmClass, receipt.dataCoding], [0x04, 0]);
    assert.deepEqual(receipt.tlvs, { receiptedMessageId: 'msg_01HX', messageState: 2 });
  });

  it('writes the error code in err: and network_error_code', () => {
    const receipt = formatReceipt({ ...base, status: 'undelivered', errorCode: 27 });
    assert.match(receipt.shortMessage.toString('latin1'), / dlvrd:000 .* stat:UNDELIV err:027 text:$/);
    assert.deepEqual([...(receipt.tlvs.networkErrorCode ?? [])], [3, 0, 27]);
  });

  it('writes seconds and the customer time zone when asked', () => {
    const receipt = formatReceipt({ ...base, status: 'expired' }, { dateSeconds: true, utcOffsetMinutes: -300 });
    assert.match(receipt.shortMessage.toString('latin1'), /submit date:240115073000 done date:240115073142 /);
  });

  it('echoes only printable ASCII', () => {
    const receipt = formatReceipt({ ...base, status: 'delivered', text: 'Код 4711\n€ 😀 ok' });
    assert.match(receipt.shortMessage.toString('latin1'), /text:\?\?\? 4711\?\? \? ok$/);
  });

  const ROUND_TRIP: Array<[ReceiptStatus, ReceiptState, number]> = [
    ['delivered', 'delivered', 2],
    ['undelivered', 'undelivered', 5],
    ['expired', 'expired', 3],
    ['rejected', 'rejected', 8],
    ['failed', 'rejected', 8],
    ['cancelled', 'deleted', 4],
  ];
  for (const [status, state, messageState] of ROUND_TRIP) {
    it(`round-trips ${status} → ${state}`, () => {
      const options = { dateSeconds: true, utcOffsetMinutes: 180 };
      const sent = { ...base, status, errorCode: status === 'delivered' ? 0 : 1, text: 'stat:DELIVRD id:0 trick' };
      const formatted = formatReceipt(sent, options);
      assert.equal(formatted.tlvs.messageState, messageState);
      const expected: ParsedReceipt = {
        messageId: 'msg_01HX',
        state,
        final: true,
        errorCode: status === 'delivered' ? '000' : '001',
        submitDate: base.submitDate,
        doneDate: base.doneDate,
        rawStat: formatted.shortMessage.toString('latin1').match(/stat:(\w+)/)?.[1] ?? '',
        text: 'stat:DELIVRD id:0 tr',
      };
      if (status !== 'delivered') expected.networkErrorType = 3;
      assert.deepEqual(parseReceipt(formatted, { utcOffsetMinutes: 180 }), expected);
      // Clients that ignore TLVs read the same from the body alone.
      const bodyOnly = parseReceipt({ ...formatted, tlvs: {} }, { utcOffsetMinutes: 180 });
      assert.deepEqual(bodyOnly, withoutNetworkType(expected));
    });
  }
});

function withoutNetworkType(receipt: ParsedReceipt): ParsedReceipt {
  const { networkErrorType: _, ...rest } = receipt;
  return rest;
}
