import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContactPatch } from '../../../store/contacts.ts';
import { checkContactsFile, csvRows, MAX_IMPORT_ROWS } from './contacts-files.ts';

async function read(source: AsyncIterable<string[]>, maxRows?: number) {
  const out = { columns: [] as string[], rows: [] as ContactPatch[], problems: [] as { row: number; issue: string }[], badRows: 0 };
  for await (const item of checkContactsFile(source, 'RU', maxRows)) {
    if ('header' in item) out.columns = item.header;
    else if ('issues' in item) {
      out.badRows++;
      for (const issue of item.issues) out.problems.push({ row: item.row, issue });
    } else out.rows.push(item.patch);
  }
  return out;
}

test('a CSV with a BOM and ; separators is read; columns map to fields, the rest to attributes', async () => {
  const out = await read(csvRows('\uFEFFGUID;First_Name;phones;blocked;messenger.telegram;Город\nc-1;Анна;"+79161234567, 8 916 765-43-21";да;@anna;Тверь\n'));
  assert.equal(out.badRows, 0, JSON.stringify(out.problems));
  assert.deepEqual(out.columns.sort(), ['attributes', 'blocked', 'first_name', 'guid', 'messenger_ids', 'phones']);
  const row = out.rows[0]!;
  assert.equal(row.guid, 'c-1');
  assert.equal(row.phones, JSON.stringify(['+79161234567', '+79167654321']));
  assert.equal(row.blocked, 1);
  assert.equal(row.messenger_ids, JSON.stringify({ telegram: '@anna' }));
  assert.equal(row.attributes, JSON.stringify({ Город: 'Тверь' }));
});

test('every bad row is reported with its number; a header without a key column is a bad row 1', async () => {
  const out = await read(csvRows('guid,gender,blocked,attributes\na,x,1,\nb,m,maybe,\nc,f,0,[1]\n'));
  assert.equal(out.badRows, 3);
  assert.deepEqual(out.problems.map((p) => p.row), [2, 3, 4]);
  const headerless = await read(csvRows('name,city\nA,B\n'));
  assert.equal(headerless.problems[0]!.row, 1);
  assert.equal(headerless.badRows, 1, 'counted, so the file is refused');
  assert.equal((await read(csvRows(''))).badRows, 1);
});

test('a file of more rows than the limit is refused without reading on', async () => {
  assert.equal(MAX_IMPORT_ROWS, 5_000_000);
  let read_ = 0;
  async function* many() {
    yield ['guid'];
    for (let i = 0; i < 1000; i++) {
      read_++;
      yield [`g${i}`];
    }
  }
  const out = await read(many(), 100);
  assert.equal(out.badRows, 1);
  assert.match(out.problems[0]!.issue, /at most 100/);
  assert.equal(out.problems[0]!.row, 102);
  assert.ok(read_ < 110, `read ${read_} rows`);
});

test('a cell holding U+0000 makes its row bad (PostgreSQL text cannot hold it), in a value or a JSON column', async () => {
  const out = await read(csvRows('guid,first_name,phone,attributes\na,An\u0000na,+79161234567,\nb,Bo,+79161234568,"{""k"":""\\u0000""}"\nc,Cy,+79161234569,\n'));
  assert.deepEqual(out.problems, [
    { row: 2, issue: 'first_name: must not contain the NUL character (U+0000)' },
    { row: 3, issue: 'attributes.k: must not contain the NUL character (U+0000)' },
  ]);
  assert.equal(out.rows.length, 1);
});
