import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeGsm7, encodeUcs2, segment } from '../sms/encoding.ts';
import type { ConcatMethod, InboundPart, SubmitPart } from './concat.ts';
import { decodeText, ESM_CLASS_UDHI, inboundBody, parseUdh, Reassembler, submitParts } from './concat.ts';

/** A reference generator that counts how often it is asked. */
function refs(value = 0x1234): { nextRef: () => number; calls: () => number } {
  let calls = 0;
  return {
    nextRef: () => {
      calls++;
      return value;
    },
    calls: () => calls,
  };
}

function split(text: string, method: ConcatMethod, options: { gsmDataCoding?: 0 | 1 | 3 } = {}): SubmitPart[] {
  return submitParts(segment(text), { method, nextRef: refs().nextRef, ...options });
}

/** The UDH of a part as an array, and the text octets after it. */
function udhOf(part: SubmitPart): [number[], Buffer] {
  const length = (part.shortMessage[0] ?? 0) + 1;
  return [[...part.shortMessage.subarray(0, length)], part.shortMessage.subarray(length)];
}

/** Octets the part takes on the air once the SMSC packs it (UDH included). */
function packedOctets(part: SubmitPart): number {
  if (part.dataCoding === 8) return part.shortMessage.length;
  const header = part.esmClass & ESM_CLASS_UDHI ? (part.shortMessage[0] ?? 0) + 1 : 0;
  const septets = Math.ceil((header * 8) / 7) + part.shortMessage.length - header;
  return Math.ceil((septets * 7) / 8);
}

/** Feeds the parts to a reassembler in the given order, as an SMSC would deliver them. */
function reassemble(parts: SubmitPart[], order: number[], reassembler = new Reassembler()): ReturnType<Reassembler['add']>[] {
  return order.map((i) => {
    const part = parts[i];
    assert.ok(part);
    const { concat, body } = inboundBody(part);
    return reassembler.add({ source: '79161234567', destination: '4242', dataCoding: part.dataCoding, concat, body }, 1_000);
  });
}

const GSM_200 = 'a'.repeat(200);
const UCS2_100 = 'Ж'.repeat(100);

describe('submitParts', () => {
  it('sends a single-part text plainly and takes no reference', () => {
    const r = refs();
    const parts = submitParts(segment('Hello @ {x}'), { method: 'udh8', nextRef: r.nextRef });
    assert.deepEqual(parts, [{ shortMessage: Buffer.from(encodeGsm7('Hello @ {x}')), esmClass: 0, dataCoding: 0, tlvs: {} }]);
    assert.equal(r.calls(), 0);
    assert.deepEqual(split('Привет', 'sar'), [{ shortMessage: encodeUcs2('Привет'), esmClass: 0, dataCoding: 8, tlvs: {} }]);
  });

  it('has no parts for an empty text', () => {
    assert.deepEqual(split('', 'udh8'), []);
    assert.deepEqual(split('', 'payload'), []);
  });

  it('udh8: 05 00 03 ref total seq, UDHI set, 153 septets unpacked behind it', () => {
    const r = refs(0x1234);
    const parts = submitParts(segment(GSM_200), { method: 'udh8', nextRef: r.nextRef });
    assert.equal(r.calls(), 1);
    assert.deepEqual(
      parts.map((p) => [udhOf(p)[0], udhOf(p)[1].length, p.shortMessage.length, p.esmClass, p.dataCoding]),
      [
        [[0x05, 0x00, 0x03, 0x34, 2, 1], 153, 159, 0x40, 0],
        [[0x05, 0x00, 0x03, 0x34, 2, 2], 47, 53, 0x40, 0],
      ],
    );
    assert.deepEqual(parts.map(packedOctets), [140, 48]);
  });

  it('udh8 with UCS-2: 67 code units, 140 octets with the UDH', () => {
    const parts = split(UCS2_100, 'udh8');
    assert.deepEqual(
      parts.map((p) => [udhOf(p)[0].slice(4), udhOf(p)[1].length, p.shortMessage.length, p.dataCoding]),
      [
        [[2, 1], 134, 140, 8],
        [[2, 2], 66, 72, 8],
      ],
    );
  });

  it('udh16: one submit per part counted at accept; the 8-bit UDH for parts that leave no room for the 7-octet one', () => {
    // 306 septets: accept counts 2 parts of 153 + 153 (charged so); 153 septets leave no room for 06 08 04 …
    const full = split('a'.repeat(306), 'udh16');
    assert.equal(full.length, segment('a'.repeat(306)).parts.length);
    assert.deepEqual(
      full.map((p) => [udhOf(p)[0], udhOf(p)[1].length, p.esmClass]),
      [
        [[0x05, 0x00, 0x03, 0x34, 2, 1], 153, 0x40],
        [[0x05, 0x00, 0x03, 0x34, 2, 2], 153, 0x40],
      ],
    );
    assert.deepEqual(full.map(packedOctets), [140, 140]);
    // … while parts of 152 septets or fewer carry the 16-bit reference.
    const roomy = `${'a'.repeat(152)}€${'b'.repeat(100)}`;
    assert.deepEqual(
      split(roomy, 'udh16').map((p) => [udhOf(p)[0], udhOf(p)[1].length]),
      [
        [[0x06, 0x08, 0x04, 0x12, 0x34, 2, 1], 152],
        [[0x06, 0x08, 0x04, 0x12, 0x34, 2, 2], 102],
      ],
    );
    assert.ok(split(roomy, 'udh16').map(packedOctets).every((n) => n <= 140));
    // UCS-2 likewise: 66 code units fit behind the 7-octet UDH, 67 do not.
    const ucs2 = `${'Ж'.repeat(66)}😀${'Ж'.repeat(10)}`;
    assert.deepEqual(
      split(ucs2, 'udh16').map((p) => [udhOf(p)[0].slice(0, 2), udhOf(p)[1].length / 2]),
      [
        [[0x06, 0x08], 66],
        [[0x06, 0x08], 12],
      ],
    );
    assert.deepEqual(split(UCS2_100, 'udh16').map((p) => [udhOf(p)[0].slice(0, 2), udhOf(p)[1].length / 2]), [
      [[0x05, 0x00], 67],
      [[0x05, 0x00], 33],
    ]);
  });

  it('every method sends exactly the parts encoding.ts counts, never more', () => {
    for (const text of ['a'.repeat(306), 'a'.repeat(153 * 5), `${'a'.repeat(151)}€${'b'.repeat(100)}`, 'Ж'.repeat(67 * 4), `${'Ж'.repeat(65)}😀${'Ж'.repeat(10)}`]) {
      const counted = segment(text).parts.length;
      for (const method of ['udh8', 'udh16', 'sar'] as const) assert.equal(split(text, method).length, counted, `${method}: ${text.length} characters`);
    }
  });

  it('a part too long for any concatenation header is refused, not split', () => {
    const parts = [
      { index: 1, text: 'a'.repeat(154), units: 154 },
      { index: 2, text: 'b', units: 1 },
    ];
    assert.throws(() => submitParts({ encoding: 'gsm7', parts }, { method: 'udh8', nextRef: refs().nextRef }), RangeError);
  });

  it('sar: TLVs with an 8-bit reference, no UDH', () => {
    const parts = split(GSM_200, 'sar');
    assert.deepEqual(
      parts.map((p) => [p.shortMessage.length, p.esmClass, p.tlvs]),
      [
        [153, 0, { sarMsgRefNum: 0x34, sarTotalSegments: 2, sarSegmentSeqnum: 1 }],
        [47, 0, { sarMsgRefNum: 0x34, sarTotalSegments: 2, sarSegmentSeqnum: 2 }],
      ],
    );
  });

  it('payload: the whole text in message_payload, short_message empty', () => {
    const r = refs();
    const text = `${UCS2_100}${UCS2_100}`;
    assert.deepEqual(submitParts(segment(text), { method: 'payload', nextRef: r.nextRef }), [
      { shortMessage: Buffer.alloc(0), esmClass: 0, dataCoding: 8, tlvs: { messagePayload: encodeUcs2(text) } },
    ]);
    assert.deepEqual(split(GSM_200, 'payload')[0]?.tlvs.messagePayload, Buffer.from(encodeGsm7(GSM_200)));
    assert.equal(r.calls(), 0);
  });

  it('writes Latin-1 or IA5 bytes when the GSM data_coding says so', () => {
    assert.deepEqual(split('Hi {ü}', 'udh8', { gsmDataCoding: 3 }), [
      { shortMessage: Buffer.from('Hi {ü}', 'latin1'), esmClass: 0, dataCoding: 3, tlvs: {} },
    ]);
    assert.equal(split('Hi {}', 'udh8', { gsmDataCoding: 1 })[0]?.dataCoding, 1);
    assert.throws(() => split('ΔΦ', 'udh8', { gsmDataCoding: 3 }), /"Δ" at index 0 is not in Latin-1/);
    assert.throws(() => split('café', 'udh8', { gsmDataCoding: 1 }), /"é" at index 3 is not in IA5/);
  });

  it('refuses more than 255 parts', () => {
    assert.equal(split('a'.repeat(153 * 255), 'udh8').length, 255);
    assert.throws(() => split('a'.repeat(153 * 255 + 1), 'udh8'), RangeError);
  });

  const ROUND_TRIP_TEXTS = [
    GSM_200,
    UCS2_100,
    `${'x'.repeat(150)}{}[]~€^|\\${'y'.repeat(300)}`,
    `${'😀'.repeat(40)}Ж${'😀'.repeat(40)}`,
    'short',
  ];
  for (const method of ['udh8', 'udh16', 'sar', 'payload'] as const) {
    it(`${method}: every part fits, and the parts reassemble to the text in any order`, () => {
      for (const text of ROUND_TRIP_TEXTS) {
        const parts = split(text, method);
        for (const part of parts) {
          assert.ok(part.shortMessage.length <= 254, 'short_message is at most 254 octets');
          if (method !== 'payload') assert.ok(packedOctets(part) <= 140, `${packedOctets(part)} octets on the air`);
        }
        const order = parts.map((_, i) => i).reverse();
        const results = reassemble(parts, order);
        assert.equal(results.at(-1)?.text, text);
        assert.equal(results.at(-1)?.complete, true);
        assert.equal(results.filter((r) => r !== null).length, 1);
      }
    });
  }
});

describe('parseUdh', () => {
  it('reads an 8-bit and a 16-bit concatenation IE', () => {
    assert.deepEqual(parseUdh(Buffer.from([5, 0x00, 3, 0x2a, 3, 2, 0x41])), {
      concat: { ref: 0x2a, total: 3, seq: 2 },
      elements: [{ iei: 0x00, data: Buffer.from([0x2a, 3, 2]) }],
      body: Buffer.from([0x41]),
    });
    assert.deepEqual(parseUdh(Buffer.from([6, 0x08, 4, 0xbe, 0xef, 2, 1]))?.concat, { ref: 0xbeef, total: 2, seq: 1 });
  });

  it('skips other IEs before the concatenation one', () => {
    // application port addressing (0x05) first, then concatenation
    const udh = parseUdh(Buffer.from([11, 0x05, 4, 0x0b, 0x84, 0x23, 0xf0, 0x00, 3, 0x2a, 2, 1, 0x48, 0x69]));
    assert.deepEqual(udh?.concat, { ref: 0x2a, total: 2, seq: 1 });
    assert.deepEqual(
      udh?.elements.map((e) => e.iei),
      [0x05, 0x00],
    );
    assert.deepEqual(udh?.body, Buffer.from('Hi'));
  });

  it('ignores an invalid concatenation IE and takes the last of repeated ones', () => {
    assert.equal(parseUdh(Buffer.from([5, 0x00, 3, 1, 2, 0, 0x41]))?.concat, null);
    assert.equal(parseUdh(Buffer.from([5, 0x00, 3, 1, 2, 3, 0x41]))?.concat, null);
    assert.equal(parseUdh(Buffer.from([5, 0x00, 3, 1, 0, 1, 0x41]))?.concat, null);
    assert.deepEqual(parseUdh(Buffer.from([10, 0x00, 3, 1, 2, 1, 0x00, 3, 9, 4, 3]))?.concat, { ref: 9, total: 4, seq: 3 });
    assert.deepEqual(parseUdh(Buffer.from([3, 0x24, 1, 0x01, 0x41]))?.concat, null);
  });

  it('returns null for a header that overruns the data', () => {
    assert.equal(parseUdh(Buffer.alloc(0)), null);
    assert.equal(parseUdh(Buffer.from([5, 0x00, 3, 1])), null);
    assert.equal(parseUdh(Buffer.from([3, 0x00, 3, 1, 2, 1])), null);
    assert.equal(parseUdh(Buffer.from([1, 0x00])), null);
  });
});

describe('inboundBody', () => {
  it('strips a UDH only when esm_class says there is one', () => {
    const bytes = Buffer.from([5, 0x00, 3, 7, 2, 1, 0x41]);
    assert.deepEqual(inboundBody({ esmClass: 0x40, shortMessage: bytes }), {
      concat: { ref: 7, total: 2, seq: 1 },
      body: Buffer.from([0x41]),
    });
    assert.deepEqual(inboundBody({ esmClass: 0, shortMessage: bytes }), { concat: null, body: bytes });
  });

  it('reads SAR TLVs, and message_payload when short_message is empty', () => {
    const tlvs = { sarMsgRefNum: 0x1234, sarTotalSegments: 3, sarSegmentSeqnum: 3, messagePayload: Buffer.from('Hi') };
    assert.deepEqual(inboundBody({ esmClass: 0, shortMessage: Buffer.alloc(0), tlvs }), {
      concat: { ref: 0x1234, total: 3, seq: 3 },
      body: Buffer.from('Hi'),
    });
    assert.equal(inboundBody({ esmClass: 0, shortMessage: Buffer.from('x'), tlvs: { sarMsgRefNum: 1 } }).concat, null);
  });

  it('keeps a malformed UDH as text', () => {
    const bytes = Buffer.from([9, 0x00, 3, 7]);
    assert.deepEqual(inboundBody({ esmClass: 0x40, shortMessage: bytes }), { concat: null, body: bytes });
  });
});

describe('decodeText', () => {
  const table: Array<[string, number[] | Buffer, number, string | null, ('gsm7' | 'latin1' | 'ascii')?]> = [
    ['0 as GSM-7', [0x00, 0x41, 0x1b, 0x65, 0x11], 0, '@A€_'],
    ['0 as Latin-1 when configured', [0x40, 0xe9], 0, '@é', 'latin1'],
    ['0 as ASCII when configured', [0x40, 0x41], 0, '@A', 'ascii'],
    ['0 with a high byte falls back to Latin-1', [0x63, 0x61, 0x66, 0xe9], 0, 'café'],
    ['1 IA5', [0x40, 0x7b], 1, '@{'],
    ['3 Latin-1', [0xe9, 0xfc], 3, 'éü'],
    ['8 UCS-2', encodeUcs2('Жук 😀'), 8, 'Жук 😀'],
    ['8 with an odd trailing octet', [0x04, 0x16, 0x00], 8, 'Ж'],
    ['0x18 UCS-2 flash', encodeUcs2('Ж'), 0x18, 'Ж'],
    ['0x10 GSM-7 flash', [0x41], 0x10, 'A'],
    ['0xF0 GSM-7 class 0', [0x41], 0xf0, 'A'],
    ['0xF4 8-bit data', [0x41], 0xf4, null],
    ['0x04 binary', [0x41], 0x04, null],
    ['0x02 binary', [0x41], 0x02, null],
    ['0x06 Cyrillic is not carried', [0x41], 0x06, null],
    ['0x24 compressed', [0x41], 0x24, null],
  ];
  for (const [name, bytes, dataCoding, expected, defaultAlphabet] of table) {
    it(name, () => {
      const options = defaultAlphabet === undefined ? {} : { defaultAlphabet };
      assert.equal(decodeText(Uint8Array.from(bytes), dataCoding, options), expected);
    });
  }
});

describe('Reassembler', () => {
  const part = (seq: number, text: string, extra: Partial<InboundPart> = {}): InboundPart => ({
    source: '79161234567',
    destination: '4242',
    dataCoding: 0,
    concat: { ref: 7, total: 3, seq },
    body: encodeGsm7(text),
    ...extra,
  });
  const PARTS = [part(1, 'one '), part(2, 'two '), part(3, 'three')];

  it('returns a message that was not split at once', () => {
    const message = new Reassembler().add(part(1, 'hi', { concat: null }), 5);
    assert.deepEqual(message, {
      source: '79161234567',
      destination: '4242',
      text: 'hi',
      complete: true,
      total: 1,
      ref: null,
      received: [1],
      missing: [],
      firstAt: 5,
    });
  });

  it('treats an impossible position as a message that was not split', () => {
    const message = new Reassembler().add(part(5, 'odd', { concat: { ref: 7, total: 3, seq: 5 } }), 0);
    assert.deepEqual([message?.text, message?.complete, message?.ref], ['odd', true, null]);
  });

  it('joins parts arriving in every order', () => {
    const orders = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ];
    for (const order of orders) {
      const reassembler = new Reassembler();
      const results = order.map((i, n) => reassembler.add(PARTS[i] as InboundPart, 100 + n));
      assert.deepEqual(results.slice(0, 2), [null, null]);
      assert.equal(results[2]?.text, 'one two three', `order ${order.join()}`);
      assert.deepEqual([results[2]?.complete, results[2]?.ref, results[2]?.firstAt], [true, 7, 100]);
      assert.equal(reassembler.pending, 0);
    }
  });

  it('ignores duplicates, before and after completion', () => {
    const reassembler = new Reassembler();
    // 1. A duplicate of a waiting part changes nothing.
    assert.equal(reassembler.add(part(1, 'one '), 0), null);
    assert.equal(reassembler.add(part(1, 'one '), 1), null);
    assert.equal(reassembler.add(part(2, 'two '), 2), null);
    assert.equal(reassembler.add(part(3, 'three'), 3)?.text, 'one two three');
    // 2. A part resent after completion does not start a message that could never complete.
    assert.equal(reassembler.add(part(2, 'two '), 4), null);
    assert.equal(reassembler.pending, 0);
    assert.deepEqual(reassembler.expire(1_000_000), []);
  });

  it('starts afresh when a sender reuses the reference for a new message', () => {
    const reassembler = new Reassembler();
    for (const p of PARTS) reassembler.add(p, 0);
    assert.equal(reassembler.add(part(1, 'uno '), 10), null);
    assert.equal(reassembler.add(part(2, 'dos '), 11), null);
    assert.equal(reassembler.add(part(3, 'tres'), 12)?.text, 'uno dos tres');
  });

  it('keeps messages apart by source, destination, reference and total', () => {
    const reassembler = new Reassembler();
    const others: InboundPart[] = [
      part(2, 'x', { source: '79990000000' }),
      part(2, 'x', { destination: '4243' }),
      part(2, 'x', { concat: { ref: 8, total: 3, seq: 2 } }),
      part(2, 'x', { concat: { ref: 7, total: 4, seq: 2 } }),
    ];
    assert.equal(reassembler.add(PARTS[0] as InboundPart, 0), null);
    for (const other of others) assert.equal(reassembler.add(other, 0), null);
    assert.equal(reassembler.add(PARTS[1] as InboundPart, 0), null);
    assert.equal(reassembler.add(PARTS[2] as InboundPart, 0)?.text, 'one two three');
    assert.equal(reassembler.pending, 4);
  });

  it('gives up after the timeout with the parts that arrived', () => {
    const reassembler = new Reassembler({ timeoutMs: 60_000 });
    // 1. Two messages lose a part each; the second starts later.
    reassembler.add(PARTS[0] as InboundPart, 1_000);
    reassembler.add(PARTS[2] as InboundPart, 2_000);
    reassembler.add(part(2, 'late', { source: '79990000000', concat: { ref: 1, total: 2, seq: 2 } }), 30_000);
    // 2. Not yet: a minute has not passed since either first part.
    assert.deepEqual(reassembler.expire(60_999), []);
    // 3. The first expires alone, then the second.
    assert.deepEqual(reassembler.expire(61_000), [
      {
        source: '79161234567',
        destination: '4242',
        text: 'one three',
        complete: false,
        total: 3,
        ref: 7,
        received: [1, 3],
        missing: [2],
        firstAt: 1_000,
      },
    ]);
    assert.equal(reassembler.pending, 1);
    const [second] = reassembler.expire(90_000);
    assert.deepEqual([second?.text, second?.received, second?.missing], ['late', [2], [1]]);
    // 4. A part after expiry starts a new message rather than reviving the old one.
    assert.equal(reassembler.add(PARTS[1] as InboundPart, 91_000), null);
    assert.equal(reassembler.pending, 1);
  });

  it('decodes across part boundaries: a GSM escape and a surrogate pair split by the sender', () => {
    const reassembler = new Reassembler();
    const gsm = encodeGsm7('a€b');
    const concat = (seq: number) => ({ ref: 1, total: 2, seq });
    reassembler.add(part(1, '', { concat: concat(1), body: gsm.subarray(0, 2) }), 0);
    assert.equal(reassembler.add(part(2, '', { concat: concat(2), body: gsm.subarray(2) }), 0)?.text, 'a€b');
    const ucs2 = encodeUcs2('Ж😀');
    reassembler.add(part(1, '', { dataCoding: 8, concat: concat(1), body: ucs2.subarray(0, 4), source: 'u' }), 0);
    const done = reassembler.add(part(2, '', { dataCoding: 8, concat: concat(2), body: ucs2.subarray(4), source: 'u' }), 0);
    assert.equal(done?.text, 'Ж😀');
  });

  it('decodes parts in different codings one by one, and gives null text for binary', () => {
    const reassembler = new Reassembler();
    const concat = (seq: number) => ({ ref: 2, total: 2, seq });
    reassembler.add(part(1, 'Hi ', { concat: concat(1) }), 0);
    const mixed = reassembler.add(part(2, '', { concat: concat(2), dataCoding: 8, body: encodeUcs2('Жук') }), 0);
    assert.equal(mixed?.text, 'Hi Жук');
    const binary = reassembler.add(part(1, '', { concat: null, dataCoding: 4, body: Buffer.from([1, 2]) }), 0);
    assert.deepEqual([binary?.text, binary?.complete], [null, true]);
  });

  it('reads data_coding 0 as the SMSC default alphabet it is configured with', () => {
    const reassembler = new Reassembler({ decode: { defaultAlphabet: 'latin1' } });
    assert.equal(reassembler.add(part(1, '', { concat: null, body: Buffer.from('caf\xe9 @', 'latin1') }), 0)?.text, 'café @');
  });
});
