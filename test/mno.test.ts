import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseRegistry } from '../src/sms/mno-csv.ts';
import { bindClient } from '../src/smpp/session.ts';
import { MnoRepository } from '../src/store/mno.ts';
import type { TestGateway } from './helpers.ts';
import { dialects, startTestGateway } from './helpers.ts';

const REGISTRY_FILE = process.env.DEPESHA_TEST_REGISTRY ?? path.join(new URL('..', import.meta.url).pathname, '../shared/data/DEF-9xx.csv');
const MOSCOW = 'г. Москва и Московская область';
const MTS = { operator: 'mts', operator_name: 'ПАО "Мобильные ТелеСистемы"', region: MOSCOW };

for (const dialect of await dialects()) {
  describe(`operator of a number (S21) on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let accountKey: string;
    const call = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, options: { body?: unknown; csv?: string; key?: string } = {}) => {
      const headers: Record<string, string> = { authorization: `Bearer ${options.key ?? t.apiKey}` };
      let payload: string | undefined;
      if (options.csv !== undefined) [payload, headers['content-type']] = [options.csv, 'text/csv; charset=utf-8'];
      else if (options.body !== undefined) [payload, headers['content-type']] = [JSON.stringify(options.body), 'application/json'];
      const res = await t.gateway.app.inject({ method, url, headers, ...(payload !== undefined ? { payload } : {}) });
      return { status: res.statusCode, body: res.body === '' ? undefined : res.json() };
    };
    const send = async (to: string) => {
      const res = await call('POST', '/v1/messages', { body: { to, text: 'x', send_at: new Date(Date.now() + 3_600_000).toISOString() } });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      return res.body;
    };

    before(async () => {
      t = await startTestGateway(dialect.name, {}, { smpp: true });
      accountKey = (await t.makeAccount()).apiKey;
    });
    after(async () => {
      await t?.close();
    });

    test('1. before any import: no operator, and the registry says so', async () => {
      const msg = await send('+79161234567');
      assert.equal(msg.operator, null);
      assert.equal(msg.region, null);
      const registry = await call('GET', '/v1/mno/registry');
      assert.deepEqual(registry.body, { object: 'mno_registry', version: null, source: null, imported_at: null, ranges: 0, operators: 0, ported_numbers: 0, loaded_version: null });
    });

    test('2. after an import every message records its operator and region; reports and search show them', async () => {
      const parsed = parseRegistry(readFileSync(REGISTRY_FILE, 'utf8'));
      assert.ok(parsed.ok);
      await new MnoRepository(t.gateway.database.db).importRegistry(parsed.rows, 'DEF-9xx.csv');
      await t.gateway.mno.refresh();

      const registry = await call('GET', '/v1/mno/registry', { key: accountKey });
      assert.equal(registry.status, 200);
      assert.equal(registry.body.version, 1);
      assert.equal(registry.body.ranges, 9677);
      assert.equal(registry.body.operators, 85);
      assert.equal(registry.body.loaded_version, 1);

      const mts = await send('8 916 123-45-67');
      assert.equal(mts.operator, 'mts');
      assert.equal(mts.region, MOSCOW);
      const megafon = await send('+79261234567');
      assert.equal(megafon.operator, 'megafon');
      // Not covered by the registry (a UK number): no operator.
      const abroad = await send('+447911123456');
      assert.equal(abroad.operator, null);
      assert.equal(abroad.region, null);

      const got = await call('GET', `/v1/messages/${mts.id}`);
      assert.equal(got.body.operator, 'mts');
      assert.equal(got.body.region, MOSCOW);
      const listed = await call('GET', '/v1/messages?operator=mts');
      assert.deepEqual(
        listed.body.data.map((m: { id: string }) => m.id),
        [mts.id],
      );
      assert.equal((await call('GET', '/v1/messages?operator=megafon')).body.data[0].id, megafon.id);
      // Another account sees none of them.
      assert.deepEqual((await call('GET', '/v1/messages?operator=mts', { key: accountKey })).body.data, []);
    });

    test('3. the bulk endpoint records the operator of each recipient', async () => {
      const res = await call('POST', '/v1/messages/bulk', { body: { to: ['+79031234567', '+79040000000'], text: 'x', send_at: new Date(Date.now() + 3_600_000).toISOString() } });
      assert.equal(res.status, 202);
      const operators = await Promise.all(res.body.messages.map(async (m: { id: string }) => (await call('GET', `/v1/messages/${m.id}`)).body.operator));
      assert.deepEqual(operators, ['beeline', 't2']);
    });

    test('4. lookup answers any key, in any common form', async () => {
      const res = await call('GET', `/v1/mno/lookup?number=${encodeURIComponent('8 (916) 123-45-67')}`, { key: accountKey });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { object: 'mno_lookup', number: '+79161234567', ...MTS, ported: false });
      const unknown = await call('GET', '/v1/mno/lookup?number=%2B447911123456');
      assert.deepEqual(unknown.body, { object: 'mno_lookup', number: '+447911123456', operator: null, operator_name: null, region: null, ported: false });
      const bad = await call('GET', '/v1/mno/lookup?number=123');
      assert.equal(bad.status, 422);
      assert.equal(bad.body.error.code, 'invalid_phone_number');
    });

    test('5. a ported number overrides the registry at once, for lookups and for new messages', async () => {
      const forbidden = await call('PUT', '/v1/ported-numbers/+79161234567', { body: { operator: 'megafon' }, key: accountKey });
      assert.equal(forbidden.status, 403);
      const unknown = await call('PUT', '/v1/ported-numbers/+79161234567', { body: { operator: 'tele2' } });
      assert.equal(unknown.status, 422);
      assert.equal(unknown.body.error.code, 'unknown_operator');

      const created = await call('PUT', '/v1/ported-numbers/89161234567', { body: { operator: '7812014560' } });
      assert.equal(created.status, 201);
      assert.equal(created.body.number, '+79161234567');
      assert.equal(created.body.operator, 'megafon');
      assert.equal(created.body.operator_name, null);
      const lookup = await call('GET', '/v1/mno/lookup?number=79161234567', { key: accountKey });
      assert.deepEqual(lookup.body, { object: 'mno_lookup', number: '+79161234567', operator: 'megafon', operator_name: 'ПАО "МегаФон"', region: MOSCOW, ported: true });
      assert.equal((await send('+79161234567')).operator, 'megafon');

      const changed = await call('PUT', '/v1/ported-numbers/+79161234567', { body: { operator: 'inn_7743200179', operator_name: 'Т-Мобайл', region: 'Москва' } });
      assert.equal(changed.status, 200);
      assert.deepEqual((await call('GET', '/v1/mno/lookup?number=79161234567')).body, { object: 'mno_lookup', number: '+79161234567', operator: 'inn_7743200179', operator_name: 'Т-Мобайл', region: 'Москва', ported: true });
      assert.equal((await call('GET', '/v1/ported-numbers/+79161234567')).body.operator, 'inn_7743200179');

      assert.equal((await call('DELETE', '/v1/ported-numbers/+79161234567')).status, 204);
      assert.equal((await call('GET', '/v1/mno/lookup?number=79161234567')).body.operator, 'mts');
      assert.equal((await call('DELETE', '/v1/ported-numbers/+79161234567')).status, 404);
      assert.equal((await call('GET', '/v1/ported-numbers/+79161234567')).status, 404);
    });

    test('6. ported numbers import from CSV: all or nothing, listed in number order', async () => {
      const bad = await call('POST', '/v1/ported-numbers/import', { csv: 'number;operator\n79261234567;t2\nabc;mts\n79031234567;nobody\n' });
      assert.equal(bad.status, 422);
      assert.equal(bad.body.error.code, 'invalid_csv');
      assert.deepEqual(
        bad.body.error.details.map((d: { field: string }) => d.field),
        ['line 3', 'line 4'],
      );
      assert.equal((await call('GET', '/v1/mno/lookup?number=79261234567')).body.operator, 'megafon', 'nothing of a refused file is imported');

      const ok = await call('POST', '/v1/ported-numbers/import', { csv: 'number;operator\n79261234567;t2\n79031234567;mts\n79161234567;beeline\n' });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.deepEqual(ok.body, { imported: 3, total: 3, replaced: false });
      assert.equal((await call('GET', '/v1/mno/lookup?number=79261234567')).body.operator, 't2');

      const page1 = await call('GET', '/v1/ported-numbers?limit=2');
      assert.deepEqual(
        page1.body.data.map((p: { number: string }) => p.number),
        ['+79031234567', '+79161234567'],
      );
      const page2 = await call('GET', `/v1/ported-numbers?limit=2&cursor=${page1.body.next_cursor}`);
      assert.deepEqual(
        page2.body.data.map((p: { number: string }) => p.number),
        ['+79261234567'],
      );
      assert.equal(page2.body.next_cursor, null);
      assert.equal((await call('GET', '/v1/ported-numbers', { key: accountKey })).status, 403);
      assert.equal((await call('GET', '/v1/ported-numbers?cursor=xyz')).status, 400);

      const replaced = await call('POST', '/v1/ported-numbers/import?replace=true', { csv: '79031234567;megafon\n' });
      assert.deepEqual(replaced.body, { imported: 1, total: 1, replaced: true });
      assert.equal((await call('GET', '/v1/mno/lookup?number=79261234567')).body.operator, 'megafon');
      assert.equal((await call('GET', '/v1/mno/registry')).body.ported_numbers, 1);
      assert.equal((await call('POST', '/v1/ported-numbers/import', { csv: '79031234567;mts\n', key: accountKey })).status, 403);
    });

    test('7. a message submitted over SMPP records its operator too', async () => {
      const credential = await call('POST', '/v1/smpp/credentials', { body: { system_id: 'mno', password: 'pass1234' } });
      assert.equal(credential.status, 201, JSON.stringify(credential.body));
      const session = await bindClient({ host: '127.0.0.1', port: t.gateway.smppPort!, systemId: 'mno', password: 'pass1234', mode: 'transmitter', windowSize: 1 });
      try {
        const resp = await session.request({ command: 'submit_sm', destAddrTon: 1, destAddrNpi: 1, destinationAddr: '79161234568', shortMessage: Buffer.from('x'), scheduleDeliveryTime: '000001000000000R' });
        assert.ok(resp.command === 'submit_sm_resp' && resp.status === 0, JSON.stringify(resp));
        const got = await call('GET', `/v1/messages/${resp.messageId}`);
        assert.equal(got.body.operator, 'mts');
        assert.equal(got.body.region, MOSCOW);
      } finally {
        await session.close();
      }
    });

    test('8. the endpoints are in the OpenAPI document, and the message schema has operator and region', async () => {
      const doc = (await t.gateway.app.inject({ method: 'GET', url: '/openapi.json' })).json();
      for (const path of ['/v1/mno/registry', '/v1/mno/lookup', '/v1/ported-numbers', '/v1/ported-numbers/{number}', '/v1/ported-numbers/import']) assert.ok(doc.paths[path], `${path} missing`);
      assert.ok(doc.paths['/v1/ported-numbers/{number}'].put.requestBody);
      const message = doc.paths['/v1/messages/{id}'].get.responses['200'].content['application/json'].schema;
      assert.ok(message.properties.operator && message.properties.region);
    });
  });
}
