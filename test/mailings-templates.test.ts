/**
 * A mailing's templates per channel through the whole gateway: `templates`
 * names a template for a channel, `template_id` stays the default for the
 * others. Telegram goes to the fake Bot API (a chat id ending 0003 blocked
 * the bot: the step fails at once), SMS to the sandbox (delivered). Each step
 * of a recipient's cascade carries its own channel's text; a step whose
 * template does not render for the contact is left out; the test send uses
 * the first channel's template; what cannot be used is refused, with nothing
 * written; and a mailing without `templates` sends the default on every step.
 * A mailing's own `params` reach every recipient's render.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeTelegramBot } from './fakes/messengers.ts';
import { dialects, startTestGateway, type TestGateway, until } from './helpers.ts';

const FINAL = ['delivered', 'read', 'undelivered', 'failed', 'rejected', 'expired', 'cancelled'];

for (const dialect of await dialects()) {
  describe(`mailing templates per channel on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let bot: FakeTelegramBot;
    const call = async (method: 'GET' | 'POST', url: string, body?: unknown, apiKey = t.apiKey) => {
      const res = await t.gateway.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: res.body === '' ? null : res.json() };
    };
    /** A project with contacts from CSV rows (`guid,first_name,phone,messenger.telegram,promo`), and a contact's id by guid. */
    const newProject = async (code: string, rows: string[]) => {
      const p = (await call('POST', '/v1/projects', { name: code, code })).body;
      const res = await t.gateway.app.inject({ method: 'POST', url: `/v1/contacts/import?project_id=${p.id}`, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'text/csv' }, payload: ['guid,first_name,phone,messenger.telegram,promo', ...rows].join('\n') });
      assert.equal(res.statusCode, 200, res.body);
      const guids = new Map(((await call('GET', `/v1/contacts?project_id=${p.id}&limit=100`)).body.data as { id: string; guid: string }[]).map((c) => [c.guid, c.id]));
      return { project: p as { id: string }, contact: (guid: string) => guids.get(guid)! };
    };
    const template = async (projectId: string, channel: string, text: string, apiKey = t.apiKey) => {
      const res = await call('POST', '/v1/templates', { project_id: projectId, channel, name: `${channel} ${text.slice(0, 20)}`, text }, apiKey);
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.id as string;
    };
    const waitFinished = (id: string) => until(`mailing ${id} finished`, async () => ((await call('GET', `/v1/mailings/${id}`)).body.status === 'finished' ? true : undefined));
    const recipients = async (id: string) => {
      const rows = (await call('GET', `/v1/mailings/${id}/recipients?limit=100`)).body.data as { contact_id: string; status: string; reason: string | null; message_id: string | null }[];
      return new Map(rows.map((r) => [r.contact_id, r]));
    };
    const finalMessage = async (id: string) => {
      await until(`message ${id} final`, async () => (FINAL.includes((await call('GET', `/v1/messages/${id}`)).body.status) ? true : undefined));
      return (await call('GET', `/v1/messages/${id}`)).body;
    };
    const mailingCount = async () => Number((await t.gateway.database.db.selectFrom('mailings').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

    before(async () => {
      bot = new FakeTelegramBot();
      const botUrl = await bot.start();
      t = await startTestGateway(dialect.name, {}, {
        configFile: {
          connectors: [{ id: 'tgbot', type: 'telegram_bot', base_url: botUrl, secrets: { bot_token: bot.token } }],
          routes: [{ connector: 'sandbox' }, { channel: 'telegram', connector: 'tgbot' }],
        },
      });
    });
    after(async () => {
      await t?.close();
      await bot?.stop();
    });

    test('Telegram then SMS: the Telegram step sends the Telegram template, the SMS step the default; a step whose template does not render is left out; the test send renders the first channel\'s', async () => {
      const made = await newProject('TPL', [
        'chat,Анна,+79161235101,123456711,NY',
        'blocked,Борис,+79161235102,123450003,NY',
        'no-promo,Вера,+79161235103,123456713,',
        'no-promo-only,Глеб,,123456714,',
        'phone,Дина,+79161235105,,',
      ]);
      const sms = await template(made.project.id, 'sms', 'SMS: {{first_name}}, скидка');
      const telegram = await template(made.project.id, 'telegram', 'Telegram: {{first_name}}, промокод {{promo}}');
      const created = await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: sms, templates: { telegram }, name: 'Два канала', channels: ['telegram', 'sms'], start_at: new Date().toISOString(), traffic_type: 'service', step_timeout_seconds: 60 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual([created.body.template_id, created.body.templates], [sms, { telegram }]);
      const id = created.body.id as string;
      assert.deepEqual((await call('GET', `/v1/mailings/${id}`)).body.templates, { telegram }, 'returned as stored');
      assert.ok(((await call('GET', '/v1/mailings')).body.data as { id: string; templates: unknown }[]).some((m) => m.id === id && JSON.stringify(m.templates) === JSON.stringify({ telegram })), 'in the list too');

      // The test send: on the first channel (Telegram), with its template.
      const sentBefore = bot.requests.length;
      const tested = await call('POST', `/v1/mailings/${id}/test`, { to: ['123456799'], contact_id: made.contact('chat') });
      assert.equal(tested.status, 200, JSON.stringify(tested.body));
      assert.equal(tested.body.text, 'Telegram: Анна, промокод NY');
      await until('the test message reached the bot', async () => (bot.requests.slice(sentBefore).some((r) => String(r.body.chat_id) === '123456799') ? true : undefined));
      const noPromo = await call('POST', `/v1/mailings/${id}/test`, { to: ['123456799'], contact_id: made.contact('no-promo') });
      assert.deepEqual([noPromo.status, noPromo.body.error.code], [422, 'template_render_failed'], 'the first channel\'s template needs promo');

      await call('POST', `/v1/mailings/${id}/schedule`);
      await waitFinished(id);
      const byContact = await recipients(id);
      const of = (g: string) => byContact.get(made.contact(g))!;
      assert.deepEqual([of('no-promo-only').status, of('no-promo-only').reason], ['skipped', 'template_render_failed'], 'no step left');

      const chat = await finalMessage(of('chat').message_id!);
      assert.deepEqual([chat.status, chat.channel, chat.cascade.decided_by.step], ['delivered', 'telegram', 1]);
      assert.equal((await call('GET', `/v1/messages/${chat.cascade.steps[0].message_id}`)).body.text, 'Telegram: Анна, промокод NY');

      const blocked = await finalMessage(of('blocked').message_id!);
      assert.deepEqual([blocked.status, blocked.channel, blocked.cascade.decided_by.step], ['delivered', 'sms', 2]);
      const [tgStep, smsStep] = await Promise.all((blocked.cascade.steps as { message_id: string }[]).map(async (s) => (await call('GET', `/v1/messages/${s.message_id}`)).body));
      assert.deepEqual([tgStep.channel, tgStep.text, tgStep.reason.code], ['telegram', 'Telegram: Борис, промокод NY', 'subscriber_blocked']);
      assert.deepEqual([smsStep.channel, smsStep.text, smsStep.to], ['sms', 'SMS: Борис, скидка', '+79161235102'], 'the SMS step has the SMS text, not the Telegram one');

      // Telegram's template does not render without promo: that step is left out, the SMS one is a plain message.
      const fallback = await finalMessage(of('no-promo').message_id!);
      assert.deepEqual([fallback.status, fallback.channel, fallback.text, fallback.cascade ?? null], ['delivered', 'sms', 'SMS: Вера, скидка', null]);
      const phone = await finalMessage(of('phone').message_id!);
      assert.deepEqual([phone.channel, phone.text], ['sms', 'SMS: Дина, скидка']);

      const chats = bot.requests.slice(sentBefore).map((r) => [String(r.body.chat_id), String(r.body.text)]).sort();
      assert.deepEqual(chats, [['123450003', 'Telegram: Борис, промокод NY'], ['123456711', 'Telegram: Анна, промокод NY'], ['123456799', 'Telegram: Анна, промокод NY']], 'the bot got the Telegram text only, never for a contact whose template failed');
      const stats = (await call('GET', `/v1/mailings/${id}/stats`)).body;
      assert.deepEqual([stats.recipients, stats.messages], [{ accepted: 4, skipped: 1 }, { delivered: 4 }]);
    });

    test('templates that cannot be used are refused with a stable code naming the field, and nothing is written', async () => {
      const a = await newProject('TPLA', ['x,Анна,+79161235201,,']);
      const b = await newProject('TPLB', []);
      const smsA = await template(a.project.id, 'sms', 'A sms');
      const tgA = await template(a.project.id, 'telegram', 'A telegram');
      const emailA = await template(a.project.id, 'email', 'A email');
      const tgB = await template(b.project.id, 'telegram', 'B telegram');
      const other = await t.makeAccount('other');
      const otherProject = (await call('POST', '/v1/projects', { name: 'O', code: 'O' }, other.apiKey)).body;
      const tgOther = await template(otherProject.id, 'telegram', 'other account', other.apiKey);
      const base = { project_id: a.project.id, template_id: smsA, name: 'x', channels: ['telegram', 'sms'] };
      const before = await mailingCount();
      const refused = async (templates: unknown, status: number, code: string, fields: string[]) => {
        const res = await call('POST', '/v1/mailings', { ...base, templates });
        assert.equal(res.status, status, JSON.stringify(res.body));
        assert.equal(res.body.error.code, code, JSON.stringify(res.body));
        if (fields.length > 0) assert.deepEqual((res.body.error.details as { field: string }[]).map((d) => d.field), fields);
      };
      await refused({ email: emailA }, 422, 'template_channel_mismatch', ['templates.email']);
      await refused({ telegram: smsA }, 422, 'template_channel_mismatch', ['templates.telegram']);
      await refused({ telegram: tgA, sms: tgA }, 422, 'template_channel_mismatch', ['templates.sms']);
      await refused({ telegram: 'tpl_01KB2Z6C1D0R7Q4P3N2M1L0K9Z' }, 422, 'unknown_template', ['templates.telegram']);
      await refused({ telegram: tgB }, 422, 'unknown_template', ['templates.telegram']);
      await refused({ telegram: tgOther }, 422, 'unknown_template', ['templates.telegram']);
      await refused({ telegram: tgB, sms: tgA }, 422, 'unknown_template', ['templates.telegram']);
      await refused({ fax: tgA }, 400, 'validation_failed', []);
      await refused({ telegram: '' }, 400, 'validation_failed', []);
      // With an Idempotency-Key: refused, and the key is not spent on it.
      const key = `tpl-${dialect.name}`;
      const first = await t.gateway.app.inject({ method: 'POST', url: '/v1/mailings', headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json', 'idempotency-key': key }, payload: JSON.stringify({ ...base, templates: { telegram: tgB } }) });
      assert.equal(first.statusCode, 422);
      assert.equal(await mailingCount(), before, 'no mailing written for a refused request');
      const fixed = await t.gateway.app.inject({ method: 'POST', url: '/v1/mailings', headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json', 'idempotency-key': key }, payload: JSON.stringify({ ...base, templates: { telegram: tgA } }) });
      assert.equal(fixed.statusCode, 201, fixed.body);
      assert.deepEqual(fixed.json().templates, { telegram: tgA });
      assert.equal(await mailingCount(), before + 1);
    });

    test('a mailing without templates sends the default template on every step, whatever channel it was made for, and shows templates as {}', async () => {
      const made = await newProject('TPLN', ['blocked,Анна,+79161235301,123450003,', 'chat,Борис,+79161235302,123456732,']);
      const sms = await template(made.project.id, 'sms', 'Общий текст, {{first_name}}');
      const created = await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: sms, name: 'По-старому', channels: ['telegram', 'sms'], start_at: new Date().toISOString(), traffic_type: 'service', step_timeout_seconds: 60 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(created.body.templates, {});
      const empty = await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: sms, templates: {}, name: 'Пусто', channels: ['sms'] });
      assert.deepEqual([empty.status, empty.body.templates], [201, {}], 'an empty object is no templates');
      const id = created.body.id as string;
      await call('POST', `/v1/mailings/${id}/schedule`);
      await waitFinished(id);
      const byContact = await recipients(id);
      const blocked = await finalMessage(byContact.get(made.contact('blocked'))!.message_id!);
      const texts = await Promise.all((blocked.cascade.steps as { message_id: string }[]).map(async (s) => (await call('GET', `/v1/messages/${s.message_id}`)).body.text));
      assert.deepEqual(texts, ['Общий текст, Анна', 'Общий текст, Анна']);
      const chat = await finalMessage(byContact.get(made.contact('chat'))!.message_id!);
      assert.deepEqual([chat.channel, (await call('GET', `/v1/messages/${chat.cascade.steps[0].message_id}`)).body.text], ['telegram', 'Общий текст, Борис']);
    });

    test('params: the mailing\'s own parameters reach every recipient\'s text and the test send (where the request\'s win); a bad value is refused', async () => {
      const made = await newProject('TPLP', ['a,Анна,+79161235401,,', 'b,Борис,+79161235402,,']);
      const sms = await template(made.project.id, 'sms', '{{first_name}}, код {{code}} до {{until}}');
      const before = await mailingCount();
      const bad = await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: sms, name: 'p', channels: ['sms'], params: { code: { nested: true } } });
      assert.deepEqual([bad.status, bad.body.error.code], [400, 'validation_failed']);
      assert.equal(await mailingCount(), before, 'nothing written for a refused request');
      const created = await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: sms, name: 'С кодом', channels: ['sms'], params: { code: 'NY2027', until: '31.12' }, start_at: new Date().toISOString(), traffic_type: 'service' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(created.body.params, { code: 'NY2027', until: '31.12' });
      const id = created.body.id as string;
      assert.deepEqual((await call('GET', `/v1/mailings/${id}`)).body.params, { code: 'NY2027', until: '31.12' }, 'returned as stored');
      const tested = await call('POST', `/v1/mailings/${id}/test`, { to: ['+79161235499'], contact_id: made.contact('a'), params: { until: '01.01' } });
      assert.deepEqual([tested.status, tested.body.text], [200, 'Анна, код NY2027 до 01.01'], 'the request\'s params over the mailing\'s');
      await call('POST', `/v1/mailings/${id}/schedule`);
      await waitFinished(id);
      const byContact = await recipients(id);
      const texts = await Promise.all(['a', 'b'].map(async (g) => (await finalMessage(byContact.get(made.contact(g))!.message_id!)).text));
      assert.deepEqual(texts, ['Анна, код NY2027 до 31.12', 'Борис, код NY2027 до 31.12']);
      const plain = await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: sms, name: 'без', channels: ['sms'] });
      assert.deepEqual(plain.body.params, {}, 'none: {}');
    });
  });
}
