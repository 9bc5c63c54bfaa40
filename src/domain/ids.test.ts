import assert from 'node:assert/strict';
import { test } from 'node:test';
import { idBoundsAt, newId } from './ids.ts';

test('ids are prefixed ULIDs that sort by creation, also within one millisecond', () => {
  const ids = Array.from({ length: 5000 }, () => newId('msg', 1_700_000_000_000));
  for (const id of ids) assert.match(id, /^msg_[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
  const later = newId('msg', 1_700_000_000_001);
  assert.ok(later > ids.at(-1)!);
});

test('the random part is not constant across milliseconds', () => {
  const randoms = new Set(Array.from({ length: 2000 }, (_, i) => newId('evt', 1_700_000_100_000 + i).slice(14)));
  assert.ok(randoms.size > 1990, `only ${randoms.size} distinct random parts of 2000`);
});

test('a time\'s id bounds enclose every id made at that time', () => {
  const { lowest, highest } = idBoundsAt('msg', 1_700_000_200_000);
  const id = newId('msg', 1_700_000_200_000);
  assert.ok(lowest <= id && id <= highest);
  assert.ok(newId('msg', 1_700_000_200_001) > highest);
});
