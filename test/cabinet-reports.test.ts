import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import ExcelJS from 'exceljs';
import { parseRegistry } from '../src/sms/mno-csv.ts';
import { MnoRepository } from '../src/store/mno.ts';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

/** Two ranges of the operators' registry (its format: shared/data/DEF-9xx.csv), so messages record their operator. */
const REGISTRY = [
  'АВС/ DEF;От;До;Емкость;Оператор;Регион;ИНН',
  '916;0;9999999;10000000;"ПАО ""Мобильные ТелеСистемы""";г. Москва и Московская область;7740000076',
  '903;0;199999;200000;"ПАО ""Вымпел-Коммуникации""";г. Москва и Московская область;7713076301',
].join('\n');

for (const { name, skip } of await dialects()) {
  describe(`delivery report export (${name})`, { skip }, () => {
    let t: TestGateway;
    let delivered: string;
    let undelivered: string;
    const get = (url: string) => t.gateway.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${t.apiKey}` } });
    before(async () => {
      t = await startTestGateway(name);
      const registry = parseRegistry(REGISTRY);
      assert.ok(registry.ok);
      await new MnoRepository(t.gateway.database.db).importRegistry(registry.rows, 'two ranges');
      await t.gateway.mno.refresh();
      const one = await t.gateway.app.inject({ method: 'POST', url: '/v1/messages', headers: { authorization: `Bearer ${t.apiKey}` }, payload: { to: '+79161234567', text: 'Отчёт', group: 'promo' } });
      delivered = one.json().id;
      await waitForStatus(t.gateway, delivered, ['delivered']);
      // The sandbox's operator reports numbers ending 0000 undeliverable, with its error code.
      const lost = await t.gateway.app.inject({ method: 'POST', url: '/v1/messages', headers: { authorization: `Bearer ${t.apiKey}` }, payload: { to: '+79030120000', text: 'Не дошло', group: 'lost', traffic_type: 'advertising' } });
      undelivered = lost.json().id;
      assert.equal(await waitForStatus(t.gateway, undelivered, ['undelivered']), 'undelivered');
      // More than one chunk of 1,000 rows, so the report pages through the table.
      const to = Array.from({ length: 1050 }, (_, i) => `+7916700${String(i).padStart(4, '0')}`);
      const bulk = await t.gateway.app.inject({ method: 'POST', url: '/v1/messages/bulk', headers: { authorization: `Bearer ${t.apiKey}` }, payload: { to, text: 'bulk' } });
      assert.equal(bulk.json().accepted, 1050);
    });
    after(() => t?.close());

    test('CSV: a header row, every matching message once, the S21 fields of a delivered and an undelivered one', async () => {
      const all = await get('/v1/reports/messages?format=csv');
      assert.equal(all.statusCode, 200);
      assert.match(String(all.headers['content-type']), /^text\/csv/);
      assert.match(String(all.headers['content-disposition']), /attachment; filename="messages-\d{8}T\d{6}\.csv"/);
      const rows = parse(all.body, { columns: true }) as Record<string, string>[];
      assert.equal(rows.length, 1052);
      assert.equal(new Set(rows.map((r) => r.id)).size, 1052);

      const one = parse((await get('/v1/reports/messages?format=csv&to=8%20916%20123-45-67&status=delivered')).body, { columns: true }) as Record<string, string>[];
      assert.equal(one.length, 1);
      const r = one[0]!;
      assert.equal(r.id, delivered);
      assert.equal(r.to, '+79161234567');
      assert.equal(r.text, 'Отчёт');
      assert.equal(r.parts, '1');
      assert.equal(r.encoding, 'ucs2');
      assert.equal(r.status, 'delivered');
      assert.equal(r.traffic_type, 'service');
      assert.equal(r.group, 'promo');
      assert.equal(r.operator, 'mts', 'the operator of the number, from the registry');
      assert.ok(!Number.isNaN(Date.parse(r.delivered_at!)));
      assert.equal(r.reason, '', 'a delivered message has no reason');
      assert.equal(r.provider_code, '');

      // An undelivered one: no delivery time, and the reason the operator gave.
      const lost = parse((await get('/v1/reports/messages?format=csv&group=lost')).body, { columns: true }) as Record<string, string>[];
      assert.equal(lost.length, 1);
      const u = lost[0]!;
      assert.equal(u.id, undelivered);
      assert.equal(u.to, '+79030120000');
      assert.equal(u.operator, 'beeline');
      assert.equal(u.traffic_type, 'advertising');
      assert.equal(u.status, 'undelivered');
      assert.equal(u.delivered_at, '');
      assert.equal(u.reason, 'subscriber_unknown');
      assert.ok(u.reason_description!.length > 0);
      assert.equal(u.provider_code, 'stat:UNDELIV err:001', 'the raw code the operator gave');
      const none = await get(`/v1/reports/messages?format=csv&since=${new Date(Date.now() + 86_400_000).toISOString()}`);
      assert.equal(parse(none.body, { columns: true }).length, 0);
    });

    test('XLSX: the same rows in a worksheet', async () => {
      const res = await get('/v1/reports/messages?format=xlsx&group=promo');
      assert.equal(res.statusCode, 200);
      const book = new ExcelJS.Workbook();
      await book.xlsx.load(res.rawPayload as unknown as ArrayBuffer);
      const sheet = book.getWorksheet('messages')!;
      assert.equal(sheet.rowCount, 2);
      const header = (sheet.getRow(1).values as unknown[]).slice(1);
      const values = (sheet.getRow(2).values as unknown[]).slice(1);
      const row = Object.fromEntries(header.map((h, i) => [String(h), values[i]]));
      assert.equal(row.id, delivered);
      assert.equal(row.status, 'delivered');
      assert.equal(row.text, 'Отчёт');
      assert.equal(row.parts, 1);

      const big = await get('/v1/reports/messages?format=xlsx');
      const bigBook = new ExcelJS.Workbook();
      await bigBook.xlsx.load(big.rawPayload as unknown as ArrayBuffer);
      assert.equal(bigBook.getWorksheet('messages')!.rowCount, 1053);
    });

    test('bad filters are refused as in History', async () => {
      assert.equal((await get('/v1/reports/messages?format=csv&to=abc')).json().error.code, 'invalid_phone_number');
      assert.equal((await get('/v1/reports/messages?format=pdf')).json().error.code, 'validation_failed');
    });
  });
}
