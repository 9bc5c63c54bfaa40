import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { findNul } from './nul.ts';

test('findNul names the first string holding U+0000 by its dotted path', () => {
  assert.equal(findNul({ to: '+7916', text: 'ok' }), undefined);
  assert.equal(findNul({ text: 'a\u0000b' }), 'text');
  assert.equal(findNul({ messages: [{ text: 'ok' }, { to: '+7', text: 'x\u0000' }] }), 'messages.1.text');
  assert.equal(findNul({ fields: { 'na\u0000me': 'v' } }), 'fields.na\\u0000me');
  assert.equal(findNul(['\u0000']), '0');
  assert.equal(findNul('\u0000'), '(body)');
  assert.equal(findNul({ n: 1, b: true, z: null, list: [1, 2] }), undefined);
});

test('findNul leaves buffers and streams (uploads) alone', () => {
  assert.equal(findNul({ file: Buffer.from([0, 1, 2]) }), undefined);
  assert.equal(findNul(Readable.from(['\u0000'])), undefined);
});
