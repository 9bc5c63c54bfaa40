import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import ExcelJS from 'exceljs';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

for (const { name, skip } of await dialects()) {
  describe(`delivery report export (${name})`, { skip }, () => {
    let t: TestGateway;
    let delivered: string;
    const get = (url: string) => t.gateway.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${t.apiKey}` } });
    before(async () => {
      t = await startTestGateway(name);
      const one = await t.gateway.app.inject({ method: 'POST', url: '/v1/messages', headers: { authorization: `Bearer ${t.apiKey}` }, payload: { to: '+79161234567', text: 'Отчёт', group: 'promo' } });
      delivered = one.json().id;
      await waitForStatus(t.gateway, delivered, ['delivered']);
      // More than one chunk of 1,000 rows, so the report pages through the table.
      const to = Array.from({ length: 1050 }, (_, i) => `+7916700${String(i).padStart(4, '0')}`);
      const bulk = await t.gateway.app.inject({ method: 'POST', url: '/v1/messages/bulk', headers: { authorization: `Bearer ${t.apiKey}` }, payload: { to, text: 'bulk' } });
      assert.equal(bulk.json().accepted, 1050);
    });
    after(() => t?.close());

    test('CSV: a header row, every matching message once, the S21 fields of a delivered one', async () => {
      const all = await get('/v1/reports/messages?format=csv');
      assert.equal(all.statusCode, 200);
      assert.match(String(all.headers['content-type']), /^text\/csv/);
      assert.match(String(all.headers['content-disposition']), /attachment; filename="messages-\d{8}T\d{6}\.csv"/);
      const rows = parse(all.body, { columns: true }) as Record<string, string>[];
      assert.equal(rows.length, 1051);
      assert.equal(new Set(rows.map((r) => r.id)).size, 1051);

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
      assert.ok(!Number.isNaN(Date.parse(r.delivered_at!)));
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
      assert.equal(bigBook.getWorksheet('messages')!.rowCount, 1052);
    });

    test('bad filters are refused as in History', async () => {
      assert.equal((await get('/v1/reports/messages?format=csv&to=abc')).json().error.code, 'invalid_phone_number');
      assert.equal((await get('/v1/reports/messages?format=pdf')).json().error.code, 'validation_failed');
    });
  });
}
