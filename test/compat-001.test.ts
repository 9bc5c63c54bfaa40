import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { FakeFreeSwitch } from './fakes/freeswitch.ts';
import { AccountsRepository, generateApiKey } from '../src/store/accounts.ts';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';
import { SEED_001_EXAMPLES } from './compat-seeds.ts';

/**
 * Seed 001 ("СМС шлюз", /api/v1): every example of the seed replayed as it is
 * written (GET and POST alike), then what the seed leaves to us: errors,
 * access, debug mode, timeLimit.
 */
const EXAMPLES = SEED_001_EXAMPLES;
const KEY = /^[0-9a-f]{32}$/;
const fs = new FakeFreeSwitch();
const fsPort = await fs.start();
after(() => fs.stop());

for (const dialect of await dialects()) {
  describe(`compat API of seed 001 on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    const api = async (method: 'GET' | 'POST', body: unknown, key: string | null = t.apiKey, raw?: string) => {
      const res = await t.gateway.app.inject({
        method,
        url: '/api/v1',
        headers: { 'content-type': 'application/json', ...(key === null ? {} : { authorization: `Bearer ${key}` }) },
        payload: raw ?? JSON.stringify(body),
      });
      return { status: res.statusCode, body: res.json() };
    };
    const v1 = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown) => {
      const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${t.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
      return { status: res.statusCode, body: res.body === '' ? null : res.json() };
    };
    const messageCount = async () => Number((await t.gateway.database.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

    before(async () => {
      t = await startTestGateway(dialect.name);
      // The balance and SMS price behind the seed's answer: 97.9 RUB, 47 SMS at 2.08.
      assert.equal((await v1('POST', '/v1/balance/entries', { account_id: t.accountId, kind: 'top_up', amount: '97.90' })).status, 201);
      assert.equal((await v1('PUT', '/v1/prices', { channel: 'sms', operator: '*', traffic_type: '*', price: '2.08' })).status, 200);
    });
    after(async () => t?.close());

    test('3.2.1–3.2.4: a balance request (GET with a JSON body) and its status by key, in the seed\'s shapes', async () => {
      const asked = await api('GET', EXAMPLES.balance);
      assert.equal(asked.status, 200, JSON.stringify(asked.body));
      const key = asked.body.message[0].balance.key;
      assert.match(key, KEY);
      assert.deepEqual(asked.body, { status: 'ok', message: [{ balance: { message: 'Запрос баланса успешно отправлен', key } }] });

      const status = await api('GET', { status: { key }, route: 'ds' });
      assert.equal(status.status, 200, JSON.stringify(status.body));
      const xml = '<?xml version="1.0" encoding="utf-8"?>\n<response>\n <sms area="Россия">47</sms><money currency="RUR">97.9</money>\n</response>';
      assert.deepEqual(status.body, { status: 'ok', message: [{ balance: { message: 'Статус запроса получен', status: xml } }] });
      // POST to the same path with the same body answers the same.
      const posted = await api('POST', EXAMPLES.balance);
      assert.equal(posted.body.message[0].balance.message, 'Запрос баланса успешно отправлен');
      assert.equal((await api('POST', { status: { key: posted.body.message[0].balance.key }, route: 'ds' })).body.message[0].balance.status, xml);
    });

    test('3.2.3 with the seed\'s own key: a key this account never got answers 404 in the balance envelope', async () => {
      const res = await api('GET', { status: { key: 'd4ef9989a9e651d870a90cfed132f8d4' }, route: 'ds' });
      assert.deepEqual([res.status, res.body], [404, { status: 'error', message: [{ balance: { message: 'Запрос с ключом d4ef9989a9e651d870a90cfed132f8d4 не найден' } }] }]);
    });

    test('a send the balance does not cover: 402 in the send envelope, nothing stored or charged (debug checks it too)', async () => {
      const before = await messageCount();
      const balanceBefore = (await v1('GET', '/v1/balance')).body;
      // 97.90 RUB pays for 47 SMS at 2.08; 48 cost 99.84.
      const users = Array.from({ length: 48 }, (_, i) => ({ phone: `+7916100${String(i).padStart(4, '0')}`, gender: 'male', first_name: 'Андрей' }));
      const body = { ...EXAMPLES.send, send: { ...EXAMPLES.send.send, users }, mode: undefined };
      const refused = await api('POST', body);
      assert.deepEqual([refused.status, refused.body], [402, [{ send: { status: 'error', message: 'Недостаточно средств: сообщения (48) стоят 99.84 руб., доступно 97.90 руб. (баланс и кредит). Сообщения не приняты; пополните баланс.' } }]]);
      assert.equal((await api('POST', { ...body, mode: 'debug' })).status, 402, 'debug answers what the send would');
      assert.equal(await messageCount(), before, 'nothing half-sent');
      assert.deepEqual((await v1('GET', '/v1/balance')).body, balanceBefore, 'nothing reserved');
      const fits = await api('POST', { ...body, send: { ...body.send, users: users.slice(0, 47) }, mode: 'debug' });
      assert.equal(fits.status, 200, '47 fit');
    });

    test('table 1: fields as an object (its keys name the fields, `fields => fio`), or a PHP list as an object', async () => {
      const asObject = await api('POST', { send: { text_male: 'Здравствуйте, {{fio}}!', fields: { fio: 'Имя адресата' }, users: [{ phone: '+79198828851', fio: 'Дмитрий Дмитриевич' }] }, route: 'ds', mode: 'debug' });
      assert.equal(asObject.status, 200, JSON.stringify(asObject.body));
      const status = await api('POST', { status: { key: asObject.body[0].send.key } });
      assert.deepEqual(status.body.message[0].send.status, [{ phone: '+79198828851', status: 'debug', text: 'Здравствуйте, Дмитрий Дмитриевич!' }]);
      const missing = await api('POST', { send: { text_male: 'Здравствуйте, {{fio}}!', fields: { fio: 'Имя адресата' }, users: [{ phone: '+79198828851', fio: 'Д' }, { phone: '+79198828852' }] }, route: 'ds', mode: 'debug' });
      assert.deepEqual([missing.status, missing.body[0].send.status], [400, 'error']);
      assert.match(missing.body[0].send.message, /send\.users\.1: нет полей fio, указанных в fields/);
      const list = await api('POST', { send: { text_male: 'Уважаемый {{first_name}}!', fields: { 0: 'first_name' }, users: [{ phone: '+79281706700' }] }, route: 'ds', mode: 'debug' });
      assert.match(list.body[0].send.message, /send\.users\.0: нет полей first_name/, '{"0":"first_name"} names first_name');
    });

    test('3.2.5–3.2.6: the send example (mode debug) is validated and recorded, not sent', async () => {
      const before = await messageCount();
      const sent = await api('POST', EXAMPLES.send);
      assert.equal(sent.status, 200, JSON.stringify(sent.body));
      const key = sent.body[0].send.key;
      assert.match(key, KEY);
      assert.deepEqual(sent.body, [{ send: { status: 'ok', message: 'Сообщения в очереди на отправку', key } }]);
      assert.equal(await messageCount(), before, 'debug mode stores no message');
      const status = await api('GET', { status: { key }, route: 'ds' });
      assert.deepEqual(status.body.message[0].send.status, Array(3).fill({ phone: '+79281706700', status: 'debug', text: 'Уважаемый Андрей! Поздравляем Вас с наступающим Новым годом!' }));
    });

    test('3.2.5 without debug, sent by GET: each user gets the text of their gender, through the same accept as /v1/messages', async () => {
      const body = structuredClone(EXAMPLES.send) as Record<string, unknown> & { send: { users: Record<string, string>[] } };
      delete body.mode;
      body.send.users = [
        { phone: '+79281706700', gender: 'male', first_name: 'Андрей' },
        { phone: '8 916 123-45-67', gender: 'female', first_name: 'Ольга' },
      ];
      const sent = await api('GET', body);
      assert.equal(sent.status, 200, JSON.stringify(sent.body));
      assert.equal(sent.body[0].send.message, 'Сообщения в очереди на отправку');
      const status = await api('POST', { status: { key: sent.body[0].send.key }, route: 'ds' });
      const list = status.body.message[0].send.status as { phone: string; id: string }[];
      assert.deepEqual(list.map((m) => m.phone), ['+79281706700', '+79161234567']);
      const olga = (await v1('GET', `/v1/messages/${list[1]!.id}`)).body;
      assert.equal(olga.text, 'Уважаемая Ольга! Поздравляем Вас с наступающим Новым годом!');
      assert.equal(olga.ttl_seconds, 7200);
      assert.equal(await waitForStatus(t.gateway, list[0]!.id, ['delivered']), 'delivered');
    });

    test('text_male, text_female and text_alternative all differ: a man gets the male text, a woman the female one, a user of unknown gender the alternative', async () => {
      const sent = await api('POST', {
        send: {
          text_male: 'Уважаемый {{first_name}}, ваш заказ готов.',
          text_female: 'Уважаемая {{first_name}}, ваш заказ готов.',
          text_alternative: 'Здравствуйте, {{first_name}}! Ваш заказ готов.',
          fields: ['first_name'],
          users: [
            { phone: '+79281706711', gender: 'male', first_name: 'Андрей' },
            { phone: '+79281706712', gender: 'female', first_name: 'Ольга' },
            { phone: '+79281706713', first_name: 'Саша' },
            { phone: '+79281706714', gender: '', first_name: 'Женя' },
          ],
        },
        route: 'ds',
      });
      assert.equal(sent.status, 200, JSON.stringify(sent.body));
      const status = await api('POST', { status: { key: sent.body[0].send.key }, route: 'ds' });
      const texts = await Promise.all((status.body.message[0].send.status as { phone: string; id: string }[]).map(async (m) => [m.phone, (await v1('GET', `/v1/messages/${m.id}`)).body.text]));
      assert.deepEqual(texts, [
        ['+79281706711', 'Уважаемый Андрей, ваш заказ готов.'],
        ['+79281706712', 'Уважаемая Ольга, ваш заказ готов.'],
        ['+79281706713', 'Здравствуйте, Саша! Ваш заказ готов.'],
        ['+79281706714', 'Здравствуйте, Женя! Ваш заказ готов.'],
      ]);
    });

    test('route names the provider: one of the connectors the account\'s route gives the number sends it; any other name leaves it to routing', async () => {
      for (const id of ['ds', 'osm']) assert.equal((await v1('POST', '/v1/connectors', { id, type: 'sandbox', receipt_delay_ms: 10 })).status, 201);
      const route = await v1('POST', '/v1/routes', { failover: ['osm', 'ds'], prefixes: ['7928'], accounts: [t.accountId] });
      assert.equal(route.status, 201, JSON.stringify(route.body));
      try {
        const sendBy = async (name: string, phone: string) => {
          const body = structuredClone(EXAMPLES.send) as Record<string, unknown> & { send: { users: Record<string, string>[] } };
          delete body.mode;
          body.route = name;
          body.send.users = [{ phone, gender: 'male', first_name: 'Андрей' }];
          const sent = await api('POST', body);
          assert.equal(sent.status, 200, JSON.stringify(sent.body));
          const status = await api('POST', { status: { key: sent.body[0].send.key }, route: name });
          const id = (status.body.message[0].send.status as { id: string }[])[0]!.id;
          const final = await waitForStatus(t.gateway, id, ['delivered', 'failed', 'rejected', 'undelivered', 'expired']).catch(async (e) => { throw new Error(`${e.message}: ${JSON.stringify((await v1('GET', `/v1/messages/${id}`)).body)}`); });
          assert.equal(final, 'delivered');
          return (await v1('GET', `/v1/messages/${id}`)).body.connector as string;
        };
        assert.equal(await sendBy('ds', '+79281706701'), 'ds', 'the route\'s second connector, named');
        assert.equal(await sendBy('нет такого', '+79281706702'), 'osm', 'an unknown name: the route\'s first');
        assert.equal(await sendBy('sandbox', '+79281706703'), 'osm', 'a connector that is not in the route this number takes: the route\'s first');
      } finally {
        await v1('DELETE', `/v1/routes/${route.body.id}`);
      }
    });

    test('3.2.7: the voice example is validated, and refused in the seed\'s shape while the account has no voice route', async () => {
      const before = await messageCount();
      const voice = await api('POST', EXAMPLES.voice);
      assert.equal(voice.status, 400);
      assert.equal(voice.body[0].send.status, 'error');
      assert.match(voice.body[0].send.message, /voice: 1.*нет голосового маршрута/);
      assert.equal(await messageCount(), before);
      const invalid = await api('POST', { ...EXAMPLES.voice, voice: 2 });
      assert.match(invalid.body[0].send.message, /Ошибка валидации: voice/, 'the field itself is validated');
    });

    test('docs/compat.md: its voice curl sends the seed\'s voice example, the body the next test sends through FreeSWITCH', () => {
      const doc = readFileSync(new URL('../docs/compat.md', import.meta.url), 'utf8');
      const bodies = [...doc.matchAll(/curl [^\n]*\/api\/v1 [\s\S]*?-d '([\s\S]*?)'\n/g)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
      const voice = bodies.filter((b) => b.voice === 1);
      assert.equal(voice.length, 1, 'one voice example');
      assert.deepEqual(voice[0], EXAMPLES.voice);
    });

    test('3.2.7 with a voice connector and route: each user gets a call through FreeSWITCH; a route of another account does not count', async () => {
      const made = await v1('POST', '/v1/connectors', { id: 'fs', type: 'voice', host: '127.0.0.1', port: fsPort, gateway: 'trunk1', reconnect_min_ms: 20, secrets: { password: 'ClueCon' } });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const other = await t.makeAccount('Other voice');
      const foreign = await v1('POST', '/v1/routes', { channel: 'voice', connector: 'fs', accounts: [other.accountId] });
      assert.equal(foreign.status, 201, JSON.stringify(foreign.body));
      assert.match((await api('POST', EXAMPLES.voice)).body[0].send.message, /нет голосового маршрута/, 'only the other account has a voice route');
      const mine = await v1('POST', '/v1/routes', { channel: 'voice', connector: 'fs', accounts: [t.accountId] });
      assert.equal(mine.status, 201, JSON.stringify(mine.body));
      const sent = await api('POST', EXAMPLES.voice);
      assert.equal(sent.status, 200, JSON.stringify(sent.body));
      assert.equal(sent.body[0].send.message, 'Сообщения в очереди на отправку');
      const status = await api('POST', { status: { key: sent.body[0].send.key }, route: 'осм' });
      const [user] = status.body.message[0].send.status as { phone: string; id: string }[];
      assert.equal(user!.phone, '+79198828851');
      assert.equal(await waitForStatus(t.gateway, user!.id, ['delivered', 'undelivered', 'failed']), 'delivered');
      const message = (await v1('GET', `/v1/messages/${user!.id}`)).body;
      assert.ok(message.send_at === null || Date.parse(message.send_at) <= Date.now(), `the example's timeLimit 2022-03-15 13:00 has passed: sent at once (${message.send_at})`);
      assert.deepEqual([message.channel, message.connector, message.text], ['voice', 'fs', 'Здравствуйете. Поздравляем с наступающим Новым Годом!']);
      const call = fs.calls.get(message.parts[0].provider_message_id)!;
      assert.equal(call.app, 'speak(flite|kal|Здравствуйете. Поздравляем с наступающим Новым Годом!)');
      assert.equal(call.number, '79198828851');
      for (const id of [mine.body.id, foreign.body.id]) assert.equal((await v1('DELETE', `/v1/routes/${id}`)).status, 204);
    });

    test('the send rules the seed states: gender when text_female is given, fields present, valid phones; nothing half-sent', async () => {
      const before = await messageCount();
      const noGender = await api('POST', { send: { text_male: 'M', text_female: 'F', users: [{ phone: '+79161234567' }] }, route: 'ds' });
      assert.equal(noGender.status, 400);
      assert.match(noGender.body[0].send.message, /send\.users\.0\.gender/);
      const missing = await api('POST', { send: { text_male: 'Hi {{fio}}', fields: ['fio'], users: [{ phone: '+79161234567', fio: 'A' }, { phone: '+79161234568' }] }, route: 'ds' });
      assert.match(missing.body[0].send.message, /send\.users\.1: нет полей fio/);
      const badPhone = await api('POST', { send: { text_male: 'Hi', users: [{ phone: '+79161234567' }, { phone: '12' }] }, route: 'ds' });
      assert.match(badPhone.body[0].send.message, /send\.users\.1\.phone/);
      assert.equal((await api('POST', { send: { text_male: 'Hi', users: [{ phone: '+79161234567' }] } })).body[0].send.message.includes('route'), true, 'route is required for a send');
      assert.match((await api('POST', { ...EXAMPLES.send, mode: 'real' })).body[0].send.message, /mode/);
      assert.equal(await messageCount(), before);
    });

    test('timeLimit holds the messages until that local time of the account', async () => {
      const sent = await api('POST', { send: { text_male: 'Позже', users: [{ phone: '+79161234567' }] }, route: 'ds', timeLimit: '2099-01-01 13:00' });
      assert.match((await api('POST', { send: { text_male: 'x', users: [{ phone: '+79161234567' }] }, route: 'ds', timeLimit: '2099-01-01 13:00' })).body[0].send.message, /timeLimit/, 'beyond 180 days is refused');
      assert.equal(sent.status, 400);
      const soon = new Date(Date.now() + 86_400_000);
      const local = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Moscow', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).format(soon);
      const held = await api('POST', { send: { text_male: 'Позже', users: [{ phone: '+79161234567' }] }, route: 'ds', timeLimit: local });
      assert.equal(held.status, 200, JSON.stringify(held.body));
      const id = (await api('POST', { status: { key: held.body[0].send.key } })).body.message[0].send.status[0].id;
      const message = (await v1('GET', `/v1/messages/${id}`)).body;
      assert.equal(message.status, 'accepted');
      assert.equal(Math.abs(Date.parse(message.send_at) - soon.getTime()) < 60_000, true, `${message.send_at} vs ${soon.toISOString()}`);
    });

    test('errors in the seed\'s envelope: no or a bad key 403, malformed JSON 400, unknown key 404', async () => {
      const noKey = await api('GET', EXAMPLES.balance, null);
      assert.equal(noKey.status, 403);
      assert.equal(noKey.body.status, 'error');
      assert.equal((await api('POST', EXAMPLES.send, 'dpk_wrong')).status, 403);
      const malformed = await api('POST', undefined, t.apiKey, '{"send":');
      assert.deepEqual([malformed.status, malformed.body.status], [400, 'error']);
      assert.equal((await api('POST', { balance: ['rub'], status: { key: 'a'.repeat(32) } })).status, 400, 'one kind of request at a time');
      // PostgreSQL cannot store U+0000: refused in the send envelope on both databases, not a 500 there.
      const nul = await api('POST', { send: { text: 'a\u0000b', users: [{ phone: '79161234567' }] } });
      assert.equal(nul.status, 400, JSON.stringify(nul.body));
      assert.match(nul.body[0].send.message, /send\.text содержит символ NUL/);
      const unknown = await api('GET', { status: { key: 'f'.repeat(32) }, route: 'ds' });
      assert.equal(unknown.status, 404);
      assert.match(unknown.body.message[0].balance.message, /не найден/);
      const other = await t.makeAccount('Other');
      const mine = (await api('POST', EXAMPLES.balance)).body.message[0].balance.key;
      assert.equal((await api('POST', { status: { key: mine } }, other.apiKey)).status, 404, 'keys are per account');
    });

    test('G3: an address an administrator opened acts for its account without a key', async () => {
      const opened = await v1('POST', '/v1/compat/ip-ranges', { account_id: t.accountId, range: '127.0.0.0/8' });
      assert.equal(opened.status, 201, JSON.stringify(opened.body));
      assert.equal((await v1('POST', '/v1/compat/ip-ranges', { account_id: t.accountId, range: '127.0.0.0/8' })).body.error.code, 'ip_range_taken');
      const keyless = await api('GET', EXAMPLES.balance, null);
      assert.equal(keyless.status, 200, JSON.stringify(keyless.body));
      assert.equal((await api('GET', EXAMPLES.balance, 'dpk_wrong')).status, 403, 'a bad key is not rescued by the address');
      assert.equal((await v1('DELETE', `/v1/compat/ip-ranges/${opened.body.id}`)).status, 204);
      assert.equal((await api('GET', EXAMPLES.balance, null)).status, 403);
      assert.equal((await v1('POST', '/v1/compat/ip-ranges', { account_id: t.accountId, range: 'nope' })).body.error.code, 'invalid_ip_range');
    });

    test('G3: only an administrator opens or closes an address; an account key is refused with 403 forbidden and changes nothing', async () => {
      const accountKey = generateApiKey();
      await new AccountsRepository(t.gateway.database.db).createApiKey(t.accountId, 'not admin', accountKey, { role: 'account' });
      const asAccount = async (method: 'POST' | 'DELETE', url: string, body?: unknown) => {
        const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${accountKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
        return { status: res.statusCode, body: res.json() };
      };
      const ranges = async () => ((await v1('GET', '/v1/compat/ip-ranges')).body.data as { id: string; range: string }[]).map((r) => r.range);
      const refused = await asAccount('POST', '/v1/compat/ip-ranges', { account_id: t.accountId, range: '10.1.2.0/24' });
      assert.deepEqual([refused.status, refused.body.error.code], [403, 'forbidden'], JSON.stringify(refused.body));
      assert.ok(!(await ranges()).includes('10.1.2.0/24'), 'nothing opened');
      const opened = await v1('POST', '/v1/compat/ip-ranges', { account_id: t.accountId, range: '10.1.2.0/24' });
      assert.equal(opened.status, 201, JSON.stringify(opened.body));
      try {
        const closing = await asAccount('DELETE', `/v1/compat/ip-ranges/${opened.body.id}`);
        assert.deepEqual([closing.status, closing.body.error.code], [403, 'forbidden'], JSON.stringify(closing.body));
        assert.ok((await ranges()).includes('10.1.2.0/24'), 'still open');
      } finally {
        assert.equal((await v1('DELETE', `/v1/compat/ip-ranges/${opened.body.id}`)).status, 204);
      }
    });
  });
}
