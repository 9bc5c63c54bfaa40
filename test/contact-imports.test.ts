import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import ExcelJS from 'exceljs';
import { ContactImportRunner } from '../src/ingress/http/routes/contact-imports.ts';
import { LEASE_MS } from '../src/ingress/http/routes/job-leases.ts';
import { createLogger } from '../src/log.ts';
import { APPLY_CHUNK_ROWS } from '../src/store/contact-imports.ts';
import { copyRows } from '../src/store/pg-copy.ts';
import { XLSX_TYPE } from '../src/ingress/http/routes/contacts-files.ts';
import { dialects, startTestGateway, type TestGateway } from './helpers.ts';

const csv = (n: number, edit: (i: number, line: string) => string = (_i, l) => l, from = 0) => {
  const lines = ['guid,first_name,phone,city'];
  for (let i = from; i < from + n; i++) lines.push(edit(i, `g-${i},Имя${i},+7916${String(i).padStart(7, '0')},Город${i % 10}`));
  return lines.join('\n') + '\n';
};

/** Staged contact imports (POST /v1/contacts/imports) on both databases: reports, all or nothing, a takeover after a crash. */
for (const dialect of await dialects()) {
  describe(`contact imports on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let projectId: string;
    const call = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
      const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${t.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
      return { status: res.statusCode, body: res.json() };
    };
    const upload = async (payload: string | Buffer, url = `/v1/contacts/imports?project_id=${projectId}`, type = 'text/csv') => {
      const res = await t.gateway.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': type }, payload });
      return { status: res.statusCode, body: res.json() };
    };
    const contacts = async (project = projectId) => Number((await t.gateway.database.db.selectFrom('contacts').select((eb) => eb.fn.countAll().as('n')).where('project_id', '=', project).executeTakeFirstOrThrow()).n);
    const staged = async () => Number((await t.gateway.database.db.selectFrom('contact_import_rows').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    /** Polls the job until it ended (it is applied in the background). */
    const ended = async (id: string) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const job = await call('GET', `/v1/contacts/imports/${id}`);
        if (job.body.status === 'completed' || job.body.status === 'failed') return job.body;
        if (Date.now() > deadline) throw new Error(`import ${id} still ${job.body.status}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };

    before(async () => {
      t = await startTestGateway(dialect.name);
      projectId = (await call('POST', '/v1/projects', { name: 'Imports', code: 'imp' })).body.id;
    });
    after(async () => t?.close());

    test('1. a file with bad rows imports nothing and reports each, in row order; its staged rows are gone', async () => {
      const file = csv(3000, (i, line) => (i === 3 ? line.replace(/\+7916\d+/, '12345') : i === 2500 ? line.replace('g-2500', 'g-10') : line));
      const res = await upload(file);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal(res.body.object, 'contact_import');
      assert.match(res.body.id, /^imp_/);
      assert.equal(res.body.status, 'failed');
      assert.equal(res.body.rows, 3000);
      assert.equal(res.body.bad_rows, 2);
      assert.deepEqual(res.body.problems.map((p: { field: string }) => p.field), ['row 5', 'row 2502']);
      assert.match(res.body.problems[1].issue, /guid g-10 repeats row 12/);
      assert.equal(res.body.created, 0);
      assert.equal(await contacts(), 0, 'nothing half-imported');
      assert.equal(await staged(), 0, 'staged rows deleted; the report is kept');
      const again = await call('GET', `/v1/contacts/imports/${res.body.id}`);
      assert.deepEqual(again.body, res.body);
      const sync = await upload(file, `/v1/contacts/import?project_id=${projectId}`);
      assert.equal(sync.status, 422);
      assert.equal(sync.body.error.code, 'invalid_import');
      assert.deepEqual(sync.body.error.details.map((p: { field: string }) => p.field), ['row 5', 'row 2502']);
    });

    test('2. a good file imports every row; a second one updates the contacts it names and creates the rest', async () => {
      const res = await upload(csv(5000));
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.ok(['applying', 'completed'].includes(res.body.status), res.body.status);
      const done = await ended(res.body.id);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.deepEqual([done.rows, done.created, done.updated, done.applied_rows, done.bad_rows], [5000, 5000, 0, 5000, 0]);
      assert.ok(done.received_at && done.completed_at);
      assert.equal(await contacts(), 5000);
      const next = await upload(csv(1000, (_i, l) => l.replace('Имя', 'Новое'), 4500), `/v1/contacts/import?project_id=${projectId}`);
      assert.equal(next.status, 200, JSON.stringify(next.body));
      assert.deepEqual(next.body, { object: 'contact_import', rows: 1000, skipped_rows: 0, created: 500, updated: 500 });
      assert.equal(await contacts(), 5500);
      const changed = (await call('GET', '/v1/contacts?guid=g-4700')).body.data[0];
      assert.equal(changed.first_name, 'Новое4700');
      assert.deepEqual(changed.attributes, { city: 'Город0' });
      assert.equal(await staged(), 0);
      const list = await call('GET', '/v1/contacts/imports?limit=2');
      assert.equal(list.body.data.length, 2);
      assert.ok(list.body.next_cursor);
      assert.equal((await call('GET', `/v1/contacts/imports?limit=2&cursor=${list.body.next_cursor}`)).body.data.length, 2, 'four imports so far');
    });

    test('3. a process that stops while applying: another takes the job over once its lease lapsed and applies every row once', async () => {
      const log = createLogger('silent');
      const db = t.gateway.database;
      const other = (await call('POST', '/v1/projects', { name: 'Crash', code: 'crash' })).body.id;
      const first = new ContactImportRunner(db, log);
      const n = APPLY_CHUNK_ROWS * 2 + 500;
      const account = await t.gateway.database.db.selectFrom('accounts').select(['id', 'default_region']).where('id', '=', t.accountId).executeTakeFirstOrThrow();
      // The first process receives and checks the file, then stops after one chunk (SQLite) or mid-transaction (PostgreSQL).
      const stopped = new ContactImportRunner(db, log);
      const crashAfterOne = async () => {
        throw new Error('the process died');
      };
      const { job } = await (async () => {
        // receive() queues the apply; this process's apply is replaced by one that dies.
        const received = await stopped.repo.create({ accountId: account.id, projectId: other, format: 'csv', createdBy: null, owner: stopped.owner, leaseUntil: Date.now() + LEASE_MS });
        let row = 1;
        const rows = csv(n).trim().split('\n').slice(1).map((line) => {
          row++;
          const [guid, name, phone] = line.split(',');
          return { row, patch: { guid: guid!, first_name: name!, phones: JSON.stringify([phone]) } };
        });
        for (let i = 0; i < rows.length; i += 1000) await stopped.repo.stage(account.id, received.id, stopped.owner, rows.slice(i, i + 1000), { columns: ['guid', 'first_name', 'phones'], rows: Math.min(i + 1000, n), badRows: 0, problems: [] });
        const checked = await stopped.repo.check(account.id, received.id, stopped.owner, { columns: ['guid', 'first_name', 'phones'], rows: n, badRows: 0, problems: [] });
        assert.equal(checked!.status, 'applying');
        return { job: checked! };
      })();
      // On PostgreSQL the apply is one transaction: a process dying in it leaves nothing applied, as if it never began.
      if (dialect.name === 'sqlite') await assert.rejects(stopped.repo.applyAll(account.id, job.id, stopped.owner, crashAfterOne), /the process died/);
      const half = (await first.repo.get(account.id, job.id))!;
      const appliedBefore = Number((await db.db.selectFrom('contacts').select((eb) => eb.fn.countAll().as('n')).where('project_id', '=', other).executeTakeFirstOrThrow()).n);
      if (dialect.name === 'sqlite') {
        assert.equal(half.applied_row, APPLY_CHUNK_ROWS, 'one chunk applied');
        assert.equal(appliedBefore, APPLY_CHUNK_ROWS - 1, 'its rows are in (the header is row 1)');
      }
      // While the lease holds, nobody takes it; once it lapsed, the next process does and applies the rest.
      assert.deepEqual(await first.sweep(), []);
      const taken = await first.sweep(Date.now() + LEASE_MS + 1000);
      assert.deepEqual(taken.map((j) => j.id), [job.id]);
      await first.idle();
      const done = (await first.repo.get(account.id, job.id))!;
      assert.equal(done.status, 'completed', done.error ?? '');
      assert.equal(done.created, n);
      assert.equal(done.updated, 0);
      const counts = await db.db
        .selectFrom('contacts')
        .select((eb) => [eb.fn.countAll().as('n'), eb.fn.count('guid').distinct().as('guids')])
        .where('project_id', '=', other)
        .executeTakeFirstOrThrow();
      assert.deepEqual([Number(counts.n), Number(counts.guids)], [n, n], 'every row once');
      // The stopped process, were it to wake up, applies nothing more: the job is not its own.
      assert.equal(await stopped.repo.applyAll(account.id, job.id, stopped.owner), false);
      assert.equal(await staged(), 0);
      await first.stop();
      await stopped.stop();
    });

    test('4. an upload cut off by a stopped process is failed by the sweep, its staged rows deleted', async () => {
      const runner = new ContactImportRunner(t.gateway.database, createLogger('silent'));
      // A stream that never ends: the upload is "in flight" when its process stops.
      const body = new Readable({ read() {} });
      body.push(csv(1500));
      const receiving = runner.receive({ accountId: t.accountId, projectId, defaultRegion: 'RU', format: 'csv', body, createdBy: null });
      let job;
      for (;;) {
        job = (await runner.repo.list(t.accountId, 1))[0]!;
        if (job.status === 'received' && job.rows >= 1000) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(job.status, 'received');
      assert.ok((await staged()) >= 1000);
      const sweeper = new ContactImportRunner(t.gateway.database, createLogger('silent'));
      await sweeper.sweep(Date.now() + LEASE_MS + 1000);
      const failed = (await runner.repo.get(t.accountId, job.id))!;
      assert.equal(failed.status, 'failed');
      assert.match(failed.error!, /cut off/);
      assert.equal(await staged(), 0);
      body.push(null);
      const late = await receiving;
      assert.equal(late.job.status, 'failed', 'the rest of the upload is not staged: the job is no longer this process\'s');
      assert.equal(await staged(), 0);
    });

    test('5. values COPY must escape (tabs, newlines, backslashes, \\N, Cyrillic) come back from an import as they were', async () => {
      const nasty: [string, string, string, string, string][] = [
        ['n-1', 'Таб\tвнутри', 'C:\\путь\\к', 'a\\Nb', '{"json":"x\\ny"}'],
        ['n-2', 'Две\nстроки', '\\.', 'кавычка " и запятая ,', 'возврат\rкаретки'],
        ['n-3', '\\N', '😀 Ёжик', '\\t не таб', '\\'],
      ];
      const quote = (v: string) => `"${v.replaceAll('"', '""')}"`;
      const file = ['guid,first_name,last_name,phone,note', ...nasty.map(([guid, first, last, note, city], i) => [guid, first, last, `+7916555000${i}`, `${note}|${city}`].map(quote).join(','))].join('\n') + '\n';
      const res = await upload(file);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const done = await ended(res.body.id);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.equal(done.created, 3);
      for (const [guid, first, last, note, city] of nasty) {
        const contact = (await call('GET', `/v1/contacts?guid=${encodeURIComponent(guid)}`)).body.data[0];
        assert.deepEqual([contact.first_name, contact.last_name, contact.attributes], [first, last, { note: `${note}|${city}` }], guid);
      }
    });

    test('6. staged rows that are gone (a PostgreSQL crash empties the unlogged staging table) fail the job; nothing is applied', async () => {
      const db = t.gateway.database;
      const runner = new ContactImportRunner(db, createLogger('silent'));
      const other = (await call('POST', '/v1/projects', { name: 'Lost', code: 'lost' })).body.id;
      const count = async () => Number((await db.db.selectFrom('contacts').select((eb) => eb.fn.countAll().as('n')).where('project_id', '=', other).executeTakeFirstOrThrow()).n);
      const columns = ['guid', 'first_name', 'phones'];
      const stageFile = async (n: number) => {
        const job = await runner.repo.create({ accountId: t.accountId, projectId: other, format: 'csv', createdBy: null, owner: runner.owner, leaseUntil: Date.now() + LEASE_MS });
        const rows = Array.from({ length: n }, (_, i) => ({ row: i + 2, patch: { guid: `lost-${job.id}-${i}`, first_name: `Имя${i}`, phones: JSON.stringify([`+7916${String(i).padStart(7, '0')}`]) } }));
        for (let i = 0; i < n; i += 1000) await runner.repo.stage(t.accountId, job.id, runner.owner, rows.slice(i, i + 1000), { columns, rows: Math.min(i + 1000, n), badRows: 0, problems: [] });
        return job.id;
      };
      // What crash recovery does to an unlogged table, here to one job's rows (or its rows below a row number).
      const crash = (id: string, rowsBelow = 2 ** 31 - 1) => db.db.deleteFrom('contact_import_rows').where('import_id', '=', id).where('row_no', '<', rowsBelow).execute();
      if (dialect.name === 'postgres') {
        const table = await db.db.selectFrom(sql<{ relpersistence: string }>`pg_class`.as('c')).select('relpersistence').where(sql`oid`, '=', sql`'contact_import_rows'::regclass`).executeTakeFirstOrThrow();
        assert.equal(table.relpersistence, 'u', 'the staging table is unlogged');
        const indexes = (await sql<{ indexname: string }>`select indexname from pg_indexes where tablename = 'contact_import_rows' and schemaname = current_schema()`.execute(db.db)).rows;
        assert.deepEqual(indexes.map((i) => i.indexname), ['contact_import_rows_pk'], 'the guid index is gone on PostgreSQL (migration 034)');
      }
      // 1. Lost between two staged batches (the batch after the restart went in): the check refuses the file.
      const early = await stageFile(1000);
      await crash(early);
      await runner.repo.stage(t.accountId, early, runner.owner, [{ row: 1002, patch: { guid: 'lost-late', phones: '["+79160000999"]' } }], { columns, rows: 1001, badRows: 0, problems: [] });
      const checked = (await runner.repo.check(t.accountId, early, runner.owner, { columns, rows: 1001, badRows: 0, problems: [] }))!;
      assert.equal(checked.status, 'failed');
      assert.match(checked.error!, /^1000 staged row\(s\) were lost .*; nothing was imported; upload the file again$/);
      // 2. Lost after the check, before the apply: the apply (or the process taking it over) fails the job, applying none of it.
      const late = await stageFile(APPLY_CHUNK_ROWS + 10);
      assert.equal((await runner.repo.check(t.accountId, late, runner.owner, { columns, rows: APPLY_CHUNK_ROWS + 10, badRows: 0, problems: [] }))!.status, 'applying');
      await crash(late, 100);
      assert.equal(await runner.repo.applyAll(t.accountId, late, runner.owner), false);
      const failed = (await runner.repo.get(t.accountId, late))!;
      assert.equal(failed.status, 'failed');
      assert.match(failed.error!, /^98 staged row\(s\) were lost .*; nothing was imported; upload the file again$/);
      assert.equal(await count(), 0, 'nothing half-applied');
      assert.equal(await staged(), 0, 'the rows that were left are deleted');
      await runner.stop();
    });

    /** An XLSX workbook built with ExcelJS, the library the import reads it with: a header row, then `rows` (null: an empty row), on the first sheet. */
    const workbook = async (rows: (ExcelJS.CellValue[] | null)[], header: string[] = ['guid', 'first_name', 'last_name', 'phone', 'city', 'consent.sms']) => {
      const book = new ExcelJS.Workbook();
      const sheet = book.addWorksheet('Клиенты');
      sheet.addRow(header);
      for (const row of rows) sheet.addRow(row ?? []);
      // A second sheet is not read: only the first one holds the contacts.
      const notes = book.addWorksheet('Notes');
      notes.addRow(['guid', 'phone']);
      notes.addRow(['not-a-contact', 'not a phone']);
      return Buffer.from(await book.xlsx.writeBuffer());
    };
    const xlsxRow = (i: number): ExcelJS.CellValue[] => [`x-${i}`, `Имя${i}`, `Фамилия${i}`, i % 2 === 0 ? `+7916${String(i).padStart(7, '0')}` : 79160000000 + i, `Город${i % 10}`, i % 3 === 0 ? 'да' : 'нет'];

    test('8. an XLSX workbook imports every row of its first sheet, numbers and rich text read as text', async () => {
      const xlsxProject = (await call('POST', '/v1/projects', { name: 'Xlsx', code: 'xlsx' })).body.id;
      const n = 2500; // more than one staged batch
      const rows = Array.from({ length: n }, (_, i) => xlsxRow(i));
      rows[7]![1] = { richText: [{ text: 'Мар' }, { font: { bold: true }, text: 'ия' }] };
      const res = await upload(await workbook(rows), `/v1/contacts/imports?project_id=${xlsxProject}`, XLSX_TYPE);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.deepEqual([res.body.object, res.body.format, res.body.project_id, res.body.rows, res.body.bad_rows], ['contact_import', 'xlsx', xlsxProject, n, 0], JSON.stringify(res.body.problems));
      const done = await ended(res.body.id);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.deepEqual([done.rows, done.created, done.updated, done.applied_rows, done.bad_rows, done.problems, done.error], [n, n, 0, n, 0, [], null]);
      assert.equal(await contacts(xlsxProject), n);
      const byGuid = async (guid: string) => (await call('GET', `/v1/contacts?guid=${guid}&project_id=${xlsxProject}`)).body.data;
      const even = (await byGuid('x-6'))[0];
      assert.deepEqual([even.first_name, even.last_name, even.phones, even.attributes, even.consent], ['Имя6', 'Фамилия6', ['+79160000006'], { city: 'Город6' }, { sms: true }]);
      const odd = (await byGuid('x-2497'))[0];
      assert.deepEqual([odd.phones, odd.consent], [['+79160002497'], { sms: false }], 'a phone typed as a number');
      assert.equal((await byGuid('x-7'))[0].first_name, 'Мария', 'rich text');
      assert.equal((await byGuid('not-a-contact')).length, 0, 'the second sheet is not read');
      // Shared strings whose UTF-8 bytes straddle two chunks of the zip read back whole (ExcelJS decoded each chunk on its own).
      const names = await t.gateway.database.db.selectFrom('contacts').select(['guid', 'last_name']).where('project_id', '=', xlsxProject).execute();
      assert.deepEqual(names.filter((c) => c.last_name !== `Фамилия${c.guid!.slice(2)}`), []);
      assert.equal(await staged(), 0);
    });

    test('9. an XLSX workbook with bad rows imports nothing and reports each by its row in the sheet, in row order', async () => {
      const xlsxProject = (await call('POST', '/v1/projects', { name: 'Xlsx bad', code: 'xlsx-bad' })).body.id;
      const data = Array.from({ length: 1500 }, (_, i) => xlsxRow(i));
      data[2]![3] = '12345'; // sheet row 4
      data[1200]![5] = 'может быть'; // sheet row 1204: two empty rows come before it
      data[1400]![0] = 'x-9'; // sheet row 1404 repeats the guid of row 11
      data[1450]![0] = 'x-200'; // sheet row 1454 repeats the guid of row 204, both after the empty rows
      // Empty rows (sheet rows 102 and 103, which the sheet does not store) are not read, and the rows after them keep their sheet numbers;
      // a stored row of blank cells at the end (an Excel export's) is skipped and counted.
      const rows = () => [...data.slice(0, 100), null, null, ...data.slice(100), [' ', '', '  ']];
      const res = await upload(await workbook(rows()), `/v1/contacts/imports?project_id=${xlsxProject}`, XLSX_TYPE);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.deepEqual([res.body.format, res.body.status, res.body.rows, res.body.bad_rows, res.body.skipped_rows, res.body.created, res.body.applied_rows], ['xlsx', 'failed', 1500, 4, 1, 0, 0]);
      assert.deepEqual(res.body.problems.map((p: { field: string }) => p.field), ['row 4', 'row 1204', 'row 1404', 'row 1454']);
      assert.match(res.body.problems[0].issue, /phones\.0: "12345" is not a valid phone number/);
      assert.match(res.body.problems[1].issue, /consent\.sms: "может быть" is not yes\/no/);
      assert.match(res.body.problems[2].issue, /guid x-9 repeats row 11/);
      assert.match(res.body.problems[3].issue, /guid x-200 repeats row 204/);
      assert.equal(await contacts(xlsxProject), 0, 'nothing half-imported');
      assert.equal(await staged(), 0, 'staged rows deleted; the report is kept');
      assert.deepEqual((await call('GET', `/v1/contacts/imports/${res.body.id}`)).body, res.body);
      // The same rows fixed import in full.
      data[2]![3] = '+79160000002';
      data[1200]![5] = 'да';
      data[1400]![0] = 'x-1400';
      data[1450]![0] = 'x-1450';
      const fixed = await upload(await workbook(rows()), `/v1/contacts/imports?project_id=${xlsxProject}`, XLSX_TYPE);
      const done = await ended(fixed.body.id);
      assert.deepEqual([done.status, done.rows, done.created, done.applied_rows], ['completed', 1500, 1500, 1500], JSON.stringify(done));
      assert.equal(await contacts(xlsxProject), 1500);
      // A file that is not a workbook fails with the reason, nothing imported.
      const broken = await upload(Buffer.from('PK\u0003\u0004 not really a zip'), `/v1/contacts/imports?project_id=${xlsxProject}`, XLSX_TYPE);
      assert.equal(broken.status, 202, JSON.stringify(broken.body));
      assert.equal(broken.body.status, 'failed');
      assert.match(broken.body.error, /^the file cannot be read: /);
      assert.equal(await contacts(xlsxProject), 1500);
    });

    test('10. a CSV report names the line each row starts on (quoted values span lines); rows with no value are skipped and counted, never imported', async () => {
      const csvProject = (await call('POST', '/v1/projects', { name: 'Lines', code: 'lines' })).body.id;
      const url = `/v1/contacts/imports?project_id=${csvProject}`;
      // Line 1 the header; each data row of `rows` takes one line, row i % 100 === 7 three (an address over three lines), as does an Excel export's.
      const file = (bad: boolean) => {
        const lines = ['guid,first_name,phone,address', ',,,'];
        for (let i = 0; i < 1200; i++) {
          const phone = bad && i === 1010 ? '12345' : `+7916${String(i).padStart(7, '0')}`;
          const guid = bad && i === 1150 ? 'm-3' : `m-${i}`;
          lines.push(`${guid},Имя${i},${phone},${i % 100 === 7 ? '"Москва\r\nТверская ул.,\r\nд. 1"' : 'Тверь'}`);
          if (i === 500) lines.push('', ' , ,, ');
        }
        lines.push(',,,', ',,,', '');
        return lines.join('\r\n');
      };
      // Row i's line: 2 (the header, the ",,," line) + i + 2 for each three-line address before it + 2 blank lines past row 500.
      const lineOf = (i: number) => 3 + i + 2 * Math.floor((i + 92) / 100) + (i > 500 ? 2 : 0);
      const res = await upload(file(true), url);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.deepEqual([res.body.status, res.body.rows, res.body.bad_rows, res.body.skipped_rows], ['failed', 1200, 2, 5], JSON.stringify(res.body));
      assert.deepEqual(res.body.problems.map((p: { field: string }) => p.field), [`row ${lineOf(1010)}`, `row ${lineOf(1150)}`]);
      assert.equal(lineOf(3), 6);
      assert.equal(lineOf(8), 13, 'after one three-line address');
      assert.match(res.body.problems[0].issue, /phones\.0: "12345"/);
      assert.equal(res.body.problems[1].issue, `guid m-3 repeats row ${lineOf(3)}`);
      assert.equal(await staged(), 0);
      const ok = await upload(file(false), url);
      const done = await ended(ok.body.id);
      assert.deepEqual([done.status, done.rows, done.created, done.bad_rows, done.skipped_rows, done.applied_rows], ['completed', 1200, 1200, 0, 5, 1200], JSON.stringify(done));
      assert.equal(await contacts(csvProject), 1200, 'no empty contact from the empty rows');
      const address = (await call('GET', `/v1/contacts?guid=m-107&project_id=${csvProject}`)).body.data[0].attributes.address;
      assert.equal(address, 'Москва\r\nТверская ул.,\r\nд. 1');
      // A row with a name but no guid and no phone is bad, named by its line.
      const keyless = await upload('guid,first_name,phone\r\nk-1,Анна,+79161234567\r\n,Борис,\r\n', url);
      assert.deepEqual([keyless.body.status, keyless.body.bad_rows, keyless.body.problems], ['failed', 1, [{ field: 'row 3', issue: 'guid, phones: all empty; every row needs one of them' }]]);
      // The answer of POST /v1/contacts/import counts the skipped rows too.
      const sync = await upload('guid,first_name,phone\r\ns-1,Анна,+79161234567\r\n,,\r\n,,\r\n', `/v1/contacts/import?project_id=${csvProject}`);
      assert.deepEqual(sync.body, { object: 'contact_import', rows: 1, skipped_rows: 2, created: 1, updated: 0 });
    });

    test('11. a staged batch that fails while the next one is read fails the import; the process goes on (no unhandled rejection)', async () => {
      const runner = new ContactImportRunner(t.gateway.database, createLogger('silent'));
      let failed!: () => void;
      const stageFailed = new Promise<void>((resolve) => (failed = resolve));
      // The database goes away under the first batch's write, while the upload is still coming in.
      runner.repo.stage = async () => {
        setImmediate(failed);
        throw new Error('the database went away');
      };
      const rejections: unknown[] = [];
      const onRejection = (err: unknown) => rejections.push(err);
      process.on('unhandledRejection', onRejection);
      try {
        const body = new Readable({ read() {} });
        body.push(csv(1500));
        const receiving = runner.receive({ accountId: t.accountId, projectId, defaultRegion: 'RU', format: 'csv', body, createdBy: null });
        await stageFailed;
        // A turn of the event loop while the parser waits for more of the upload: an unhandled rejection would be reported now.
        await new Promise((resolve) => setImmediate(resolve));
        body.push(csv(10, undefined, 2000).split('\n').slice(1).join('\n'));
        body.push(null);
        const { job } = await receiving;
        assert.equal(job.status, 'failed');
        assert.equal(job.error, 'the rows could not be staged: the database went away');
        assert.deepEqual(rejections, []);
      } finally {
        process.off('unhandledRejection', onRejection);
        await runner.stop();
      }
    });

    // COPY is PostgreSQL only: the test exists in that dialect's suite alone (not a skip in the SQLite one).
    if (dialect.name === 'postgres') test('7. COPY takes what the encoder writes: NULL, empty, escapes and integers round-trip; a NUL is refused before the COPY starts', async () => {
      const client = await t.gateway.database.pool!.connect();
      try {
        await client.query('create temp table copy_check (t text, n integer)');
        const values = [null, '', '\\N', '\\', '\\.', 'a\tb', 'a\nb', 'a\rb', 'a\\nb', '\\\\', 'Ёжик\t«ёлка»\n😀', '\u0007\b\f\v', ' lead and trail '];
        assert.equal(await copyRows(client, 'copy_check', ['t', 'n'], values.map((v, i) => [v, i - 5])), values.length);
        const back = await client.query<{ t: string | null; n: number }>('select t, n from copy_check order by n');
        assert.deepEqual(back.rows.map((r) => [r.t, r.n]), values.map((v, i) => [v, i - 5]));
        await assert.rejects(copyRows(client, 'copy_check', ['t', 'n'], [['a\0b', 1]]), /NUL/);
        assert.equal((await client.query('select count(*)::int as n from copy_check')).rows[0].n, values.length, 'the connection is usable after the refusal');
      } finally {
        await client.query('drop table if exists copy_check').catch(() => {});
        client.release();
      }
    });
  });
}
