import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Segmentation } from './encoding.ts';
import { decodeGsm7, decodeUcs2, encodeGsm7, encodeUcs2, isGsm7, segment } from './encoding.ts';

const EXTENSION_CHARS = '^{}\\[~]|€\f';
const BASE_CHARS =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';

/** Part texts and units, the shape most assertions compare. */
function shape(s: Segmentation): Array<[string, number]> {
  return s.parts.map((p) => [p.text, p.units]);
}

/** The invariants every segmentation must hold whatever the input. */
function assertWellFormed(text: string, s: Segmentation): void {
  assert.equal(s.parts.map((p) => p.text).join(''), text);
  assert.equal(s.parts.reduce((sum, p) => sum + p.units, 0), s.units);
  s.parts.forEach((p, i) => {
    assert.equal(p.index, i + 1);
    assert.ok(p.units > 0 && p.units <= s.unitsPerPart, `part ${p.index} has ${p.units} units`);
    const first = p.text.charCodeAt(0);
    assert.ok(!(first >= 0xdc00 && first <= 0xdfff) || i === 0, `part ${p.index} starts inside a surrogate pair`);
  });
  assert.equal(s.characters, [...text].length);
}

describe('GSM-7 alphabet', () => {
  it('encodes base-table characters to their septets', () => {
    assert.deepEqual([...encodeGsm7('@£$¥èÇ\nØ\rÅΔ_ÆÉ ¤¡AÄÖÑÜ§¿aäöñüà')], [
      0x00, 0x01, 0x02, 0x03, 0x04, 0x09, 0x0a, 0x0b, 0x0d, 0x0e, 0x10, 0x11, 0x1c, 0x1f, 0x20, 0x24, 0x40, 0x41,
      0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f,
    ]);
  });

  it('encodes extension characters as ESC + septet', () => {
    assert.deepEqual([...encodeGsm7(EXTENSION_CHARS)], [
      0x1b, 0x14, 0x1b, 0x28, 0x1b, 0x29, 0x1b, 0x2f, 0x1b, 0x3c, 0x1b, 0x3d, 0x1b, 0x3e, 0x1b, 0x40, 0x1b, 0x65,
      0x1b, 0x0a,
    ]);
  });

  it('round-trips the whole default alphabet and extension table', () => {
    const all = BASE_CHARS + EXTENSION_CHARS;
    assert.equal(BASE_CHARS.length, 127);
    const septets = encodeGsm7(all);
    assert.equal(septets.length, 127 + 2 * 10);
    assert.equal(decodeGsm7(septets), all);
  });

  it('knows what is and is not GSM-7', () => {
    assert.equal(isGsm7(''), true);
    assert.equal(isGsm7(BASE_CHARS + EXTENSION_CHARS), true);
    for (const char of ['ç', 'Ж', 'á', '\t', '\u001b', '😀', '`', 'ё']) {
      assert.equal(isGsm7(`abc${char}`), false, `isGsm7 of ${JSON.stringify(char)}`);
    }
  });

  it('names the character it cannot encode', () => {
    assert.throws(() => encodeGsm7('Hi Жора'), {
      name: 'RangeError',
      message: 'character "Ж" (U+0416) at index 3 is not in the GSM 03.38 alphabet',
    });
    assert.throws(() => encodeGsm7('ok 😀'), { name: 'RangeError', message: /"😀" \(U\+1F600\) at index 3/ });
  });

  it('decodes unknown escapes and stray ESC the way TS 23.038 asks receivers to', () => {
    assert.equal(decodeGsm7(Uint8Array.of(0x1b, 0x41, 0x62)), 'Ab');
    assert.equal(decodeGsm7(Uint8Array.of(0x61, 0x1b)), 'a ');
    assert.equal(decodeGsm7(Uint8Array.of(0x1b, 0x1b, 0x61)), ' a');
    assert.equal(decodeGsm7(new Uint8Array(0)), '');
  });

  it('refuses bytes that are not septets', () => {
    assert.throws(() => decodeGsm7(Uint8Array.of(0x41, 0x80)), { name: 'RangeError', message: /offset 1/ });
    assert.throws(() => decodeGsm7(Uint8Array.of(0x1b, 0xff)), { name: 'RangeError', message: /offset 1/ });
  });

  it('decodes long inputs', () => {
    const text = 'abc€'.repeat(10_000);
    assert.equal(decodeGsm7(encodeGsm7(text)), text);
  });
});

describe('UCS-2', () => {
  it('encodes UTF-16BE with surrogate pairs', () => {
    assert.deepEqual([...encodeUcs2('Hi😀Ж')], [0x00, 0x48, 0x00, 0x69, 0xd8, 0x3d, 0xde, 0x00, 0x04, 0x16]);
  });

  it('round-trips, lone surrogates included', () => {
    for (const text of ['', 'Привет, мир! 👋🌍', 'ascii only', '\ud83d lone high', 'lone low \ude00', '中文字符']) {
      assert.equal(decodeUcs2(encodeUcs2(text)), text);
    }
  });

  it('does not modify the bytes it decodes', () => {
    const bytes = Uint8Array.of(0x04, 0x16);
    assert.equal(decodeUcs2(bytes), 'Ж');
    assert.deepEqual([...bytes], [0x04, 0x16]);
  });

  it('refuses an odd byte count', () => {
    assert.throws(() => decodeUcs2(Uint8Array.of(0x00, 0x41, 0x00)), { name: 'RangeError' });
  });
});

describe('segment, GSM-7', () => {
  it('gives no parts for an empty text', () => {
    assert.deepEqual(segment(''), { encoding: 'gsm7', characters: 0, units: 0, unitsPerPart: 160, parts: [] });
    assert.deepEqual(segment('', { encoding: 'ucs2' }), {
      encoding: 'ucs2',
      characters: 0,
      units: 0,
      unitsPerPart: 70,
      parts: [],
    });
  });

  it('fits 160 Latin characters in one part', () => {
    const text = 'a'.repeat(160);
    assert.deepEqual(segment(text), {
      encoding: 'gsm7',
      characters: 160,
      units: 160,
      unitsPerPart: 160,
      parts: [{ index: 1, text, units: 160 }],
    });
  });

  it('splits 161 Latin characters into 153 + 8', () => {
    const text = 'a'.repeat(161);
    const s = segment(text);
    assert.equal(s.unitsPerPart, 153);
    assert.deepEqual(shape(s), [
      ['a'.repeat(153), 153],
      ['a'.repeat(8), 8],
    ]);
    assertWellFormed(text, s);
  });

  it('fits 153*2 in two parts and 153*2+1 in three', () => {
    const two = segment('b'.repeat(306));
    assert.deepEqual(shape(two), [
      ['b'.repeat(153), 153],
      ['b'.repeat(153), 153],
    ]);
    const three = segment('b'.repeat(307));
    assert.deepEqual(shape(three), [
      ['b'.repeat(153), 153],
      ['b'.repeat(153), 153],
      ['b', 1],
    ]);
  });

  it('counts each extension character as two septets', () => {
    const s = segment(EXTENSION_CHARS);
    assert.equal(s.encoding, 'gsm7');
    assert.equal(s.characters, 10);
    assert.equal(s.units, 20);
    assert.equal(segment('€'.repeat(80)).parts.length, 1);
    assert.equal(segment('€'.repeat(81)).parts.length, 2);
  });

  it('moves an extension character that would straddle the 153 boundary to the next part', () => {
    const text = `${'a'.repeat(152)}€${'b'.repeat(10)}`;
    const s = segment(text);
    assert.equal(s.units, 164);
    assert.deepEqual(shape(s), [
      ['a'.repeat(152), 152],
      [`€${'b'.repeat(10)}`, 12],
    ]);
    assertWellFormed(text, s);
  });

  it('keeps an extension character that ends exactly at 153 in the first part', () => {
    const text = `${'a'.repeat(151)}[${'b'.repeat(10)}`;
    assert.deepEqual(shape(segment(text)), [
      [`${'a'.repeat(151)}[`, 153],
      ['b'.repeat(10), 10],
    ]);
  });

  it('treats 160 septets with an extension character as one part and 161 as two', () => {
    assert.deepEqual(shape(segment(`${'a'.repeat(158)}€`)), [[`${'a'.repeat(158)}€`, 160]]);
    assert.deepEqual(shape(segment(`${'a'.repeat(159)}€`)), [
      ['a'.repeat(153), 153],
      [`${'a'.repeat(6)}€`, 8],
    ]);
  });

  it('counts form feed as an extension character', () => {
    const s = segment('page 1\fpage 2');
    assert.equal(s.encoding, 'gsm7');
    assert.equal(s.characters, 13);
    assert.equal(s.units, 14);
  });

  it('keeps base-table accented and Greek letters in GSM-7', () => {
    const s = segment('@£¥èÄ ΔΩ é ñ ü à');
    assert.equal(s.encoding, 'gsm7');
    assert.equal(s.units, 16);
  });

  it('may be forced to UCS-2 for a GSM text', () => {
    const s = segment('hello', { encoding: 'ucs2' });
    assert.deepEqual(s, {
      encoding: 'ucs2',
      characters: 5,
      units: 5,
      unitsPerPart: 70,
      parts: [{ index: 1, text: 'hello', units: 5 }],
    });
    assert.deepEqual(
      segment('a'.repeat(71), { encoding: 'ucs2' }).parts.map((p) => p.units),
      [67, 4],
    );
    assert.equal(segment('€[', { encoding: 'ucs2' }).units, 2);
  });

  it('accepts a forced GSM-7 on a GSM text', () => {
    assert.equal(segment('plain [text]', { encoding: 'gsm7' }).units, 14);
  });

  it('throws a RangeError when GSM-7 is forced on a text it cannot carry', () => {
    assert.throws(() => segment('Hello, Мир', { encoding: 'gsm7' }), {
      name: 'RangeError',
      message: /"М" \(U\+041C\) at index 7/,
    });
    assert.throws(() => segment('ça', { encoding: 'gsm7' }), { name: 'RangeError', message: /"ç"/ });
  });
});

describe('segment, UCS-2', () => {
  it('falls back to UCS-2 for any non-GSM character', () => {
    assert.equal(segment(`${'a'.repeat(100)}ç`).encoding, 'ucs2');
    assert.equal(segment('hi 😀').encoding, 'ucs2');
  });

  it('fits 70 Cyrillic characters in one part and splits 71 into 67 + 4', () => {
    const one = segment('Ж'.repeat(70));
    assert.deepEqual(one, {
      encoding: 'ucs2',
      characters: 70,
      units: 70,
      unitsPerPart: 70,
      parts: [{ index: 1, text: 'Ж'.repeat(70), units: 70 }],
    });
    const two = segment('Ж'.repeat(71));
    assert.equal(two.unitsPerPart, 67);
    assert.deepEqual(shape(two), [
      ['Ж'.repeat(67), 67],
      ['Ж'.repeat(4), 4],
    ]);
  });

  it('fits 67*2 in two parts and 67*2+1 in three', () => {
    assert.deepEqual(segment('я'.repeat(134)).parts.map((p) => p.units), [67, 67]);
    assert.deepEqual(segment('я'.repeat(135)).parts.map((p) => p.units), [67, 67, 1]);
  });

  it('moves an emoji that would straddle the 67 boundary to the next part', () => {
    const text = `${'Ж'.repeat(66)}😀${'Ж'.repeat(10)}`;
    const s = segment(text);
    assert.equal(s.characters, 77);
    assert.equal(s.units, 78);
    assert.deepEqual(shape(s), [
      ['Ж'.repeat(66), 66],
      [`😀${'Ж'.repeat(10)}`, 12],
    ]);
    assertWellFormed(text, s);
  });

  it('keeps an emoji that ends exactly at 67 in the first part', () => {
    const text = `${'Ж'.repeat(65)}😀${'Ж'.repeat(10)}`;
    assert.deepEqual(shape(segment(text)), [
      [`${'Ж'.repeat(65)}😀`, 67],
      ['Ж'.repeat(10), 10],
    ]);
  });

  it('counts emoji as two units and one character', () => {
    const text = 'Привет 👋 мир 🌍!';
    const s = segment(text);
    assert.equal(s.encoding, 'ucs2');
    assert.equal(s.characters, 15);
    assert.equal(s.units, 17);
    assert.equal(s.parts.length, 1);
    assert.equal(segment('😀'.repeat(35)).parts.length, 1);
    assert.deepEqual(segment('😀'.repeat(36)).parts.map((p) => p.units), [66, 6]);
  });

  it('cuts beside a lone surrogate, which pairs with nothing', () => {
    const text = `${'Ж'.repeat(66)}\ud83d${'Ж'.repeat(10)}`;
    const s = segment(text);
    assert.equal(s.characters, 77);
    assert.deepEqual(s.parts.map((p) => p.units), [67, 10]);
  });
});

describe('segment invariants', () => {
  it('hold for mixed random texts', () => {
    // A fixed-seed generator keeps the test reproducible.
    let seed = 0x2545f491;
    const next = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const gsmPool = ['a', 'Z', ' ', '€', '[', '\f', '@', 'ñ', '\n'];
    const anyPool = [...gsmPool, 'Ж', 'я', '😀', '🌍', '中'];
    for (let round = 0; round < 400; round++) {
      const pool = round % 2 === 0 ? gsmPool : anyPool;
      let text = '';
      const length = next(420);
      for (let i = 0; i < length; i++) text += pool[next(pool.length)];
      const s = segment(text);
      assertWellFormed(text, s);
      if (pool === gsmPool) assert.equal(s.encoding, 'gsm7');
      const limit = s.encoding === 'gsm7' ? 160 : 70;
      assert.equal(s.parts.length > 1, s.units > limit);
    }
  });
});
