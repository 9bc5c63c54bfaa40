import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixedChunks, inLists } from './shapes.ts';

test('rows are cut into a few fixed sizes and none is lost', () => {
  const rows = Array.from({ length: 345 }, (_, i) => i);
  const chunks = fixedChunks(rows);
  assert.deepEqual(chunks.map((c) => c.length), [256, 64, 16, 4, 4, 1]);
  assert.deepEqual(chunks.flat(), rows);
  assert.deepEqual(fixedChunks([]), []);
});

test('IN lists are padded to a power of two with the last value, at most 512 long', () => {
  assert.deepEqual(inLists(['a', 'b', 'c']), [['a', 'b', 'c', 'c']]);
  assert.deepEqual(inLists(['a']), [['a']]);
  const many = inLists(Array.from({ length: 600 }, (_, i) => i));
  assert.deepEqual(many.map((l) => l.length), [512, 128]);
  assert.deepEqual(new Set(many.flat()).size, 600);
  assert.deepEqual(inLists([]), []);
});
