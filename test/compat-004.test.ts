import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { dialects, startTestGateway, type TestGateway } from './helpers.ts';

/**
 * Seed 004 ("Сервис рассылки сообщений"): every example request with the
 * seed's example values, and every answer shape it shows (201, 400, 403,
 * 404, 405, 500). The 500s are the database failing a write under each
 * path (a trigger that raises, as a full disk or a read-only replica would).
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
      return { status: res.statusCode, body: res.body === '' ? null : res.json(), headers: res.headers };
    };
    const v1 = async (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) => (await call(method, url, body)).body;
    /** Makes the database refuse every `op` on `table` until the returned function is called. */
    const failing = async (table: string, op: 'INSERT' | 'UPDATE') => {
      const db = t.gateway.database.db;
      const name = `fail_${table}_${op.toLowerCase()}`;
      if (t.gateway.database.dialect === 'sqlite') {
        await sql.raw(`CREATE TRIGGER ${name} BEFORE ${op} ON ${table} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`).execute(db);
      } else {
        await sql.raw(`CREATE OR REPLACE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$`).execute(db);
        await sql.raw(`CREATE TRIGGER ${name} BEFORE ${op} ON ${table} FOR EACH ROW EXECUTE FUNCTION ${name}()`).execute(db);
      }
      return async () => {
        await sql.raw(`DROP TRIGGER ${name}${t.gateway.database.dialect === 'sqlite' ? '' : ` ON ${table}`}`).execute(db);
        if (t.gateway.database.dialect === 'postgres') await sql.raw(`DROP FUNCTION ${name}()`).execute(db);
      };
    };
    /** One call answered with the seed's 500 while the database refuses the write behind it; the same call succeeds once it works again. */
    const answers500 = async (table: string, op: 'INSERT' | 'UPDATE', method: 'POST' | 'PUT', url: string, body: unknown) => {
      const heal = await failing(table, op);
      try {
        const res = await call(method, url, body);
        assert.deepEqual([res.status, res.body], [500, E500], `${method} ${url} while ${op} on ${table} fails`);
        assert.match(String(res.headers['content-type']), /^application\/json/);
      } finally {
        await heal();
      }
      assert.deepEqual(await call(method, url, body).then((r) => [r.status, r.body]), [201, OK], `${method} ${url} once the database works`);
    };

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
      // PostgreSQL cannot store U+0000: a 400 of the seed's on both databases, not its 500.
      assert.deepEqual(await call('POST', '/project/create', { name: 'N\u0000', code: '011' }).then((r) => [r.status, r.body]), [400, E400], 'U+0000 in a field');
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

    test('3.1.6, 3.1.13, 3.1.16, 3.1.19: the database failing under each path answers the seed\'s 500, nothing of our internals', async () => {
      await answers500('projects', 'INSERT', 'POST', '/project/create', { name: 'Failing', code: 'fail' });
      const failing = (await v1('GET', '/v1/projects')).data.find((p: { code: string }) => p.code === 'fail');
      await answers500('projects', 'UPDATE', 'PUT', `/project/${failing.number}/update`, { 'primary key': failing.number, name: 'Renamed' });
      await answers500('contacts', 'INSERT', 'POST', '/client/create', { project: 'fail', guid: 'g-500', first_name: 'Иван', last_name: 'Иванов', middle_name: 'Иванович' });
      const template = await v1('POST', '/v1/templates', { project_id: failing.id, channel: 'sms', name: 'SMS', text: 'Привет' });
      await answers500('mailings', 'INSERT', 'POST', '/mailing/create', { name: 'M', project_id: failing.number, template_id: template.number, status: 0, channels: [1], event: '2027-01-01' });
    });

    test('3.1.17: the example exactly as written ("0236", "156", "1", "channels": "1"), on an account that has project 236 and template 156', async () => {
      const other = await t.makeAccount('Seed 004 numbers');
      const as = (method: 'GET' | 'POST', url: string, body?: unknown) => call(method, url, body, other.apiKey);
      const example = { name: 'SMSMailing', project_id: '0236', template_id: '156', status: '1', channels: '1', event: '2020-08-02' };
      assert.deepEqual(await as('POST', '/mailing/create', example).then((r) => [r.status, r.body]), [400, E400], 'no project 236 yet');
      for (let i = 1; i <= 236; i++) assert.equal((await as('POST', '/project/create', { name: `P${i}`, code: `p${i}` })).status, 201);
      const project = (await as('GET', '/v1/projects?limit=1000')).body.data.find((p: { number: number }) => p.number === 236);
      assert.equal(project.code, 'p236');
      for (let i = 1; i <= 156; i++) assert.equal((await as('POST', '/v1/templates', { project_id: project.id, channel: 'sms', name: `T${i}`, text: `Текст ${i}` })).status, 201);
      const created = await as('POST', '/mailing/create', example);
      assert.deepEqual([created.status, created.body], [201, OK]);
      const mailing = (await as('GET', '/v1/mailings')).body.data[0];
      const template = (await as('GET', `/v1/templates?project_id=${project.id}&limit=1000`)).body.data.find((x: { number: number }) => x.number === 156);
      assert.equal(template.name, 'T156');
      assert.deepEqual([mailing.name, mailing.project_id, mailing.template_id, mailing.channels, mailing.start_at], ['SMSMailing', project.id, template.id, ['sms'], '2020-08-01T21:00:00.000Z']);
      assert.notEqual(mailing.status, 'draft', 'status "1" schedules it');
      assert.deepEqual(await as('POST', '/mailing/create', { ...example, channels: '9' }).then((r) => [r.status, r.body]), [400, E400], 'an unknown channel number as a string');
    });

    test('3.1.4, 3.1.10: every path answers the seed\'s 403 to a call without a key, with a wrong, malformed or revoked key, or with the module off; nothing is written', async () => {
      const project = await v1('POST', '/v1/projects', { name: 'Доступ', code: 'access' });
      const template = await v1('POST', '/v1/templates', { project_id: project.id, channel: 'sms', name: 'SMS 403', text: 'Привет' });
      const client = { project: 'access', guid: 'forbidden-1', first_name: 'Иван', last_name: 'Иванов', middle_name: 'Иванович' };
      const mailing = { name: 'Forbidden', project_id: project.number, template_id: template.number, status: 0, channels: [1], event: '2027-01-01' };
      const calls = [
        ['POST', '/project/create', { name: 'Forbidden', code: 'forbidden' }],
        ['PUT', `/project/${project.number}/update`, { 'primary key': project.number, name: 'Forbidden' }],
        ['POST', '/client/create', client],
        ['POST', '/mailing/create', mailing],
        // An invalid or malformed body from a refused caller is refused, not validated: the caller learns nothing of the schema.
        ['POST', '/client/create', { guid: 'x' }],
        ['POST', '/mailing/create', '{"name":'],
      ] as const;
      const state = async () => ({
        projects: (await v1('GET', '/v1/projects?limit=1000')).data.map((p: { code: string; name: string }) => `${p.code}:${p.name}`),
        clients: (await v1('GET', `/v1/contacts?guid=${client.guid}`)).data.length,
        mailings: (await v1('GET', '/v1/mailings?limit=1000')).data.map((m: { id: string }) => m.id),
      });
      const before = await state();
      const revoked = await v1('POST', '/v1/api-keys', { name: 'revoked soon' });
      assert.equal(revoked.object, 'api_key', JSON.stringify(revoked));
      assert.equal((await call('POST', '/client/create', { ...client, guid: 'revoked-before' }, revoked.key)).status, 201, 'the key works before it is revoked');
      assert.equal((await call('DELETE', `/v1/api-keys/${revoked.id}`)).status, 204);
      const refused = async (why: string, key: string | null, headers: Record<string, string> = {}) => {
        for (const [method, url, body] of calls) {
          const res = await t.gateway.app.inject({
            method,
            url,
            headers: { 'content-type': 'application/json', ...(key === null ? {} : { authorization: key }), ...headers },
            payload: typeof body === 'string' ? body : JSON.stringify(body),
          });
          assert.deepEqual([res.statusCode, res.json()], [403, E403], `${method} ${url} ${JSON.stringify(body)}: ${why}`);
          assert.match(String(res.headers['content-type']), /^application\/json/, `${method} ${url}: ${why}`);
        }
      };
      await refused('no key', null);
      await refused('a wrong key', 'Bearer dpk_wrong');
      await refused('a malformed Authorization header', `Basic ${Buffer.from('user:pass').toString('base64')}`);
      await refused('a revoked key', `Bearer ${revoked.key}`);
      assert.equal((await call('PATCH', '/v1/modules/compat_crm', { enabled: false })).status, 200);
      try {
        await refused('the module off, with a valid key', `Bearer ${t.apiKey}`);
      } finally {
        assert.equal((await call('PATCH', '/v1/modules/compat_crm', { enabled: true })).status, 200);
      }
      assert.deepEqual(await state(), before, 'nothing was created or changed');
      assert.deepEqual(await call('POST', '/client/create', client).then((r) => [r.status, r.body]), [201, OK], 'the same call with the key succeeds');
    });

    test('2.1.1 and G3: without a key only from an address an administrator opened, on every path of the seed', async () => {
      const body = { name: 'Keyless', code: 'keyless' };
      assert.deepEqual(await call('POST', '/project/create', body, null).then((r) => [r.status, r.body]), [403, E403]);
      const opened = await v1('POST', '/v1/compat/ip-ranges', { account_id: t.accountId, range: '127.0.0.1' });
      assert.equal(opened.object, 'compat_ip_range', JSON.stringify(opened));
      assert.deepEqual(await call('POST', '/project/create', body, null).then((r) => [r.status, r.body]), [201, OK]);
      const project = (await v1('GET', '/v1/projects')).data.find((p: { code: string }) => p.code === 'keyless');
      assert.ok(project, 'the project is the opened account\'s');
      assert.deepEqual(await call('PUT', `/project/${project.number}/update`, { 'primary key': project.number, name: 'Без ключа' }, null).then((r) => [r.status, r.body]), [201, OK]);
      assert.deepEqual(await call('POST', '/client/create', { project: 'keyless', guid: 'keyless-1', first_name: 'Иван', last_name: 'Иванов', middle_name: 'Иванович' }, null).then((r) => [r.status, r.body]), [201, OK]);
      const template = await v1('POST', '/v1/templates', { project_id: project.id, channel: 'sms', name: 'SMS', text: 'Привет' });
      assert.deepEqual(await call('POST', '/mailing/create', { name: 'Keyless', project_id: project.number, template_id: template.number, status: 0, channels: [1], event: '2027-01-01' }, null).then((r) => [r.status, r.body]), [201, OK]);
      assert.deepEqual(await call('POST', '/project/create', { name: 'Bad key', code: 'bad' }, 'dpk_wrong').then((r) => [r.status, r.body]), [403, E403], 'a bad key is not rescued by the address');
      await v1('DELETE', `/v1/compat/ip-ranges/${opened.id}`);
      assert.deepEqual(await call('POST', '/project/create', { name: 'Closed', code: 'closed' }, null).then((r) => [r.status, r.body]), [403, E403], 'closed again');
    });
  });
}
