import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import ExcelJS from 'exceljs';
import { apiCaller, dialects, startTestGateway, type TestGateway } from './helpers.ts';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

/** Projects, contacts (with file import and export, merge), templates with preview, mailings' lifecycle and the balance, through the HTTP API. */
for (const dialect of await dialects()) {
  describe(`projects, contacts and templates on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let other: { accountId: string; apiKey: string };
    let project: { id: string; number: number };
    let call: ReturnType<typeof apiCaller>;
    const upload = async (url: string, type: string, payload: string | Buffer) => {
      const res = await t.gateway.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': type }, payload });
      return { status: res.statusCode, body: res.json() };
    };

    before(async () => {
      t = await startTestGateway(dialect.name);
      call = apiCaller(t);
      other = await t.makeAccount('Other');
    });
    after(async () => t?.close());

    test('1. projects: created with a per-account number, codes unique, other accounts see none', async () => {
      const created = await call('POST', '/v1/projects', { name: 'OCM', code: '010' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.number, 1);
      project = created.body;
      assert.equal((await call('POST', '/v1/projects', { name: 'Again', code: '010' })).body.error.code, 'project_code_taken');
      assert.equal((await call('POST', '/v1/projects', { name: 'X', code: 'x', extra: 1 })).body.error.code, 'validation_failed');
      assert.equal((await call('POST', '/v1/projects', { name: 'Theirs', code: '010' }, other.apiKey)).body.number, 1, 'numbers and codes are per account');
      assert.equal((await call('GET', `/v1/projects/${project.id}`, undefined, other.apiKey)).status, 404);
      const renamed = await call('PATCH', `/v1/projects/${project.id}`, { name: 'ОСМ' });
      assert.equal(renamed.body.name, 'ОСМ');
      assert.equal(renamed.body.code, '010');
      assert.deepEqual((await call('GET', '/v1/projects')).body.data.map((p: { id: string }) => p.id), [project.id]);
    });

    test('2. contacts: normalised, guid unique per project, problems named, tenant-scoped', async () => {
      const created = await call('POST', '/v1/contacts', {
        project_id: project.id,
        guid: 'crm-1',
        first_name: 'Андрей',
        gender: 'м',
        phones: ['8 (928) 170-67-00', '+79281706700'],
        emails: ['Andrey@Example.com'],
        time_zone: 'Europe/Moscow',
        attributes: { city: 'Ростов' },
        consent: { sms: true, email: false },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.gender, 'male');
      assert.deepEqual(created.body.phones, ['+79281706700']);
      assert.deepEqual(created.body.emails, ['andrey@example.com']);
      assert.equal((await call('POST', '/v1/contacts', { project_id: project.id, guid: 'crm-1' })).body.error.code, 'contact_guid_taken');
      const bad = await call('POST', '/v1/contacts', { project_id: project.id, phones: ['12'], gender: 'robot', time_zone: 'Mars/Base', emails: ['nope'] });
      assert.equal(bad.body.error.code, 'invalid_contact');
      assert.deepEqual(bad.body.error.details.map((d: { field: string }) => d.field).sort(), ['emails.0', 'gender', 'phones.0', 'time_zone']);
      assert.equal((await call('POST', '/v1/contacts', { project_id: 'prj_nope', guid: 'x' })).body.error.code, 'unknown_project');
      assert.equal((await call('GET', `/v1/contacts/${created.body.id}`, undefined, other.apiKey)).status, 404);
      const found = await call('GET', `/v1/contacts?phone=${encodeURIComponent('8 928 170 67 00')}`);
      assert.deepEqual(found.body.data.map((c: { id: string }) => c.id), [created.body.id]);
      const blocked = await call('PATCH', `/v1/contacts/${created.body.id}`, { blocked: true });
      assert.equal(blocked.body.blocked, true);
      assert.equal(blocked.body.first_name, 'Андрей', 'fields not given are kept');
    });

    test('3. a CSV import with a bad row imports nothing and names the row; a good one creates and updates', async () => {
      const before = (await call('GET', `/v1/contacts?project_id=${project.id}&limit=1000`)).body.data.length;
      const bad = await upload(`/v1/contacts/import?project_id=${project.id}`, 'text/csv', 'guid;first_name;phone;gender\nn-1;Ольга;+79161234567;f\nn-2;Пётр;12345;m\nn-1;Дубль;+79161234568;m\n');
      assert.equal(bad.status, 422, JSON.stringify(bad.body));
      assert.equal(bad.body.error.code, 'invalid_import');
      assert.deepEqual(bad.body.error.details.map((d: { field: string }) => d.field), ['row 3', 'row 4']);
      assert.match(bad.body.error.details[1].issue, /repeats row 2/);
      assert.equal((await call('GET', `/v1/contacts?project_id=${project.id}&limit=1000`)).body.data.length, before, 'nothing half-imported');

      const good = await upload(`/v1/contacts/import?project_id=${project.id}`, 'text/csv', 'guid,first_name,phone,gender,consent.sms,tier\nn-1,Ольга,+79161234567,f,1,gold\ncrm-1,Андрей Иванович,+79281706700,m,,silver\n');
      assert.equal(good.status, 200, JSON.stringify(good.body));
      assert.deepEqual(good.body, { object: 'contact_import', rows: 2, skipped_rows: 0, created: 1, updated: 1 });
      const olga = (await call('GET', `/v1/contacts?guid=n-1`)).body.data[0];
      assert.equal(olga.gender, 'female');
      assert.deepEqual(olga.consent, { sms: true });
      assert.deepEqual(olga.attributes, { tier: 'gold' });
      const andrey = (await call('GET', `/v1/contacts?guid=crm-1`)).body.data[0];
      assert.equal(andrey.first_name, 'Андрей Иванович');
      assert.deepEqual(andrey.emails, ['andrey@example.com'], 'columns the file lacks are kept');
    });

    test('4. an XLSX import, and the export reads back through the import', async () => {
      const workbook = new ExcelJS.Workbook();
      const sheet = workbook.addWorksheet('contacts');
      sheet.addRow(['guid', 'first_name', 'last_name', 'phones', 'emails']);
      sheet.addRow(['x-1', 'Мария', 'Петрова', '+79161110001', 'maria@example.com']);
      sheet.addRow(['x-2', 'Иван', 'Сидоров', 79161110002, '']);
      const file = Buffer.from(await workbook.xlsx.writeBuffer());
      const imported = await upload(`/v1/contacts/import?project_id=${project.id}`, XLSX, file);
      assert.equal(imported.status, 200, JSON.stringify(imported.body));
      assert.equal(imported.body.created, 2);
      assert.deepEqual((await call('GET', '/v1/contacts?guid=x-2')).body.data[0].phones, ['+79161110002']);

      const csv = await t.gateway.app.inject({ method: 'GET', url: `/v1/contacts/export?project_id=${project.id}`, headers: { authorization: `Bearer ${t.apiKey}` } });
      assert.equal(csv.statusCode, 200);
      assert.match(csv.headers['content-type'] as string, /text\/csv/);
      const lines = csv.body.trim().split('\n');
      assert.equal(lines.length, 1 + 4);
      const second = (await call('POST', '/v1/projects', { name: 'Copy', code: 'copy' })).body;
      const back = await upload(`/v1/contacts/import?project_id=${second.id}`, 'text/csv', csv.body);
      assert.equal(back.status, 200, JSON.stringify(back.body));
      assert.equal(back.body.created, 4);
      const original = (await call('GET', `/v1/contacts?guid=n-1&project_id=${project.id}`)).body.data[0];
      const copy = (await call('GET', `/v1/contacts?guid=n-1&project_id=${second.id}`)).body.data[0];
      for (const field of ['first_name', 'gender', 'phones', 'emails', 'consent', 'attributes', 'blocked']) assert.deepEqual(copy[field], original[field], field);

      const xlsx = await t.gateway.app.inject({ method: 'GET', url: `/v1/contacts/export?project_id=${project.id}&format=xlsx`, headers: { authorization: `Bearer ${t.apiKey}` } });
      assert.equal(xlsx.statusCode, 200);
      const read = new ExcelJS.Workbook();
      await read.xlsx.load(xlsx.rawPayload as unknown as ArrayBuffer);
      assert.equal(read.worksheets[0]!.rowCount, 5);
    });

    test('5. merging duplicates joins their phones and keeps a refusal', async () => {
      const a = (await call('POST', '/v1/contacts', { project_id: project.id, first_name: 'Dup', phones: ['+79160000101'], consent: { sms: true } })).body;
      const b = (await call('POST', '/v1/contacts', { project_id: project.id, last_name: 'Dupov', phones: ['+79160000102'], consent: { sms: false }, attributes: { k: 'v' } })).body;
      const merged = await call('POST', `/v1/contacts/${a.id}/merge`, { contact_ids: [b.id] });
      assert.equal(merged.status, 200, JSON.stringify(merged.body));
      assert.deepEqual(merged.body.phones, ['+79160000101', '+79160000102']);
      assert.equal(merged.body.last_name, 'Dupov');
      assert.deepEqual(merged.body.consent, { sms: false });
      assert.deepEqual(merged.body.attributes, { k: 'v' });
      assert.equal((await call('GET', `/v1/contacts/${b.id}`)).status, 404);
      assert.equal((await call('POST', `/v1/contacts/${a.id}/merge`, { contact_ids: ['cnt_nope'] })).status, 404);
    });

    test('5b. merging joins e-mails and messenger ids (the kept contact\'s id wins a clash), keeps a block from any of them; contacts of another project are refused whole', async () => {
      const a = (await call('POST', '/v1/contacts', { project_id: project.id, first_name: 'Mail', emails: ['a@example.com'], messenger_ids: { telegram: '1001', viber: 'va' } })).body;
      const b = (await call('POST', '/v1/contacts', { project_id: project.id, emails: ['b@example.com', 'a@example.com'], messenger_ids: { telegram: '2002', whatsapp: '+79160000103' }, blocked: true })).body;
      const c = (await call('POST', '/v1/contacts', { project_id: project.id, emails: ['c@example.com'] })).body;
      const merged = await call('POST', `/v1/contacts/${a.id}/merge`, { contact_ids: [b.id, c.id] });
      assert.equal(merged.status, 200, JSON.stringify(merged.body));
      assert.deepEqual(merged.body.emails, ['a@example.com', 'b@example.com', 'c@example.com']);
      assert.deepEqual(merged.body.messenger_ids, { telegram: '1001', viber: 'va', whatsapp: '+79160000103' });
      assert.equal(merged.body.blocked, true, 'b was blocked: the merged contact is');
      const stored = (await call('GET', `/v1/contacts/${a.id}`)).body;
      assert.deepEqual([stored.emails, stored.messenger_ids, stored.blocked], [merged.body.emails, merged.body.messenger_ids, true], 'as stored');
      for (const gone of [b.id, c.id]) assert.equal((await call('GET', `/v1/contacts/${gone}`)).status, 404);

      const second = (await call('POST', '/v1/projects', { name: 'Second', code: 'second' })).body;
      const here = (await call('POST', '/v1/contacts', { project_id: project.id, emails: ['here@example.com'] })).body;
      const there = (await call('POST', '/v1/contacts', { project_id: second.id, emails: ['there@example.com'], blocked: true })).body;
      const refused = await call('POST', `/v1/contacts/${here.id}/merge`, { contact_ids: [there.id] });
      assert.deepEqual([refused.status, refused.body.error.code], [404, 'not_found'], JSON.stringify(refused.body));
      assert.match(refused.body.error.message, /same project/);
      assert.deepEqual([(await call('GET', `/v1/contacts/${here.id}`)).body.emails, (await call('GET', `/v1/contacts/${here.id}`)).body.blocked], [['here@example.com'], false], 'unchanged');
      assert.equal((await call('GET', `/v1/contacts/${there.id}`)).status, 200, 'the other project\'s contact is kept');
      assert.equal((await call('POST', `/v1/contacts/${there.id}/merge`, { contact_ids: [here.id] })).status, 404, 'either way round');
    });

    test('6. templates: checked on creation, gender variant chosen in the preview, missing variables named', async () => {
      assert.equal((await call('POST', '/v1/templates', { project_id: project.id, channel: 'sms', name: 'bad', text: 'Hi {{first_name' })).body.error.code, 'invalid_template');
      const tpl = await call('POST', '/v1/templates', {
        project_id: project.id,
        channel: 'sms',
        name: 'ny',
        text: 'Здравствуйте, {{first_name}}!',
        text_male: 'Уважаемый {{first_name}}! Код {{promo}}',
        text_female: 'Уважаемая {{first_name}}! Код {{promo}}',
      });
      assert.equal(tpl.status, 201, JSON.stringify(tpl.body));
      assert.deepEqual(tpl.body.variables, ['first_name', 'promo']);
      const olga = (await call('GET', '/v1/contacts?guid=n-1')).body.data[0];
      const female = await call('POST', `/v1/templates/${tpl.body.id}/preview`, { contact_id: olga.id, params: { promo: 'NY' } });
      assert.equal(female.status, 200, JSON.stringify(female.body));
      assert.deepEqual(female.body, { object: 'template_preview', variant: 'female', text: 'Уважаемая Ольга! Код NY', encoding: 'ucs2', parts_count: 1 });
      const neutral = await call('POST', `/v1/templates/${tpl.body.id}/preview`, { contact: { first_name: 'Саша' } });
      assert.equal(neutral.body.variant, 'neutral');
      assert.equal(neutral.body.text, 'Здравствуйте, Саша!');
      const missing = await call('POST', `/v1/templates/${tpl.body.id}/preview`, { contact: { first_name: 'Ivan', gender: 'male' } });
      assert.equal(missing.body.error.code, 'template_render_failed');
      assert.match(missing.body.error.message, /promo/);
      assert.equal((await call('GET', `/v1/templates/${tpl.body.id}`, undefined, other.apiKey)).status, 404);
    });

    test('7. mailings move only along their lifecycle', async () => {
      const tpl = (await call('GET', `/v1/templates?project_id=${project.id}`)).body.data[0];
      const m = await call('POST', '/v1/mailings', { project_id: project.id, template_id: tpl.id, name: 'NY', channels: ['sms'] });
      assert.equal(m.status, 201, JSON.stringify(m.body));
      assert.equal(m.body.status, 'draft');
      assert.equal((await call('POST', `/v1/mailings/${m.body.id}/schedule`)).body.error.code, 'mailing_wrong_status', 'no start_at');
      assert.equal((await call('POST', `/v1/mailings/${m.body.id}/pause`)).body.error.code, 'mailing_wrong_status');
      assert.equal((await call('POST', `/v1/mailings/${m.body.id}/cancel`)).body.status, 'cancelled');
      assert.equal((await call('POST', `/v1/mailings/${m.body.id}/resume`)).status, 409);
      const timed = await call('POST', '/v1/mailings', { project_id: project.id, template_id: tpl.id, name: 'NY2', channels: ['sms', 'email'], start_at: '2027-01-01T09:00:00.000Z' });
      assert.equal((await call('POST', `/v1/mailings/${timed.body.id}/schedule`)).body.status, 'scheduled');
      assert.equal((await call('POST', '/v1/mailings', { project_id: project.id, template_id: 'tpl_nope', name: 'x', channels: ['sms'] })).body.error.code, 'unknown_template');
    });

    test('8. balance: top-ups by an administrator are ledger entries; prices by specificity', async () => {
      assert.deepEqual((await call('GET', '/v1/balance')).body, { object: 'balance', account_id: t.accountId, amount: '0.00', credit_limit: '0.00', available: '0.00', currency: 'RUB' });
      assert.equal((await call('POST', '/v1/balance/entries', { account_id: other.accountId, kind: 'top_up', amount: '10.00' }, other.apiKey)).status, 403);
      assert.equal((await call('POST', '/v1/balance/entries', { account_id: t.accountId, kind: 'top_up', amount: '100.00', note: 'invoice 1' })).status, 201);
      const adj = await call('POST', '/v1/balance/entries', { account_id: t.accountId, kind: 'adjustment', amount: '-2.10' });
      assert.equal(adj.body.balance_after, '97.90');
      assert.equal((await call('GET', '/v1/balance')).body.amount, '97.90');
      assert.deepEqual((await call('GET', '/v1/balance/entries')).body.data.map((e: { amount: string }) => e.amount), ['-2.10', '100.00']);
      assert.equal((await call('GET', '/v1/balance', undefined, other.apiKey)).body.amount, '0.00');
      assert.equal((await call('PUT', '/v1/prices', { channel: 'sms', operator: '*', traffic_type: '*', price: '2.08' })).status, 200);
      assert.equal((await call('PUT', '/v1/prices', { channel: 'sms', operator: 'mts', traffic_type: 'advertising', price: '3.10' })).body.price, '3.10');
      assert.equal((await call('PUT', '/v1/prices', { channel: 'sms', price: '2.10' }, other.apiKey)).status, 403);
      assert.deepEqual((await call('GET', '/v1/prices')).body.data.map((p: { operator: string; price: string }) => [p.operator, p.price]), [['*', '2.08'], ['mts', '3.10']]);
    });
    test('9. creating contacts, templates and mailings honours Idempotency-Key', async () => {
      const post = async (url: string, body: unknown, key: string) => {
        const res = await t.gateway.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json', 'idempotency-key': key }, payload: JSON.stringify(body) });
        return { status: res.statusCode, body: res.json(), replayed: res.headers['idempotency-replayed'] };
      };
      const body = { project_id: project.id, first_name: 'Once', phones: ['+79160000201'] };
      const first = await post('/v1/contacts', body, 'contact-once');
      const again = await post('/v1/contacts', body, 'contact-once');
      assert.deepEqual([first.status, again.status, again.replayed, again.body.id], [201, 201, 'true', first.body.id]);
      assert.equal((await post('/v1/contacts', { ...body, first_name: 'Twice' }, 'contact-once')).body.error.code, 'idempotency_key_reused');
      assert.equal((await call('GET', `/v1/contacts?phone=${encodeURIComponent('+79160000201')}`)).body.data.length, 1);
      const tpl = { project_id: project.id, channel: 'sms', name: 'once', text: 'x' };
      const t1 = await post('/v1/templates', tpl, 'tpl-once');
      assert.equal((await post('/v1/templates', tpl, 'tpl-once')).body.id, t1.body.id);
      const mailing = { project_id: project.id, template_id: t1.body.id, name: 'once', channels: ['sms'] };
      const m1 = await post('/v1/mailings', mailing, 'mlg-once');
      assert.equal((await post('/v1/mailings', mailing, 'mlg-once')).body.id, m1.body.id);
      assert.equal((await post('/v1/contacts', { project_id: project.id, guid: 'crm-1' }, 'taken-guid')).body.error.code, 'contact_guid_taken', 'a refused create inside the transaction is still its own error');
      assert.equal((await post('/v1/contacts', { project_id: project.id, guid: 'crm-new' }, 'taken-guid')).status, 201, 'and it left the key free');
    });
    test('10. contact lists: members of the project only, paged, audiences of mailings, kept through a merge', async () => {
      const list = await call('POST', '/v1/contact-lists', { project_id: project.id, name: 'VIP' });
      assert.equal(list.status, 201, JSON.stringify(list.body));
      const a = (await call('POST', '/v1/contacts', { project_id: project.id, first_name: 'ListA' })).body;
      const b = (await call('POST', '/v1/contacts', { project_id: project.id, first_name: 'ListB' })).body;
      const c = (await call('POST', '/v1/contacts', { project_id: project.id, first_name: 'ListC' })).body;
      const theirs = (await call('POST', '/v1/contacts', { project_id: (await call('GET', '/v1/projects', undefined, other.apiKey)).body.data[0].id, first_name: 'X' }, other.apiKey)).body;
      const added = await call('POST', `/v1/contact-lists/${list.body.id}/members`, { contact_ids: [a.id, b.id, theirs.id] });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      assert.deepEqual([added.body.list.size, added.body.not_added], [2, [theirs.id]]);
      assert.equal((await call('POST', `/v1/contact-lists/${list.body.id}/members`, { contact_ids: [a.id] })).body.list.size, 2, 'adding twice changes nothing');
      const page1 = await call('GET', `/v1/contact-lists/${list.body.id}/members?limit=1`);
      const page2 = await call('GET', `/v1/contact-lists/${list.body.id}/members?limit=1&cursor=${page1.body.next_cursor}`);
      assert.deepEqual([...page1.body.data, ...page2.body.data].map((x: { id: string }) => x.id), [a.id, b.id]);
      assert.equal(page2.body.next_cursor, null);
      // c merges b away: b's membership moves to c.
      assert.equal((await call('POST', `/v1/contacts/${c.id}/merge`, { contact_ids: [b.id] })).status, 200);
      assert.deepEqual((await call('GET', `/v1/contact-lists/${list.body.id}/members`)).body.data.map((x: { id: string }) => x.id), [a.id, c.id]);
      assert.equal((await call('DELETE', `/v1/contact-lists/${list.body.id}/members/${a.id}`)).status, 204);
      assert.equal((await call('GET', `/v1/contact-lists/${list.body.id}`)).body.size, 1);
      assert.equal((await call('GET', `/v1/contact-lists/${list.body.id}`, undefined, other.apiKey)).status, 404);
      const tpl = (await call('GET', `/v1/templates?project_id=${project.id}`)).body.data[0];
      const m = await call('POST', '/v1/mailings', { project_id: project.id, template_id: tpl.id, list_id: list.body.id, name: 'VIP', channels: ['sms'] });
      assert.equal(m.body.list_id, list.body.id);
      assert.equal((await call('POST', '/v1/mailings', { project_id: project.id, template_id: tpl.id, list_id: 'lst_nope', name: 'x', channels: ['sms'] })).body.error.code, 'unknown_list');
    });
  });
}
