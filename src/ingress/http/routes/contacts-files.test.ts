import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csvRows, MAX_IMPORT_ROWS, readContactsFile } from './contacts-files.ts';

test('a CSV with a BOM and ; separators is read; columns map to fields, the rest to attributes', async () => {
  const out = await readContactsFile(csvRows('\uFEFFGUID;First_Name;phones;blocked;messenger.telegram;Город\nc-1;Анна;"+79161234567, 8 916 765-43-21";да;@anna;Тверь\n'), 'RU');
  assert.equal(out.badRows, 0, JSON.stringify(out.problems));
  assert.deepEqual(out.columns.sort(), ['attributes', 'blocked', 'first_name', 'guid', 'messenger_ids', 'phones']);
  const row = out.rows[0]!;
  assert.equal(row.guid, 'c-1');
  assert.equal(row.phones, JSON.stringify(['+79161234567', '+79167654321']));
  assert.equal(row.blocked, 1);
  assert.equal(row.messenger_ids, JSON.stringify({ telegram: '@anna' }));
  assert.equal(row.attributes, JSON.stringify({ Город: 'Тверь' }));
});

test('every bad row is reported with its number; a header without a key column is refused', async () => {
  const out = await readContactsFile(csvRows('guid,gender,blocked,attributes\na,x,1,\nb,m,maybe,\nc,f,0,[1]\n'), 'RU');
  assert.equal(out.badRows, 3);
  assert.deepEqual(out.problems.map((p) => p.field), ['row 2', 'row 3', 'row 4']);
  const headerless = await readContactsFile(csvRows('name,city\nA,B\n'), 'RU');
  assert.equal(headerless.problems[0]!.field, 'row 1');
  assert.equal((await readContactsFile(csvRows(''), 'RU')).badRows, 1);
});

test(`a file of more than ${MAX_IMPORT_ROWS} rows is refused without reading on`, async () => {
  async function* many() {
    yield ['guid'];
    for (let i = 0; i < MAX_IMPORT_ROWS + 10; i++) yield [`g${i}`];
  }
  const out = await readContactsFile(many(), 'RU');
  assert.equal(out.badRows, 1);
  assert.match(out.problems[0]!.issue, /at most 50000/);
  assert.equal(out.problems[0]!.field, `row ${MAX_IMPORT_ROWS + 2}`);
});
