import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dialects, startTestGateway, type TestGateway } from './helpers.ts';

/**
 * Seed 004 ("Сервис рассылки сообщений"): every example request with the
 * seed's example values, and every answer shape it shows (201, 400, 403,
 * 404, 405, 500).
 */
const OK = { status: 201, message: 'Ok' };
const error = (code: number, message: string) => ({ code, error: { message, status: code } });
const E400 = error(400, 'Ошибка валидации');
const E403 = error(403, 'Доступ запрещен');
const E404 = error(404, 'Страница не найдена');
const E405 = error(405, 'Метод не поддерживается');
const E500 = error(500, 'Внутренняя ошибка сервера');

for (const dialect of await dialects()) {
  describe(`compat API of seed 004 on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    const call = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH', url: string, body?: unknown, key: string | null = t.apiKey, raw?: string) => {
      const res = await t.gateway.app.inject({
        method,
        url,
        headers: { ...(key === null ? {} : { authorization: `Bearer ${key}` }), ...(body === undefined && raw === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(raw !== undefined ? { payload: raw } : body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: res.json(), headers: res.headers };
    };
    const v1 = async (method: 'GET' | 'POST', url: string, body?: unknown) => (await call(method, url, body)).body;

    before(async () => {
      t = await startTestGateway(dialect.name);
    });
    after(async () => t?.close());

    test('3.1.1–3.1.6: POST /project/create with the example, and its error answers', async () => {
      const created = await call('POST', '/project/create', { name: 'OCM', code: '010' });
      assert.deepEqual([created.status, created.body], [201, OK]);
      assert.equal(created.headers.location, '/project/1/update');
      const project = (await v1('GET', '/v1/projects')).data;
      assert.deepEqual(project.map((p: { name: string; code: string; number: number }) => [p.name, p.code, p.number]), [['OCM', '010', 1]]);
      assert.deepEqual(await call('POST', '/project/create', { name: 'OCM' }).then((r) => [r.status, r.body]), [400, E400]);
      assert.deepEqual(await call('POST', '/project/create', { name: 'Dup', code: '010' }).then((r) => [r.status, r.body]), [400, E400], 'a taken code');
      assert.deepEqual(await call('POST', '/project/create', undefined, t.apiKey, '{"name":').then((r) => [r.status, r.body]), [400, E400], 'malformed JSON');
      assert.deepEqual(await call('POST', '/project/create', { name: 'X', code: 'x' }, null).then((r) => [r.status, r.body]), [403, E403]);
      assert.deepEqual(await call('POST', '/project/create', { name: 'X', code: 'x' }, 'dpk_wrong').then((r) => [r.status, r.body]), [403, E403]);
      assert.deepEqual(await call('GET', '/project/create').then((r) => [r.status, r.body]), [405, E405]);
      assert.deepEqual(await call('DELETE', '/project/create').then((r) => [r.status, r.body]), [405, E405]);
    });

    test('3.1.7–3.1.13: PUT /project/{id}/update with the example, and its error answers', async () => {
      const renamed = await call('PUT', '/project/1/update', { 'primary key': '1', name: 'ОСМ' });
      assert.deepEqual([renamed.status, renamed.body], [201, OK]);
      assert.equal((await v1('GET', '/v1/projects')).data[0].name, 'ОСМ');
      // The seed's own example values: primary key 74892489 names no project of ours.
      assert.deepEqual(await call('PUT', '/project/74892489/update', { 'primary key': '74892489', name: 'ОСМ' }).then((r) => [r.status, r.body]), [404, E404]);
      assert.deepEqual(await call('PUT', '/project/1/update', { 'primary key': 2, name: 'ОСМ' }).then((r) => [r.status, r.body]), [400, E400], 'the key differs from the path');
      assert.deepEqual(await call('PUT', '/project/1/update', { name: 'ОСМ' }).then((r) => [r.status, r.body]), [400, E400]);
      assert.deepEqual(await call('PUT', '/project/1/update', { 'primary key': 1, name: 'ОСМ' }, null).then((r) => [r.status, r.body]), [403, E403]);
      assert.deepEqual(await call('POST', '/project/1/update', { 'primary key': 1, name: 'ОСМ' }).then((r) => [r.status, r.body]), [405, E405]);
      assert.deepEqual(await call('GET', '/project/1/nothing').then((r) => [r.status, r.body]), [404, E404]);
      const other = await t.makeAccount('Other');
      assert.deepEqual(await call('PUT', '/project/1/update', { 'primary key': 1, name: 'Mine' }, other.apiKey).then((r) => [r.status, r.body]), [404, E404], 'another account\'s project');
    });

    test('3.1.14–3.1.16: POST /client/create with the example; the same guid again updates the client', async () => {
      assert.equal((await call('POST', '/project/create', { name: 'ОСМ-проект', code: 'ОСМ' })).status, 201);
      const example = { project: 'ОСМ', guid: 'lisjrfengghb^&Tgfb4*Tasdf', first_name: 'Иван', last_name: 'Иванов', middle_name: 'Иванович' };
      assert.deepEqual(await call('POST', '/client/create', example).then((r) => [r.status, r.body]), [201, OK]);
      const found = (await v1('GET', `/v1/contacts?guid=${encodeURIComponent(example.guid)}`)).data;
      assert.equal(found.length, 1);
      assert.deepEqual([found[0].first_name, found[0].last_name, found[0].middle_name], ['Иван', 'Иванов', 'Иванович']);
      assert.deepEqual(await call('POST', '/client/create', { ...example, first_name: 'Иван', phone: '8 916 123-45-67' }).then((r) => [r.status, r.body]), [201, OK]);
      const again = (await v1('GET', `/v1/contacts?guid=${encodeURIComponent(example.guid)}`)).data;
      assert.equal(again.length, 1);
      assert.deepEqual(again[0].phones, ['+79161234567']);
      assert.deepEqual(await call('POST', '/client/create', { ...example, project: 'нет такого' }).then((r) => [r.status, r.body]), [400, E400]);
      assert.deepEqual(await call('POST', '/client/create', { ...example, middle_name: undefined }).then((r) => [r.status, r.body]), [400, E400]);
      assert.deepEqual(await call('POST', '/client/create', { ...example, phone: '12' }).then((r) => [r.status, r.body]), [400, E400]);
      assert.deepEqual(await call('GET', '/client/create').then((r) => [r.status, r.body]), [405, E405]);
    });

    test('3.1.17–3.1.19: POST /mailing/create with the example values; its record is a mailing the runner runs', async () => {
      const project = (await v1('GET', '/v1/projects')).data.find((p: { code: string }) => p.code === '010');
      const template = await v1('POST', '/v1/templates', { project_id: project.id, channel: 'sms', name: 'SMS', text: 'Здравствуйте, {{first_name}}!' });
      const contact = await v1('POST', '/v1/contacts', { project_id: project.id, guid: 'mailing-1', first_name: 'Ольга', phones: ['+79165550011'] });
      const body = { name: 'SMSMailing', project_id: String(project.number).padStart(4, '0'), template_id: String(template.number), status: '1', channels: ['1'], event: '2020-08-02' };
      assert.deepEqual(await call('POST', '/mailing/create', body).then((r) => [r.status, r.body]), [201, OK]);
      const mailing = (await v1('GET', '/v1/mailings')).data[0];
      assert.deepEqual([mailing.name, mailing.channels, mailing.project_id, mailing.template_id], ['SMSMailing', ['sms'], project.id, template.id]);
      assert.ok(['scheduled', 'running', 'finished'].includes(mailing.status), mailing.status);
      assert.equal(mailing.start_at, '2020-08-01T21:00:00.000Z', 'the date at midnight in the account\'s time zone');
      // The event date has passed: the runner sends it at once, to every contact of the project.
      const deadline = Date.now() + 20_000;
      let finished = mailing;
      while (finished.status !== 'finished' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        finished = await v1('GET', `/v1/mailings/${mailing.id}`);
      }
      assert.equal(finished.status, 'finished');
      const recipients = (await v1('GET', `/v1/mailings/${mailing.id}/recipients`)).data;
      const ours = recipients.find((r: { contact_id: string }) => r.contact_id === contact.id);
      assert.equal(ours.status, 'accepted');
      const message = await v1('GET', `/v1/messages/${ours.message_id}`);
      assert.deepEqual([message.to, message.text], ['+79165550011', 'Здравствуйте, Ольга!']);
      assert.deepEqual(await call('POST', '/mailing/create', { ...body, status: 0, channels: [1, 2], event: '2027-01-01 10:00' }).then((r) => [r.status, r.body]), [201, OK]);
      assert.equal((await v1('GET', '/v1/mailings')).data[0].status, 'draft');
      for (const bad of [{ ...body, project_id: '0236' }, { ...body, template_id: 156 }, { ...body, status: 7 }, { ...body, channels: [42] }, { ...body, event: 'tomorrow' }, { ...body, name: undefined }]) {
        assert.deepEqual(await call('POST', '/mailing/create', bad).then((r) => [r.status, r.body]), [400, E400], JSON.stringify(bad));
      }
      assert.deepEqual(await call('PUT', '/mailing/create', body).then((r) => [r.status, r.body]), [405, E405]);
    });

    test('500: an unexpected failure answers the seed\'s 500 and nothing of our internals (the last test: it breaks the gateway)', async () => {
      // A table gone from under the gateway is a failure no input can cause.
      const project = (await v1('GET', '/v1/projects')).data.find((p: { code: string }) => p.code === '010');
      const template = (await v1('GET', `/v1/templates?project_id=${project.id}`)).data[0];
      await t.gateway.database.db.schema.dropTable('mailings').execute();
      const res = await call('POST', '/mailing/create', { name: 'M', project_id: project.number, template_id: template.number, status: 0, channels: [1], event: '2027-01-01' });
      assert.deepEqual([res.status, res.body], [500, E500]);
    });
  });
}
