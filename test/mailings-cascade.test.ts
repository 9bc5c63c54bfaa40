/**
 * A mailing over several channels through the whole gateway: each recipient
 * gets a cascade over the channels they have an address and consent for, in
 * the mailing's order (e-mail, then SMS here), or a plain message when only
 * one is left; the statistics count each recipient once, by its cascade's
 * outcome; a page with cascades is priced like the API's (the first step
 * reserved, the parent free) and one the balance cannot pay pauses the
 * mailing. E-mail goes to a loopback SMTP relay: `unknown@` is refused at
 * RCPT (the step fails at once), anyone else is accepted and, with no bounce
 * endpoint, never reported on (the step can only time out). SMS is the sandbox.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeTelegramBot } from './fakes/messengers.ts';
import { FakeSmtpRelay } from './fakes/smtp.ts';
import { dialects, startTestGateway, type TestGateway, until } from './helpers.ts';

const FINAL = ['delivered', 'read', 'undelivered', 'failed', 'rejected', 'expired', 'cancelled'];

for (const dialect of await dialects()) {
  describe(`mailings over several channels on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let relay: FakeSmtpRelay;
    let bot: FakeTelegramBot;
    const call = async (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, body?: unknown) => {
      const res = await t.gateway.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${t.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: res.body === '' ? null : res.json() };
    };
    const newProject = async (code: string, rows: string[]) => {
      const p = (await call('POST', '/v1/projects', { name: code, code })).body;
      const res = await t.gateway.app.inject({ method: 'POST', url: `/v1/contacts/import?project_id=${p.id}`, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'text/csv' }, payload: ['guid,first_name,phone,email,consent.email', ...rows].join('\n') });
      assert.equal(res.statusCode, 200, res.body);
      const tpl = (await call('POST', '/v1/templates', { project_id: p.id, channel: 'sms', name: 't', text: 'Здравствуйте, {{first_name}}!' })).body;
      const guids = new Map<string, string>();
      for (const c of (await call('GET', `/v1/contacts?project_id=${p.id}&limit=100`)).body.data as { id: string; guid: string }[]) guids.set(c.guid, c.id);
      return { project: p, template: tpl, contact: (guid: string) => guids.get(guid)! };
    };
    const db = () => t.gateway.database.db;
    const mailingMessages = (id: string) => db().selectFrom('messages').selectAll().where('mailing_id', '=', id).execute();
    const waitStatus = (id: string, statuses: string[]) => until(`mailing ${id} ${statuses.join('|')}`, async () => {
      const m = (await call('GET', `/v1/mailings/${id}`)).body;
      return statuses.includes(m.status) ? m : undefined;
    }, 30_000);
    const recipients = async (id: string) => {
      const rows = (await call('GET', `/v1/mailings/${id}/recipients?limit=100`)).body.data as { contact_id: string; status: string; reason: string | null; message_id: string | null; message_status: string | null; message_channel: string | null }[];
      return new Map(rows.map((r) => [r.contact_id, r]));
    };

    before(async () => {
      relay = new FakeSmtpRelay({ user: 'depesha', pass: 'secret' });
      const port = await relay.start();
      bot = new FakeTelegramBot();
      const botUrl = await bot.start();
      t = await startTestGateway(dialect.name, {}, {
        configFile: {
          connectors: [
            { id: 'mail', type: 'email', host: '127.0.0.1', port, domain: 'example.com', from: 'noreply@example.com', secrets: { username: 'depesha', password: 'secret' } },
            { id: 'tgbot', type: 'telegram_bot', base_url: botUrl, secrets: { bot_token: bot.token } },
          ],
          routes: [{ connector: 'sandbox' }, { channel: 'email', connector: 'mail' }, { channel: 'telegram', connector: 'tgbot' }],
        },
      });
    });
    after(async () => {
      await t?.close();
      await relay?.stop();
      await bot?.stop();
    });

    test('e-mail then SMS: a refused or silent e-mail falls back to SMS, one usable channel is a plain message, none is skipped for the first channel\'s reason; each recipient counted once', async () => {
      const made = await newProject('CAS', [
        'refused,Анна,+79161231101,unknown@example.org,',
        'silent,Борис,+79161231102,quiet@example.org,',
        'phone,Вера,+79161231103,,',
        'no-mail,Глеб,+79161231104,glad@example.org,0',
        'nothing,Дина,,,',
        'refuses,Егор,,egor@example.org,0',
        'mail,Жанна,,zhanna@example.org,',
      ]);
      const created = await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: made.template.id, name: 'Новости', channels: ['email', 'sms'], start_at: new Date().toISOString(), traffic_type: 'service', step_timeout_seconds: 1 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual([created.body.step_timeout_seconds, created.body.step_until], [1, 'delivered']);
      assert.equal((await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: made.template.id, name: 'x', channels: ['sms'], step_until: 'seen' })).status, 400, 'step_until is checked by the schema');
      await call('POST', `/v1/mailings/${created.body.id}/schedule`);
      const id = created.body.id as string;
      await waitStatus(id, ['finished']);

      // Recipients: five given a message, two skipped with the first channel's reason (e-mail).
      const byContact = await recipients(id);
      assert.deepEqual(['nothing', 'refuses'].map((g) => [byContact.get(made.contact(g))!.status, byContact.get(made.contact(g))!.reason]), [['skipped', 'no_address'], ['skipped', 'no_consent']]);
      const own = await mailingMessages(id);
      assert.equal(own.length, 5, 'one message carries the mailing per recipient given one');
      const ofContact = (g: string) => own.find((m) => m.id === byContact.get(made.contact(g))!.message_id)!;
      // Cascades for the two with both addresses; plain messages otherwise.
      for (const g of ['refused', 'silent']) assert.equal(ofContact(g).cascade_step, 0, `${g}: a cascade's parent`);
      assert.deepEqual(['phone', 'no-mail', 'mail'].map((g) => [ofContact(g).channel, ofContact(g).cascade_step ?? null]), [['sms', null], ['sms', null], ['email', null]]);
      assert.equal(ofContact('mail').recipient, 'zhanna@example.org');

      const parentOf = async (g: string) => {
        const pid = ofContact(g).id;
        await until(`${g} final`, async () => (FINAL.includes((await call('GET', `/v1/messages/${pid}`)).body.status) ? true : undefined));
        return (await call('GET', `/v1/messages/${pid}`)).body;
      };
      const refused = await parentOf('refused');
      assert.deepEqual([refused.status, refused.channel, refused.cascade.decided_by.step], ['delivered', 'sms', 2]);
      const [mailStep, smsStep] = refused.cascade.steps as { channel: string; status: string; message_id: string }[];
      assert.deepEqual([mailStep!.channel, smsStep!.channel, smsStep!.status], ['email', 'sms', 'delivered']);
      assert.ok(['rejected', 'failed'].includes(mailStep!.status), `the refused e-mail step failed: ${mailStep!.status}`);
      const step = (await call('GET', `/v1/messages/${smsStep!.message_id}`)).body;
      assert.deepEqual([step.text, step.to, step.reference], ['Здравствуйте, Анна!', '+79161231101', id]);
      const email = (await call('GET', `/v1/messages/${mailStep!.message_id}`)).body;
      assert.deepEqual([email.to, email.subject], ['unknown@example.org', 'Новости'], 'the e-mail step has the mailing\'s name as subject');

      const silent = await parentOf('silent');
      assert.deepEqual([silent.status, silent.channel, silent.cascade.decided_by.step], ['delivered', 'sms', 2]);
      const [quiet, fallback] = (silent.cascade.steps as { status: string; message_id: string }[]).map((s) => s);
      assert.ok(['sent', 'cancelled'].includes(quiet!.status), `the silent e-mail step timed out: ${quiet!.status}`);
      const [q, f] = await Promise.all([call('GET', `/v1/messages/${quiet!.message_id}`), call('GET', `/v1/messages/${fallback!.message_id}`)]);
      assert.ok(Date.parse(f.body.created_at) - Date.parse(q.body.created_at) >= 1000, 'SMS started after the e-mail step\'s timeout');

      // Statistics: each recipient once, by its outcome; the failed e-mail step is no error of the mailing.
      await until('the plain SMS delivered and the e-mail sent', async () => {
        const s = (await call('GET', `/v1/mailings/${id}/stats`)).body;
        return s.messages.delivered === 4 && s.messages.sent === 1 ? s : undefined;
      });
      const stats = (await call('GET', `/v1/mailings/${id}/stats`)).body;
      assert.deepEqual([stats.recipients, stats.messages, stats.errors], [{ accepted: 5, skipped: 2 }, { delivered: 4, sent: 1 }, 0]);
      const after = await recipients(id);
      assert.deepEqual(['refused', 'silent', 'phone', 'mail'].map((g) => [after.get(made.contact(g))!.message_status, after.get(made.contact(g))!.message_channel]), [['delivered', 'sms'], ['delivered', 'sms'], ['delivered', 'sms'], ['sent', 'email']]);
      // The steps carry the mailing as their reference, not as theirs.
      const steps = await db().selectFrom('messages').select(['id', 'mailing_id', 'reference']).where('parent_id', 'in', [refused.id, silent.id]).execute();
      assert.equal(steps.length, 4);
      assert.ok(steps.every((s) => (s.mailing_id ?? null) === null && s.reference === id), JSON.stringify(steps));
    });

    test('a later step that starts inside quiet hours waits for their end, whatever the mailing\'s traffic type', async () => {
      const made = await newProject('QUIET', ['late,Зоя,+79161231201,late@example.org,']);
      // The contact's own zone is Moscow, the account's New York: quiet hours are the contact's, for the later step as for the first.
      assert.equal((await call('PATCH', `/v1/contacts/${made.contact('late')}`, { time_zone: 'Europe/Moscow' })).status, 200);
      const created = await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: made.template.id, name: 'Поздно', channels: ['email', 'sms'], start_at: new Date().toISOString(), traffic_type: 'service', step_timeout_seconds: 2 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id as string;
      await call('POST', `/v1/mailings/${id}/schedule`);
      try {
        // The e-mail step goes before quiet hours; they begin (in the contact's zone, not the account's) before its timeout.
        const parent = await until('the cascade accepted', async () => (await mailingMessages(id))[0]);
        const now = Date.now();
        const hhmm = (ms: number) => new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Moscow', hourCycle: 'h23', hour: '2-digit', minute: '2-digit' }).format(ms);
        const endMs = Math.floor((now + 3_600_000) / 60_000) * 60_000;
        assert.equal((await call('PATCH', '/v1/account', { time_zone: 'America/New_York', quiet_hours: { start: hhmm(now - 3_600_000), end: hhmm(endMs) } })).status, 200);
        const sms = await until('the SMS step started', async () => {
          const step = (await call('GET', `/v1/messages/${parent.id}`)).body.cascade?.steps?.[1] as { message_id: string | null } | undefined;
          return step?.message_id ? (await call('GET', `/v1/messages/${step.message_id}`)).body : undefined;
        });
        assert.equal(sms.status, 'accepted', 'held, not sent');
        assert.equal(Date.parse(sms.expires_at) - 86_400_000, endMs, 'held until the quiet hours end, validity counted from there');
      } finally {
        await call('PATCH', '/v1/account', { time_zone: 'Europe/Moscow', quiet_hours: null });
        await call('POST', `/v1/mailings/${id}/cancel`);
      }
    });

    test('a mailing in a messenger: Telegram (Bot API), then SMS; a contact with a Telegram chat id gets it by Telegram, one without by SMS, one that blocked the bot by SMS after the refusal', async () => {
      const p = (await call('POST', '/v1/projects', { name: 'TG', code: 'TG' })).body;
      const csv = ['guid,first_name,phone,messenger.telegram', 'chat,Анна,+79161231401,123456701', 'phone,Борис,+79161231402,', 'only,Вера,,123456703', 'blocked,Глеб,+79161231404,123450003', 'none,Дина,,'];
      const imported = await t.gateway.app.inject({ method: 'POST', url: `/v1/contacts/import?project_id=${p.id}`, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'text/csv' }, payload: csv.join('\n') });
      assert.equal(imported.statusCode, 200, imported.body);
      const tpl = (await call('POST', '/v1/templates', { project_id: p.id, channel: 'sms', name: 't', text: 'Привет, {{first_name}}!' })).body;
      const guids = new Map(((await call('GET', `/v1/contacts?project_id=${p.id}&limit=100`)).body.data as { id: string; guid: string }[]).map((c) => [c.guid, c.id]));
      const created = await call('POST', '/v1/mailings', { project_id: p.id, template_id: tpl.id, name: 'Телеграм', channels: ['telegram', 'sms'], start_at: new Date().toISOString(), traffic_type: 'service', step_timeout_seconds: 60 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id as string;
      const sentBefore = bot.requests.length;
      await call('POST', `/v1/mailings/${id}/schedule`);
      await waitStatus(id, ['finished']);
      const byContact = await recipients(id);
      const of = (g: string) => byContact.get(guids.get(g)!)!;
      assert.deepEqual([of('none').status, of('none').reason], ['skipped', 'no_address']);
      const final = async (g: string) => {
        const msgId = of(g).message_id!;
        await until(`${g} final`, async () => (FINAL.includes((await call('GET', `/v1/messages/${msgId}`)).body.status) ? true : undefined));
        return (await call('GET', `/v1/messages/${msgId}`)).body;
      };
      const chat = await final('chat');
      assert.deepEqual([chat.status, chat.channel, chat.cascade.decided_by.step, chat.cascade.steps[1].message_id], ['delivered', 'telegram', 1, null], 'by Telegram, no SMS');
      assert.equal((await call('GET', `/v1/messages/${chat.cascade.steps[0].message_id}`)).body.to, '123456701');
      // No chat id: Telegram is no channel for this contact (the Bot API cannot write to a phone number), so a plain SMS.
      const phone = await final('phone');
      assert.deepEqual([phone.status, phone.channel, phone.to, phone.cascade ?? null], ['delivered', 'sms', '+79161231402', null]);
      const only = await final('only');
      assert.deepEqual([only.status, only.channel, only.to], ['delivered', 'telegram', '123456703']);
      const blocked = await final('blocked');
      assert.deepEqual([blocked.status, blocked.channel, blocked.cascade.decided_by.step], ['delivered', 'sms', 2]);
      assert.equal((await call('GET', `/v1/messages/${blocked.cascade.steps[0].message_id}`)).body.reason.code, 'subscriber_blocked');
      const chats = bot.requests.slice(sentBefore).map((r) => String(r.body.chat_id)).sort();
      assert.deepEqual(chats, ['123450003', '123456701', '123456703'], 'the bot was asked only for chat ids');
      const after = await recipients(id);
      assert.deepEqual(['chat', 'phone', 'only', 'blocked'].map((g) => after.get(guids.get(g)!)!.message_channel), ['telegram', 'sms', 'telegram', 'sms']);
      const stats = (await call('GET', `/v1/mailings/${id}/stats`)).body;
      assert.deepEqual([stats.recipients, stats.messages, stats.errors], [{ accepted: 4, skipped: 1 }, { delivered: 4 }, 0]);
    });

    test('a priced account without money: a cascading mailing is paused with insufficient_balance; after a top-up its first step is reserved, the parent free, the next step reserved when it starts', async () => {
      const made = await newProject('CPAY', ['p1,Анна,+79161231111,unknown@example.org,']);
      for (const [channel, price] of [['sms', '1.00'], ['email', '0.50']]) assert.equal((await call('PUT', '/v1/prices', { account_id: t.accountId, channel, price })).status, 200);
      const m = (await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: made.template.id, name: 'unpaid', channels: ['email', 'sms'], start_at: new Date().toISOString(), traffic_type: 'service', step_timeout_seconds: 30 })).body;
      await call('POST', `/v1/mailings/${m.id}/schedule`);
      const paused = await waitStatus(m.id, ['paused', 'finished']);
      assert.deepEqual([paused.status, paused.paused_reason], ['paused', 'insufficient_balance']);
      assert.deepEqual(await mailingMessages(m.id), [], 'nothing half-sent');
      assert.equal((await db().selectFrom('messages').select('id').where('reference', '=', m.id).execute()).length, 0, 'no step either');
      assert.equal((await call('POST', '/v1/balance/entries', { account_id: t.accountId, kind: 'top_up', amount: '5.00' })).status, 201);
      await call('POST', `/v1/mailings/${m.id}/resume`);
      await waitStatus(m.id, ['finished']);
      const [parent] = await mailingMessages(m.id);
      assert.equal(parent!.cascade_step, 0);
      assert.equal(parent!.price_minor ?? null, null, 'the parent costs nothing');
      await until('the cascade delivered by SMS', async () => ((await call('GET', `/v1/messages/${parent!.id}`)).body.status === 'delivered' ? true : undefined));
      const children = await db().selectFrom('messages').select(['id', 'channel']).where('parent_id', '=', parent!.id).execute();
      const entries = (await call('GET', '/v1/balance/entries?limit=100')).body.data as { kind: string; amount: string; message_id: string | null }[];
      const reserveOf = (messageId: string) => entries.filter((e) => e.message_id === messageId && e.kind === 'reserve').map((e) => e.amount);
      assert.deepEqual(reserveOf(parent!.id), []);
      assert.deepEqual(reserveOf(children.find((c) => c.channel === 'email')!.id), ['-0.50'], 'the first step reserved with the page');
      assert.deepEqual(reserveOf(children.find((c) => c.channel === 'sms')!.id), ['-1.00'], 'the SMS step reserved when it started');
      for (const channel of ['sms', 'email']) assert.equal((await call('PUT', '/v1/prices', { account_id: t.accountId, channel, price: '0.00' })).status, 200);
    });

    test('cancel: every message no sender holds yet (held for local time, a cascade\'s unsent step) is cancelled with mailing_cancelled and refunded, a running cascade starts no later step, the sent ones are untouched; stats say so', async () => {
      // Local time at the start_at's UTC wall clock: passed in Kamchatka (UTC+12, due now), hours away in Los Angeles (held).
      const p = (await call('POST', '/v1/projects', { name: 'CANCEL', code: 'CANCEL' })).body;
      const csv = ['guid,first_name,phone,email,time_zone', 'east,Анна,+79161231301,,Asia/Kamchatka', 'west,Борис,+79161231302,,America/Los_Angeles', 'westc,Вера,+79161231303,vera@example.org,America/Los_Angeles', 'eastc,Глеб,+79161231304,gleb@example.org,Asia/Kamchatka'];
      const imported = await t.gateway.app.inject({ method: 'POST', url: `/v1/contacts/import?project_id=${p.id}`, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'text/csv' }, payload: csv.join('\n') });
      assert.equal(imported.statusCode, 200, imported.body);
      const tpl = (await call('POST', '/v1/templates', { project_id: p.id, channel: 'sms', name: 't', text: 'Привет, {{first_name}}!' })).body;
      const guids = new Map(((await call('GET', `/v1/contacts?project_id=${p.id}&limit=100`)).body.data as { id: string; guid: string }[]).map((c) => [c.guid, c.id]));
      for (const [channel, price] of [['sms', '1.00'], ['email', '0.50']]) assert.equal((await call('PUT', '/v1/prices', { account_id: t.accountId, channel, price })).status, 200);
      assert.equal((await call('POST', '/v1/balance/entries', { account_id: t.accountId, kind: 'top_up', amount: '10.00' })).status, 201);
      try {
        const created = await call('POST', '/v1/mailings', { project_id: p.id, template_id: tpl.id, name: 'Отмена', channels: ['email', 'sms'], start_at: new Date().toISOString(), time_zone: 'UTC', local_time: true, traffic_type: 'service', step_timeout_seconds: 3600 });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const id = created.body.id as string;
        assert.equal(created.body.cancelling, false);
        await call('POST', `/v1/mailings/${id}/schedule`);
        await waitStatus(id, ['finished']);
        const byContact = await recipients(id);
        const own = (g: string) => byContact.get(guids.get(g)!)!.message_id!;
        const get = async (msgId: string) => (await call('GET', `/v1/messages/${msgId}`)).body;
        // Before the cancel: east's SMS delivered, eastc's e-mail step sent (its SMS step waits an hour), west's and westc's held.
        await until('east delivered', async () => ((await get(own('east'))).status === 'delivered' ? true : undefined));
        const eastcStep = await until('eastc\'s e-mail step sent', async () => {
          const parent = await get(own('eastc'));
          return parent.status === 'sent' ? (parent.cascade.steps[0].message_id as string) : undefined;
        });
        const westcBefore = await get(own('westc'));
        const westcStep = westcBefore.cascade.steps[0].message_id as string;
        assert.deepEqual([(await get(own('west'))).status, westcBefore.status, (await get(westcStep)).status], ['accepted', 'accepted', 'accepted'], 'held for Los Angeles\' morning');

        // Finished (its audience is read to the end), but with messages waiting: cancel still withdraws them.
        const cancelled = await call('POST', `/v1/mailings/${id}/cancel`);
        assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
        assert.equal(cancelled.body.status, 'cancelled');
        await until('the mailing\'s messages cancelled', async () => ((await call('GET', `/v1/mailings/${id}`)).body.cancelling === false ? true : undefined));

        const west = await get(own('west'));
        assert.deepEqual([west.status, west.reason?.code], ['cancelled', 'mailing_cancelled'], 'the held plain message');
        const westc = await get(own('westc'));
        assert.deepEqual([westc.status, westc.reason?.code, westc.cascade.status], ['cancelled', 'mailing_cancelled', 'done'], 'the held cascade ends with its withdrawn step');
        const withdrawn = await get(westcStep);
        assert.deepEqual([withdrawn.status, withdrawn.reason?.code], ['cancelled', 'mailing_cancelled']);
        assert.equal(westc.cascade.steps[1].message_id, null, 'no SMS step');
        // The running cascade: its sent e-mail step stays sent, it waits for no timer and has no step after it.
        const eastc = await get(own('eastc'));
        assert.deepEqual([eastc.status, (await get(eastcStep)).status, eastc.cascade.status, eastc.cascade.steps[1].message_id], ['sent', 'sent', 'running', null]);
        const row = await db().selectFrom('cascades').select(['timer_at', 'steps']).where('id', '=', own('eastc')).executeTakeFirstOrThrow();
        assert.equal(row.timer_at, null, 'no timer: the SMS step never starts');
        assert.deepEqual((JSON.parse(row.steps) as { dropped?: boolean }[]).map((s) => s.dropped ?? false), [false, true]);
        assert.equal((await get(own('east'))).status, 'delivered', 'the sent ones are untouched');

        // Refunds: the held SMS and the withdrawn e-mail step, each once; the delivered SMS and the sent e-mail step charged.
        const entries = (await call('GET', '/v1/balance/entries?limit=100')).body.data as { kind: string; amount: string; message_id: string | null }[];
        const of = (msgId: string) => entries.filter((e) => e.message_id === msgId).map((e) => `${e.kind} ${e.amount}`).sort();
        assert.deepEqual(of(own('west')), ['refund 1.00', 'reserve -1.00']);
        assert.deepEqual(of(westcStep), ['refund 0.50', 'reserve -0.50']);
        assert.ok(!of(own('east')).some((e) => e.startsWith('refund')) && !of(eastcStep).some((e) => e.startsWith('refund')), 'nothing sent is refunded');

        const stats = (await call('GET', `/v1/mailings/${id}/stats`)).body;
        assert.deepEqual([stats.status, stats.messages, stats.errors], ['cancelled', { delivered: 1, sent: 1, cancelled: 2 }, 0]);
        // A second cancel is refused; the mailing's messages stay as they are.
        assert.equal((await call('POST', `/v1/mailings/${id}/cancel`)).status, 409);
      } finally {
        for (const channel of ['sms', 'email']) assert.equal((await call('PUT', '/v1/prices', { account_id: t.accountId, channel, price: '0.00' })).status, 200);
      }
    });
  });
}
