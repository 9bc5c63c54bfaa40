import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import type { Contact, ContactPatch } from '../../../store/contacts.ts';
import { checkContactsFile, csvRows, MAX_IMPORT_ROWS, TooManyRows, xlsxExport, xlsxRows, type NumberedRow } from './contacts-files.ts';

async function read(source: AsyncIterable<NumberedRow>, maxRows?: number) {
  const out = { columns: [] as string[], rows: [] as ContactPatch[], at: [] as number[], problems: [] as { row: number; at: number; issue: string }[], badRows: 0, skipped: [] as number[] };
  for await (const item of checkContactsFile(source, 'RU', maxRows)) {
    if ('header' in item) out.columns = item.header;
    else if ('skipped' in item) out.skipped.push(item.at);
    else if ('issues' in item) {
      out.badRows++;
      for (const issue of item.issues) out.problems.push({ row: item.row, at: item.at, issue });
    } else {
      out.rows.push(item.patch);
      out.at.push(item.at);
    }
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
    yield { row: 1, cells: ['guid'] };
    for (let i = 0; i < 1000; i++) {
      read_++;
      yield { row: i + 2, cells: [`g${i}`] };
    }
  }
  await assert.rejects(read(many(), 100), (err: unknown) => err instanceof TooManyRows && err.limit === 100 && /at most 100: split it/.test(err.message));
  assert.equal(read_, 101, 'stopped at the first row past the limit');
  assert.equal((await read(many(), 1000)).badRows, 0, 'a file of the limit exactly is taken');
});

test('a cell holding U+0000 makes its row bad (PostgreSQL text cannot hold it), in a value or a JSON column', async () => {
  const out = await read(csvRows('guid,first_name,phone,attributes\na,An\u0000na,+79161234567,\nb,Bo,+79161234568,"{""k"":""\\u0000""}"\nc,Cy,+79161234569,\n'));
  assert.deepEqual(out.problems, [
    { row: 2, at: 2, issue: 'first_name: must not contain the NUL character (U+0000)' },
    { row: 3, at: 3, issue: 'attributes.k: must not contain the NUL character (U+0000)' },
  ]);
  assert.equal(out.rows.length, 1);
});

test('a CSV row is named by the line it starts on: values quoted across lines (LF, CRLF, CR) and blank lines move the rows after them', async () => {
  for (const eol of ['\n', '\r\n', '\r']) {
    const file = ['guid,phone,address', 'a,+79161234567,"Москва,', 'Тверская 1"', 'b,12345,', '', 'c,+79161234568,"три', '', 'строки"', 'd,+79161234569,', '"e",1,"x""', 'y"', ''].join(eol);
    const out = await read(csvRows(file));
    assert.deepEqual(out.at, [2, 6, 9], JSON.stringify(eol));
    assert.deepEqual(out.problems.map((p) => [p.row, p.at]), [[3, 4], [6, 10]], JSON.stringify(eol));
    assert.match(out.problems[0]!.issue, /phones\.0: "12345"/);
    assert.deepEqual(out.skipped, [5], 'the blank line');
    assert.equal(JSON.parse(out.rows[1]!.attributes!).address, `три${eol}${eol}строки`, 'the value keeps its line breaks');
  }
  // Streamed a byte at a time, a CRLF split between chunks is one line break.
  const chunks = (text: string) => (async function* () {
    for (const byte of Buffer.from(text)) yield Buffer.from([byte]);
  })();
  const out = await read(csvRows(Readable.from(chunks('\uFEFFguid;phone\r\n"a\r\nb";+79161234567\r\nc;1\r\n'))));
  assert.deepEqual([out.at, out.problems.map((p) => p.at)], [[2], [4]]);
});

test('a row with no value in any cell is skipped, not bad; a row with values but no guid, phone or e-mail is bad, naming the field', async () => {
  const out = await read(csvRows(',,\nguid,first_name,phone\n,,\n , ,\na,Анна,+79161234567\n,Борис,\n  ,  ,  \n,,,,\nb,,\n,Вера,+79161234568\n,,\n,,\n'));
  assert.deepEqual(out.skipped, [1, 3, 4, 7, 8, 11, 12], 'before the header too');
  assert.deepEqual(out.problems.map((p) => [p.at, p.issue]), [[6, 'guid, phones: all empty; every row needs one of them']]);
  assert.deepEqual(out.rows.map((r) => [r.guid ?? null, r.first_name ?? null]), [['a', 'Анна'], ['b', null], [null, 'Вера']], 'a guid alone or a phone alone is enough');
  const phonesOnly = await read(csvRows('phone,city\n,Тверь\n'));
  assert.deepEqual(phonesOnly.problems.map((p) => [p.at, p.issue]), [[2, 'phones: empty; every row needs it']]);
  const emails = await read(csvRows('phone,email,city\n,a@example.com,Тверь\n'));
  assert.deepEqual([emails.badRows, emails.rows.length], [0, 1], 'an e-mail without a phone is a contact');
  assert.equal((await read(csvRows(',,\n\n'))).problems[0]!.issue, 'the file is empty; it needs a header row');
});

test('a CSV file has one separator, told by its header: a `;` file keeps the commas of its values, a `,` file the semicolons', async () => {
  const semicolons = await read(csvRows('\n\uFEFFguid;first_name;phone;city\ng-1;Анна;+79161234567;Москва, Тверская 1\ng-2;Борис;+79161234568;3,5\n'));
  assert.deepEqual(semicolons.rows.map((r) => JSON.parse(r.attributes!).city), ['Москва, Тверская 1', '3,5']);
  assert.deepEqual(semicolons.at, [3, 4], 'the blank line before the header counts');
  const commas = await read(csvRows('guid,phones,note\ng-1,+79161234567;+79161234568,а; б\n'));
  assert.equal(commas.badRows, 0, JSON.stringify(commas.problems));
  assert.deepEqual([commas.rows[0]!.phones, JSON.parse(commas.rows[0]!.attributes!).note], [JSON.stringify(['+79161234567', '+79161234568']), 'а; б']);
  // A header with a quoted name holding the other separator, and a header longer than one chunk.
  const quoted = await read(csvRows('"guid";"name, full";phone\ng-1;Анна Иванова;+79161234567\n'));
  assert.deepEqual(quoted.rows.map((r) => JSON.parse(r.attributes!)), [{ 'name, full': 'Анна Иванова' }]);
  const long = await read(csvRows(Readable.from([`guid;phone;${'x'.repeat(70_000)}`, '\ng-1;+79161234567;a,b\n'])));
  assert.deepEqual([long.badRows, long.rows.length, Object.values(JSON.parse(long.rows[0]!.attributes!))], [0, 1, ['a,b']]);
});

test('a CSV file that is not UTF-8 (Excel\'s plain "CSV" writes Cyrillic in Windows-1251) is refused row by row, not imported as unreadable names', async () => {
  const cp1251 = (text: string) => Buffer.from([...text].map((c) => (c >= 'А' && c <= 'я' ? c.charCodeAt(0) - 0x410 + 0xc0 : c.charCodeAt(0))));
  const out = await read(csvRows(Readable.from([cp1251('guid;first_name;phone\ng-1;Анна;+79161234567\ng-2;Bob;+79161234568\n')])));
  assert.deepEqual(out.problems.map((p) => [p.at, p.issue]), [[2, 'first_name: not UTF-8 text (a file saved as Excel\'s "CSV" is Windows-1251); save the file as "CSV UTF-8"']]);
  assert.equal(out.rows.length, 1, 'a row of Latin letters reads the same in both');
  const header = await read(csvRows(Readable.from([cp1251('guid;Телефон\ng-1;+79161234567\n')])));
  assert.deepEqual(header.problems.map((p) => [p.row, p.issue]), [[1, 'the header row is not UTF-8 text (a file saved as Excel\'s "CSV" is Windows-1251); save the file as "CSV UTF-8"']]);
});

test('an XLSX sheet of Cyrillic text reads back exactly, whatever chunk of the zip a character\'s bytes straddle (ExcelJS decoded each chunk alone)', async () => {
  const n = 3000;
  const contact = (i: number): Contact => ({ id: `cnt_${i}`, project_id: 'prj_1', guid: `g-${i}`, first_name: `Имя${i}`, last_name: `Фамилия-Ёжикова-${i}`, middle_name: null, gender: null, phones: [], emails: [], messenger_ids: {}, time_zone: null, attributes: { город: 'Санкт-Петербург' }, consent: {}, blocked: false, created_at: 0, updated_at: 0 });
  async function* contacts() {
    for (let i = 0; i < n; i++) yield contact(i);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of xlsxExport(contacts())) chunks.push(chunk as Buffer);
  const rows: string[][] = [];
  for await (const row of xlsxRows(Readable.from([Buffer.concat(chunks)]))) rows.push(row.cells);
  assert.equal(rows.length, n + 1);
  const garbled = rows.slice(1).filter((cells, i) => cells[2] !== `Имя${i}` || cells[3] !== `Фамилия-Ёжикова-${i}` || cells[12] !== '{"город":"Санкт-Петербург"}');
  assert.deepEqual(garbled.slice(0, 3), []);
});
