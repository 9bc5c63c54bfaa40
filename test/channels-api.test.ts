import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CallbackRelay } from './fakes/callback-relay.ts';
import { PRESETS } from '../src/connectors/http/presets.ts';
import { FakeAggregator } from './fakes/http-aggregator.ts';
import { FakeTelegramBot, FakeWhatsApp } from './fakes/messengers.ts';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

const FINAL = ['delivered', 'undelivered', 'failed', 'rejected', 'expired'];

/**
 * Channels through the whole gateway: the channel fields of POST /v1/messages
 * and their errors, routing by channel, and HTTP aggregator connectors whose
 * status reports come back through the public callback route.
 */
for (const dialect of await dialects()) {
  describe(`channels through the API on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let smsc: FakeAggregator;
    let aero: FakeAggregator;
    let relay: CallbackRelay;
    let whatsapp: FakeWhatsApp;
    let bot: FakeTelegramBot;
    const call = async (method: 'GET' | 'POST', url: string, body?: unknown, auth = true) => {
      const res = await t.gateway.app.inject({
        method,
        url,
        headers: { ...(auth ? { authorization: `Bearer ${t.apiKey}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: res.body === '' ? null : res.json() };
    };
    const send = async (body: Record<string, unknown>) => {
      const res = await call('POST', '/v1/messages', body);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      return res.body as { id: string; channel: string };
    };
    const finalOf = async (id: string) => {
      await waitForStatus(t.gateway, id, FINAL);
      return (await call('GET', `/v1/messages/${id}`)).body;
    };

    before(async () => {
      // Our public address, as the aggregators see it: the gateway's own callback route.
      relay = new CallbackRelay(async (r) => {
        const res = await t.gateway.app.inject({ method: r.method, url: r.url, headers: r.headers, ...(r.method === 'POST' ? { payload: r.body } : {}) });
        return { status: res.statusCode, body: res.body };
      });
      const publicUrl = await relay.start();
      smsc = new FakeAggregator('smsc');
      aero = new FakeAggregator('smsaero');
      whatsapp = new FakeWhatsApp();
      bot = new FakeTelegramBot();
      const [smscUrl, aeroUrl, whatsappUrl, botUrl] = [await smsc.start(), await aero.start(), await whatsapp.start(), await bot.start()];
      smsc.accountCallbackUrl = `${publicUrl}/v1/callbacks/smsc?token=cb-secret`;
      whatsapp.webhookUrl = `${publicUrl}/v1/callbacks/wa`;
      t = await startTestGateway(
        dialect.name,
        {},
        {
          configFile: {
            connectors: [
              { id: 'smsc', type: 'http', preset: 'smsc_ru', base_url: smscUrl, public_url: publicUrl, secrets: { login: 'depesha', password: 'secret', callback_secret: 'cb-secret' } },
              // SMS Aero's Viber sendings, their statuses polled (often, for the test)
              { id: 'viber', type: 'http', preset: 'smsaero_viber', base_url: aeroUrl, secrets: { email: 'depesha', api_key: 'secret' }, settings: { sender: 'Shop' }, poll: { ...PRESETS.get('smsaero_viber')!.poll!, interval_seconds: 0.1 } },
              { id: 'wa', type: 'whatsapp', base_url: whatsappUrl, phone_number_id: '1055', secrets: { access_token: whatsapp.accessToken, app_secret: whatsapp.appSecret, verify_token: 'verify-me' } },
              { id: 'tg', type: 'telegram_bot', base_url: botUrl, secrets: { bot_token: bot.token } },
            ],
            routes: [{ connector: 'smsc' }, { channel: 'viber', connector: 'viber' }, { channel: 'whatsapp', connector: 'wa' }, { channel: 'telegram', connector: 'tg' }],
          },
        },
      );
    });
    after(async () => {
      await t?.close();
      await relay?.stop();
      await smsc?.stop();
      await aero?.stop();
      await whatsapp?.stop();
      await bot?.stop();
    });

    test('an SMS goes through the aggregator and its report, posted to the callback route, delivers it (multipart: one id for all parts)', async () => {
      const one = await send({ to: '+79161234567', text: 'Код 4711' });
      const long = await send({ to: '+79161234568', text: 'Проверка связи. '.repeat(10) });
      for (const m of [await finalOf(one.id), await finalOf(long.id)]) {
        assert.equal(m.status, 'delivered');
        assert.equal(m.connector, 'smsc');
        assert.equal(m.channel, 'sms');
        assert.equal('subject' in m, false);
      }
      const long2 = (await call('GET', `/v1/messages/${long.id}`)).body;
      assert.equal(long2.parts_count, 3);
      assert.equal(new Set(long2.parts.map((p: { provider_message_id: string }) => p.provider_message_id)).size, 1);
      assert.equal(smsc.requests.filter((r) => r.fields.phones === '79161234568').length, 1, 'the whole text in one request');
    });

    test('an undelivered report and a refusal at submit end the message with their reasons', async () => {
      const undelivered = await finalOf((await send({ to: '+79161230000', text: 'x' })).id);
      assert.deepEqual([undelivered.status, undelivered.reason?.code, undelivered.reason?.provider_code], ['undelivered', 'subscriber_unknown', 'status:20 err:1']);
      const refused = await finalOf((await send({ to: '+79161230002', text: 'x' })).id);
      assert.deepEqual([refused.status, refused.reason?.code, refused.reason?.provider_code], ['rejected', 'invalid_destination', '7']);
    });

    test('the callback route is public but each connector checks its secret; an unknown connector is 404', async () => {
      const post = (url: string) => t.gateway.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'id=1&status=1' });
      assert.equal((await post('/v1/callbacks/smsc')).statusCode, 401);
      assert.equal((await post('/v1/callbacks/smsc?token=nope')).statusCode, 401);
      assert.equal((await post('/v1/callbacks/nobody?token=cb-secret')).statusCode, 404);
      assert.equal((await post('/v1/callbacks/sandbox')).statusCode, 404, 'a connector without callbacks');
      const ok = await post('/v1/callbacks/smsc?token=cb-secret');
      assert.deepEqual([ok.statusCode, ok.body], [200, 'OK']);
    });

    test('a Viber message takes the viber route and its template; voice without a route fails with no_route', async () => {
      const viber = await send({ channel: 'viber', to: '8 916 123-45-99', text: 'Ваш заказ готов', template: { name: 'order_ready', params: ['42'] } });
      assert.equal(viber.channel, 'viber');
      const done = await finalOf(viber.id);
      assert.deepEqual([done.status, done.connector, done.to, done.template], ['delivered', 'viber', '+79161234599', { name: 'order_ready', params: ['42'] }]);
      assert.deepEqual([aero.requests.find((r) => r.path === '/v2/viber/send')?.json], [{ number: '79161234599', sign: 'Shop', channel: 'INFO', text: 'Ваш заказ готов' }]);
      const dry = await call('POST', '/v1/routes/test', { to: '+79161234599', channel: 'viber' });
      assert.deepEqual([dry.status, dry.body.connector], [200, 'viber']);
      assert.equal((await call('POST', '/v1/routes/test', { to: '+79161234599' })).body.connector, 'smsc');
      const voice = await finalOf((await send({ channel: 'voice', to: '+79161234567', text: 'hi' })).id);
      assert.deepEqual([voice.status, voice.reason?.code], ['failed', 'no_route']);
      assert.equal(smsc.requests.some((r) => r.fields.mes === 'hi'), false, 'not sent by SMS');
    });

    test('WhatsApp: a template with the code is delivered by its signed status webhook; the GET handshake answers through the public route', async () => {
      const waId = (await send({ channel: 'whatsapp', to: '+79161234567', text: '', template: { name: 'auth_code', params: ['4711'] } })).id;
      // The fake reports it delivered, then read (in either order): read is where it ends, delivered on the way.
      await waitForStatus(t.gateway, waId, ['read']);
      const wa = (await call('GET', `/v1/messages/${waId}`)).body;
      assert.deepEqual([wa.status, wa.connector, wa.parts_count, wa.delivered_at !== null], ['read', 'wa', 1, true]);
      assert.deepEqual(wa.events.map((e: { status: string }) => e.status).slice(-2), ['delivered', 'read']);
      const failed = await finalOf((await send({ channel: 'whatsapp', to: '+79161230000', text: 'x' })).id);
      assert.deepEqual([failed.status, failed.reason?.code, failed.reason?.provider_code], ['undelivered', 'subscriber_unknown', '131026']);
      const hello = await t.gateway.app.inject({ method: 'GET', url: '/v1/callbacks/wa?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=987' });
      assert.deepEqual([hello.statusCode, hello.body], [200, '987']);
      assert.equal((await t.gateway.app.inject({ method: 'GET', url: '/v1/callbacks/wa?hub.mode=subscribe&hub.verify_token=x&hub.challenge=987' })).statusCode, 403);
    });

    test('Telegram bot: accepted by the API is delivered; a chat that blocked the bot is rejected', async () => {
      const tg = await finalOf((await send({ channel: 'telegram', to: '-100123456', text: 'hi' })).id);
      assert.deepEqual([tg.status, tg.connector, tg.to], ['delivered', 'tg', '-100123456']);
      const blocked = await finalOf((await send({ channel: 'telegram', to: '100003', text: 'hi' })).id);
      assert.deepEqual([blocked.status, blocked.reason?.code], ['rejected', 'subscriber_blocked']);
    });

    test('each channel checks its own fields, with clear error codes', async () => {
      const cases: [Record<string, unknown>, number, string, string][] = [
        [{ channel: 'email', to: 'user@example.com', text: 'hi' }, 422, 'channel_field_missing', 'subject'],
        [{ channel: 'email', to: 'not-an-address', subject: 's', text: 'hi' }, 422, 'invalid_recipient', 'to'],
        [{ channel: 'email', to: 'user@example.com', subject: 's', text: ' ' }, 422, 'channel_field_missing', 'text'],
        [{ channel: 'email', to: 'user@example.com', from: 'Shop', subject: 's', text: 'hi' }, 422, 'invalid_sender', 'from'],
        [{ to: '+79161234567', text: 'hi', subject: 's' }, 422, 'channel_field_not_allowed', 'subject'],
        [{ channel: 'telegram', to: '+79161234567', text: 'hi', template: { name: 'x' } }, 422, 'channel_field_not_allowed', 'template'],
        [{ channel: 'telegram', to: 'durov', text: 'hi' }, 422, 'invalid_recipient', 'to'],
        [{ channel: 'whatsapp', to: '12', text: 'hi' }, 422, 'invalid_phone_number', 'to'],
        [{ channel: 'whatsapp', to: '+79161234567', text: '' }, 422, 'empty_text', 'text'],
        [{ channel: 'fax', to: '+79161234567', text: 'hi' }, 400, 'validation_failed', 'channel'],
        [{ to: '+79161234567'.padEnd(65, '0'), text: 'hi' }, 400, 'validation_failed', 'to'],
      ];
      for (const [body, status, code, field] of cases) {
        const res = await call('POST', '/v1/messages', body);
        assert.equal(res.status, status, JSON.stringify([body, res.body]));
        assert.equal(res.body.error.code, code, JSON.stringify(body));
        assert.ok(res.body.error.details.some((d: { field: string }) => d.field === field), JSON.stringify([body, res.body.error.details]));
      }
      const email = await send({ channel: 'email', to: 'user@example.com', from: 'shop@example.com', subject: 'Заказ', text: 'Готов', html: '<p>Готов</p>' });
      const read = (await call('GET', `/v1/messages/${email.id}`)).body;
      assert.deepEqual([read.channel, read.to, read.from, read.subject, read.html, read.parts_count], ['email', 'user@example.com', 'shop@example.com', 'Заказ', '<p>Готов</p>', 1]);
      const wa = await send({ channel: 'whatsapp', to: '+79161234567', text: '', template: { name: 'auth_code', language: 'ru', params: ['4711'] } });
      assert.equal(wa.channel, 'whatsapp');
      const tg = await send({ channel: 'telegram', to: '@depesha_news', text: 'hi' });
      assert.equal(tg.channel, 'telegram');
    });

    test('an HTTP connector made through the API keeps its secrets sealed in the store', async () => {
      const missing = await call('POST', '/v1/connectors', { id: 'aero', type: 'http', preset: 'smsaero', secrets: { email: 'a@b.c' } });
      assert.equal(missing.status, 400);
      assert.ok(missing.body.error.details.some((d: { field: string }) => d.field === 'secrets.api_key'));
      const made = await call('POST', '/v1/connectors', { id: 'aero', type: 'http', preset: 'smsaero', secrets: { email: 'a@b.c', api_key: 'very-secret-key', sender: 'Shop', callback_secret: 'cb-other' } });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.type, 'http');
      const row = await t.gateway.database.db.selectFrom('connectors').select('definition').where('id', '=', 'aero').executeTakeFirstOrThrow();
      assert.equal(row.definition.includes('very-secret-key'), false);
      assert.equal(row.definition.includes('cb-other'), false);
      assert.match(row.definition, /"secrets_sealed"/);
    });
  });
}
