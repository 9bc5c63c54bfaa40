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
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { FakeSmtpRelay } from './fakes/smtp.ts';
import { dialects, startTestGateway, type TestGateway } from './helpers.ts';

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

const FINAL = ['delivered', 'read', 'undelivered', 'failed', 'rejected', 'expired', 'cancelled'];

for (const dialect of await dialects()) {
  describe(`mailings over several channels on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let relay: FakeSmtpRelay;
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
      t = await startTestGateway(dialect.name, {}, {
        configFile: {
          connectors: [{ id: 'mail', type: 'email', host: '127.0.0.1', port, domain: 'example.com', from: 'noreply@example.com', secrets: { username: 'depesha', password: 'secret' } }],
          routes: [{ connector: 'sandbox' }, { channel: 'email', connector: 'mail' }],
        },
      });
    });
    after(async () => {
      await t?.close();
      await relay?.stop();
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
      const created = await call('POST', '/v1/mailings', { project_id: made.project.id, template_id: made.template.id, name: 'Поздно', channels: ['email', 'sms'], start_at: new Date().toISOString(), traffic_type: 'service', step_timeout_seconds: 2 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id as string;
      await call('POST', `/v1/mailings/${id}/schedule`);
      try {
        // The e-mail step goes before quiet hours; they begin (the number's region is unknown: the account's zone) before its timeout.
        const parent = await until('the cascade accepted', async () => (await mailingMessages(id))[0]);
        const now = Date.now();
        const hhmm = (ms: number) => new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Moscow', hourCycle: 'h23', hour: '2-digit', minute: '2-digit' }).format(ms);
        const endMs = Math.floor((now + 3_600_000) / 60_000) * 60_000;
        assert.equal((await call('PATCH', '/v1/account', { time_zone: 'Europe/Moscow', quiet_hours: { start: hhmm(now - 3_600_000), end: hhmm(endMs) } })).status, 200);
        const sms = await until('the SMS step started', async () => {
          const step = (await call('GET', `/v1/messages/${parent.id}`)).body.cascade?.steps?.[1] as { message_id: string | null } | undefined;
          return step?.message_id ? (await call('GET', `/v1/messages/${step.message_id}`)).body : undefined;
        });
        assert.equal(sms.status, 'accepted', 'held, not sent');
        assert.equal(Date.parse(sms.expires_at) - 86_400_000, endMs, 'held until the quiet hours end, validity counted from there');
      } finally {
        await call('PATCH', '/v1/account', { quiet_hours: null });
        await call('POST', `/v1/mailings/${id}/cancel`);
      }
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
  });
}
