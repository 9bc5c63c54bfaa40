import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { CallbackRelay } from './fakes/callback-relay.ts';
import { FakeAggregator } from './fakes/http-aggregator.ts';
import { FakeTelegramGateway, FakeWhatsApp } from './fakes/messengers.ts';
import { dialects, startTestGateway, waitForStatus, type TestGateway, freePort } from './helpers.ts';

const FINAL = ['delivered', 'read', 'undelivered', 'failed', 'rejected', 'expired', 'cancelled'];

/**
 * Cascade fallback through the whole gateway, against the loopback fakes:
 * Telegram (Gateway) → WhatsApp → SMS on timeouts and on permanent failures,
 * delivered at the first step, a late receipt of an earlier step, the stop on
 * a SIM-swap block, the request's errors, and verifications by cascade.
 * `tg-mute` and `wa-mute` accept messages but never report on them (no
 * callback address), so their steps can only time out.
 */
for (const dialect of await dialects()) {
  describe(`cascades on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let relay: CallbackRelay;
    let gateway: FakeTelegramGateway;
    let whatsapp: FakeWhatsApp;
    let muteWhatsapp: FakeWhatsApp;
    let smsc: FakeAggregator;
    const call = async (method: 'GET' | 'POST' | 'PATCH' | 'PUT', url: string, body?: unknown, key = t.apiKey) => {
      const res = await t.gateway.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: res.body === '' ? null : res.json() };
    };
    const send = async (body: Record<string, unknown>) => {
      const res = await call('POST', '/v1/messages', body);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      return res.body as { id: string; status: string };
    };
    const finalOf = async (id: string, timeoutMs = 15_000, key = t.apiKey) => {
      await waitForStatus(t.gateway, id, FINAL, timeoutMs);
      return (await call('GET', `/v1/messages/${id}`, undefined, key)).body;
    };
    const message = async (id: string, key = t.apiKey) => (await call('GET', `/v1/messages/${id}`, undefined, key)).body;

    before(async () => {
      relay = new CallbackRelay(async (r) => {
        const res = await t.gateway.app.inject({ method: r.method, url: r.url, headers: r.headers, ...(r.method === 'POST' ? { payload: r.body } : {}) });
        return { status: res.statusCode, body: res.body };
      });
      const publicUrl = await relay.start();
      gateway = new FakeTelegramGateway();
      whatsapp = new FakeWhatsApp();
      muteWhatsapp = new FakeWhatsApp();
      smsc = new FakeAggregator('smsc');
      const [gatewayUrl, whatsappUrl, muteUrl, smscUrl] = [await gateway.start(), await whatsapp.start(), await muteWhatsapp.start(), await smsc.start()];
      whatsapp.webhookUrl = `${publicUrl}/v1/callbacks/wa`;
      smsc.accountCallbackUrl = `${publicUrl}/v1/callbacks/smsc?token=cb-secret`;
      const wa = (id: string, url: string, fake: FakeWhatsApp) => ({ id, type: 'whatsapp', base_url: url, phone_number_id: '1055', secrets: { access_token: fake.accessToken, app_secret: fake.appSecret, verify_token: 'verify-me' } });
      t = await startTestGateway(
        dialect.name,
        {},
        {
          configFile: {
            connectors: [
              { id: 'tg', type: 'telegram_gateway', base_url: gatewayUrl, public_url: publicUrl, secrets: { token: gateway.token } },
              { id: 'tg-mute', type: 'telegram_gateway', base_url: gatewayUrl, secrets: { token: gateway.token } },
              wa('wa', whatsappUrl, whatsapp),
              wa('wa-mute', muteUrl, muteWhatsapp),
              { id: 'smsc', type: 'http', preset: 'smsc_ru', base_url: smscUrl, public_url: publicUrl, secrets: { login: 'depesha', password: 'secret', callback_secret: 'cb-secret' } },
            ],
            routes: [{ connector: 'sandbox' }, { channel: 'telegram', connector: 'tg' }, { channel: 'whatsapp', connector: 'wa' }],
          },
        },
      );
    });
    after(async () => {
      await t?.close();
      for (const fake of [relay, gateway, whatsapp, muteWhatsapp, smsc]) await fake?.stop();
    });

    test('Telegram → WhatsApp → SMS on timeouts: each step starts when the one before times out; the parent says SMS delivered; one timeline', async () => {
      const started = Date.now();
      const parent = await send({
        to: '+79161234567',
        text: 'Your code is 4711',
        cascade: [
          { channel: 'telegram', connector: 'tg-mute', until: 'delivered', timeout_seconds: 1 },
          { channel: 'whatsapp', connector: 'wa-mute', timeout_seconds: 1 },
          { channel: 'sms' },
        ],
      });
      assert.equal(parent.status, 'accepted');
      const done = await finalOf(parent.id);
      assert.ok(Date.now() - started >= 2000, 'two timeouts of 1 s passed before the SMS');
      assert.deepEqual([done.status, done.channel, done.connector], ['delivered', 'sms', 'sandbox']);
      assert.deepEqual([done.cascade.status, done.cascade.current_step, done.cascade.decided_by.step, done.cascade.decided_by.channel], ['done', 3, 3, 'sms']);
      // A muted step is sent and never delivered; on a slow machine it may still wait for its send at the timeout, and is then withdrawn.
      const statuses = done.cascade.steps.map((s: { channel: string; status: string }) => [s.channel, s.status]);
      assert.deepEqual(statuses.map(([c]: string[]) => c), ['telegram', 'whatsapp', 'sms']);
      for (const [, status] of statuses.slice(0, 2)) assert.ok(status === 'sent' || status === 'cancelled', JSON.stringify(statuses));
      assert.equal(statuses[2][1], 'delivered');
      assert.deepEqual(done.parts, [], 'the parent itself is never sent');
      const [tg, wa, sms] = await Promise.all(done.cascade.steps.map((s: { message_id: string }) => message(s.message_id)));
      assert.deepEqual([tg.parent_id, tg.cascade_step, tg.connector, wa.connector, sms.cascade_step], [parent.id, 1, 'tg-mute', 'wa-mute', 3]);
      if (tg.status === 'cancelled') assert.equal(tg.reason.code, 'cascade_superseded');
      assert.ok(Date.parse(wa.created_at) - Date.parse(tg.created_at) >= 1000, 'WhatsApp started after Telegram\'s timeout');
      assert.ok(Date.parse(sms.created_at) - Date.parse(wa.created_at) >= 1000, 'SMS started after WhatsApp\'s timeout');
      // One timeline: the parent's events and every step's, in time order.
      const timeline = done.events.map((e: { message_id: string; status: string; step?: number }) => `${e.step ?? 0}:${e.status}`);
      for (const expected of ['0:accepted', '1:accepted', '2:accepted', '3:sent', '3:delivered', '0:delivered']) assert.ok(timeline.includes(expected), `${expected} in ${timeline.join(' ')}`);
      assert.ok(timeline.indexOf('1:accepted') < timeline.indexOf('2:accepted') && timeline.indexOf('2:accepted') < timeline.indexOf('3:accepted'), timeline.join(' '));
      assert.equal(timeline.at(-1), '0:delivered');
      const list = (await call('GET', `/v1/messages?to=%2B79161234567&limit=10`)).body.data.filter((m: { parent_id?: string; id: string }) => m.parent_id === parent.id);
      assert.equal(list.length, 3, 'the steps are messages of their own, linked to the parent');
    });

    test('Telegram → WhatsApp → SMS on permanent failures: the next step starts at once, not after the timeout', async () => {
      const started = Date.now();
      const parent = await send({
        to: '+79161230002', // Telegram cannot send codes to it; WhatsApp refuses it
        text: 'Код 4711',
        cascade: [
          { channel: 'telegram', timeout_seconds: 60 },
          { channel: 'whatsapp', timeout_seconds: 60, template: { name: 'auth_code', params: ['4711'] } },
          { channel: 'sms', to: '+79161234568' },
        ],
      });
      const done = await finalOf(parent.id);
      assert.ok(Date.now() - started < 10_000, 'no timeout was waited for');
      assert.deepEqual([done.status, done.channel, done.cascade.decided_by.step], ['delivered', 'sms', 3]);
      assert.deepEqual(
        done.cascade.steps.map((s: { status: string }) => s.status),
        ['rejected', 'rejected', 'delivered'],
      );
      const [tg, wa] = await Promise.all(done.cascade.steps.slice(0, 2).map((s: { message_id: string }) => message(s.message_id)));
      assert.deepEqual([tg.reason.code, wa.reason.code], ['subscriber_unknown', 'operator_rejected']);
      // Never sent, so no part of them is charged: no provider id, no sent_at.
      assert.deepEqual([tg.sent_at, wa.sent_at, tg.parts[0].provider_message_id], [null, null, null]);
    });

    test('an advertising step that starts inside the recipient\'s quiet hours waits for their end, its validity and timer counted from there', async () => {
      const parent = await send({ to: '+79161234575', text: 'Sale! Promo code 4711', traffic_type: 'advertising', ttl_seconds: 3600, cascade: [{ channel: 'telegram', connector: 'tg-mute', timeout_seconds: 2 }, { channel: 'sms', timeout_seconds: 60 }, { channel: 'telegram', connector: 'tg-mute' }] });
      // The first step went before quiet hours; they begin (in the account's zone: the number's region is unknown here) before its timeout.
      const now = Date.now();
      const hhmm = (ms: number) => new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Moscow', hourCycle: 'h23', hour: '2-digit', minute: '2-digit' }).format(ms);
      const endMs = Math.floor((now + 3_600_000) / 60_000) * 60_000;
      assert.equal((await call('PATCH', '/v1/account', { time_zone: 'Europe/Moscow', quiet_hours: { start: hhmm(now - 3_600_000), end: hhmm(endMs) } })).status, 200);
      try {
        let step: { message_id: string | null } | undefined;
        // The step starts at the timeout; no event outside the process tells of the cascade's row, so it is looked for (bounded).
        for (let deadline = Date.now() + 15_000; !(step = (await message(parent.id)).cascade?.steps?.[1])?.message_id; ) {
          assert.ok(Date.now() < deadline, 'the SMS step started within 15 s');
          await delay(20);
        }
        const sms = await message(step.message_id!);
        assert.equal(sms.status, 'accepted', 'held, not sent');
        assert.equal(Date.parse(sms.expires_at) - 3_600_000, endMs, 'held until the quiet hours end, validity counted from there');
        const timer = await t.gateway.database.db.selectFrom('cascades').select('timer_at').where('id', '=', parent.id).executeTakeFirstOrThrow();
        assert.equal(Number(timer.timer_at), endMs + 60_000, "the step's timeout runs from its start");
      } finally {
        await call('PATCH', '/v1/account', { quiet_hours: null });
        await call('POST', `/v1/messages/${parent.id}/cancel`);
      }
    });

    test('delivered at the first step: the cascade ends there and later steps never start', async () => {
      const parent = await send({ to: '+79161234569', text: 'Код 5522', cascade: [{ channel: 'telegram', timeout_seconds: 30 }, { channel: 'sms' }] });
      const done = await finalOf(parent.id);
      assert.deepEqual([done.status, done.channel, done.connector, done.cascade.decided_by.step], ['delivered', 'telegram', 'tg', 1]);
      assert.deepEqual(done.cascade.steps.map((s: { message_id: string | null }) => s.message_id === null), [false, true], 'the SMS step was never started');
      const sendCodes = gateway.requests.filter((r) => r.path === '/sendVerificationMessage' && r.body.phone_number === '79161234569');
      assert.deepEqual(sendCodes.map((r) => r.body.code), ['5522'], 'Telegram Gateway sent the code itself');
      const rows = await t.gateway.database.db.selectFrom('messages').select('id').where('parent_id', '=', parent.id).execute();
      assert.equal(rows.length, 1);
    });

    test('a late receipt of an earlier step is recorded on its message and does not re-open the parent', async () => {
      const parent = await send({ to: '+79161234570', text: 'Код 8800', cascade: [{ channel: 'telegram', connector: 'tg-mute', timeout_seconds: 3 }, { channel: 'sms' }] });
      const done = await finalOf(parent.id);
      assert.deepEqual([done.status, done.channel], ['delivered', 'sms']);
      const first = await message(done.cascade.steps[0].message_id);
      assert.equal(first.status, 'sent');
      // Telegram reports the first step delivered after all, signed as Telegram signs it.
      const report = JSON.stringify({ request_id: first.parts[0].provider_message_id, delivery_status: { status: 'delivered', updated_at: Math.floor(Date.now() / 1000) } });
      const ts = String(Math.floor(Date.now() / 1000));
      const signature = createHmac('sha256', createHash('sha256').update(gateway.token).digest()).update(`${ts}\n${report}`).digest('hex');
      const posted = await t.gateway.app.inject({ method: 'POST', url: '/v1/callbacks/tg-mute', headers: { 'content-type': 'application/json', 'x-request-timestamp': ts, 'x-request-signature': signature }, payload: report });
      assert.equal(posted.statusCode, 200);
      assert.equal((await message(first.id)).status, 'delivered', 'recorded on the step\'s message');
      const again = await message(parent.id);
      assert.deepEqual([again.status, again.channel, again.cascade.decided_by.step, again.events.filter((e: { message_id: string }) => e.message_id === parent.id).length], ['delivered', 'sms', 2, done.events.filter((e: { message_id: string }) => e.message_id === parent.id).length]);
    });

    test('a SIM-swap block from the provider stops the cascade: no later step starts', async () => {
      const parent = await send({ to: '+79161230219', text: 'Код 1234', cascade: [{ channel: 'sms', connector: 'smsc', timeout_seconds: 30 }, { channel: 'whatsapp', template: { name: 'auth_code', params: ['1234'] } }] });
      const done = await finalOf(parent.id);
      assert.deepEqual([done.status, done.reason?.code, done.cascade.decided_by.step], ['undelivered', 'security_block', 1]);
      assert.equal(done.cascade.steps[1].message_id, null);
    });

    test('cancelling the parent before it is sent stops the cascade', async () => {
      const parent = await send({ to: '+79161234571', text: 'later', send_at: new Date(Date.now() + 3_600_000).toISOString(), cascade: [{ channel: 'telegram', timeout_seconds: 30 }, { channel: 'sms' }] });
      const cancelled = await call('POST', `/v1/messages/${parent.id}/cancel`);
      assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
      const done = await message(parent.id);
      assert.deepEqual([done.status, done.cascade.status], ['cancelled', 'done']);
      assert.deepEqual([done.cascade.steps[0].status, (await message(done.cascade.steps[0].message_id)).reason.code], ['cancelled', 'cascade_superseded']);
    });

    test('until read: a step stops on read, not on delivered; a delivered step stops on delivered (and its read follows to the parent)', async () => {
      // Telegram reports the code delivered, then read (numbers ending 0007): the read step ends the cascade, the parent delivered then read.
      const readParent = await send({ to: '+79161230007', text: 'Код 7007', cascade: [{ channel: 'telegram', until: 'read', timeout_seconds: 30 }, { channel: 'sms' }] });
      await waitForStatus(t.gateway, readParent.id, ['read']);
      const read = await message(readParent.id);
      assert.deepEqual([read.status, read.channel, read.cascade.decided_by.step, read.cascade.steps[1].message_id], ['read', 'telegram', 1, null]);
      const own = read.events.filter((e: { message_id: string }) => e.message_id === readParent.id).map((e: { status: string }) => e.status);
      assert.deepEqual(own.slice(-2), ['delivered', 'read'], own.join(' '));
      assert.equal((await message(read.cascade.steps[0].message_id)).status, 'read');
      // Delivered but never read within the step's timeout: the next step starts.
      const unread = await send({ to: '+79161234584', text: 'Код 8118', cascade: [{ channel: 'telegram', until: 'read', timeout_seconds: 1 }, { channel: 'sms' }] });
      const fell = await finalOf(unread.id);
      assert.deepEqual([fell.status, fell.channel, fell.cascade.decided_by.step], ['delivered', 'sms', 2]);
      assert.equal((await message(fell.cascade.steps[0].message_id)).status, 'delivered', 'delivered, not read: not enough for this step');
      // WhatsApp until delivered: delivered ends it; the read that follows (the fake reads every message) reaches the parent too.
      const waParent = await send({ to: '+79161234585', text: 'Код 5151', cascade: [{ channel: 'whatsapp', timeout_seconds: 30, template: { name: 'auth_code', params: ['5151'] } }, { channel: 'sms' }] });
      await waitForStatus(t.gateway, waParent.id, ['read']);
      const wa = await message(waParent.id);
      assert.deepEqual([wa.status, wa.channel, wa.cascade.decided_by.step, wa.cascade.steps[1].message_id], ['read', 'whatsapp', 1, null]);
    });

    test('a read report before the delivered one (WhatsApp posts out of order): the message is delivered, then read, both recorded once', async () => {
      // One step by the muted WhatsApp (it posts nothing itself): the reports are posted here, signed with its app secret.
      const parent = await send({ to: '+79161234586', text: '', cascade: [{ channel: 'whatsapp', connector: 'wa-mute', template: { name: 'auth_code', params: ['6161'] } }] });
      await waitForStatus(t.gateway, parent.id, ['sent']);
      const stepId = (await message(parent.id)).cascade.steps[0].message_id as string;
      await waitForStatus(t.gateway, stepId, ['sent']);
      // (A template message with no text of its own lists no parts in the API; its part row holds the wamid.)
      const { provider_message_id: wamid } = await t.gateway.database.db.selectFrom('message_parts').select('provider_message_id').where('message_id', '=', stepId).executeTakeFirstOrThrow();
      const post = async (status: string) => {
        const body = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: 'WABA', changes: [{ field: 'messages', value: { statuses: [{ id: wamid, status, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: '79161234586' }] } }] }] });
        const signature = `sha256=${createHmac('sha256', muteWhatsapp.appSecret).update(body).digest('hex')}`;
        const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/callbacks/wa-mute', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature }, payload: body });
        assert.equal(res.statusCode, 200, res.body);
      };
      await post('read');
      await post('delivered');
      await post('read');
      const step = await message(stepId);
      assert.equal(step.status, 'read');
      assert.deepEqual(step.events.map((e: { status: string }) => e.status), ['accepted', 'queued', 'sent', 'delivered', 'read']);
      assert.ok(step.delivered_at !== null);
      const done = await message(parent.id);
      assert.deepEqual([done.status, done.channel], ['read', 'whatsapp']);
      assert.deepEqual(done.events.filter((e: { message_id: string }) => e.message_id === parent.id).map((e: { status: string }) => e.status), ['accepted', 'queued', 'sent', 'delivered', 'read']);
    });

    test('an ended verification revokes its Telegram Gateway codes: checked valid by another step, too many wrong codes, expired', async () => {
      const revokeOf = (requestId: string) => gateway.requestTo('/revokeVerificationMessage', (b) => b.request_id === requestId);
      const requestIdOf = async (messageId: string) =>
        (await t.gateway.database.db.selectFrom('message_parts').select('provider_message_id').where('message_id', '=', messageId).executeTakeFirstOrThrow()).provider_message_id;
      // Telegram (muted: sent, never reported delivered) times out, the code goes by SMS and is typed from it: Telegram's code is revoked.
      assert.equal((await call('PATCH', '/v1/account', { default_cascade: [{ channel: 'telegram', connector: 'tg-mute', timeout_seconds: 1 }, { channel: 'sms' }] })).status, 200);
      const bySms = await call('POST', '/v1/verifications', { to: '+79161234590', code: '902211' });
      assert.equal(bySms.status, 201, JSON.stringify(bySms.body));
      assert.equal((await call('PATCH', '/v1/account', { default_cascade: null })).status, 200);
      const viaSms = await finalOf(bySms.body.message_id);
      assert.deepEqual([viaSms.status, viaSms.channel], ['delivered', 'sms']);
      const tgStep = await message(viaSms.cascade.steps[0].message_id);
      assert.equal((await call('POST', `/v1/verifications/${bySms.body.id}/check`, { code: '902211' })).body.result, 'valid');
      if (tgStep.status === 'sent') {
        const revoke = await revokeOf(await requestIdOf(tgStep.id));
        assert.equal(revoke.headers.authorization, `Bearer ${gateway.token}`);
      } // (withdrawn unsent on a slow machine: Telegram never had it, nothing to revoke)

      // Five wrong codes: the verification fails, and the code Telegram delivered is revoked.
      const guessed = await call('POST', '/v1/verifications', { to: '+79161234591', channel: 'telegram', code: '313131' });
      assert.equal(guessed.status, 201, JSON.stringify(guessed.body));
      await waitForStatus(t.gateway, guessed.body.message_id, ['delivered']);
      const results: string[] = [];
      for (let i = 0; i < 5; i++) results.push((await call('POST', `/v1/verifications/${guessed.body.id}/check`, { code: '000000' })).body.result);
      assert.deepEqual(results, ['invalid', 'invalid', 'invalid', 'invalid', 'too_many_attempts']);
      await revokeOf(await requestIdOf(guessed.body.message_id));

      // Never checked: when its lifetime is over (moved into the past here) it is marked expired and its code revoked.
      const idle = await call('POST', '/v1/verifications', { to: '+79161234592', channel: 'telegram', code: '424242' });
      await waitForStatus(t.gateway, idle.body.message_id, ['delivered']);
      const requestId = await requestIdOf(idle.body.message_id);
      assert.ok(!gateway.requests.some((r) => r.path === '/revokeVerificationMessage' && r.body.request_id === requestId), 'not revoked while it may still be checked');
      const past = Date.now() - 1000;
      await t.gateway.database.db.updateTable('verifications').set({ expires_at: past, sweep_at: past }).where('id', '=', idle.body.id).execute();
      await revokeOf(requestId);
      // The sweeper marks it after Telegram answered the revoke; no event tells of that write, so it is looked for (bounded).
      for (let deadline = Date.now() + 10_000; (await call('GET', `/v1/verifications/${idle.body.id}`)).body.status !== 'expired'; ) {
        assert.ok(Date.now() < deadline, 'marked expired within 10 s');
        await delay(20);
      }
      assert.equal((await call('POST', `/v1/verifications/${idle.body.id}/check`, { code: '424242' })).body.result, 'expired');
      // Each was handled once: it left the sweep.
      const left = await t.gateway.database.db.selectFrom('verifications').select('sweep_at').where('id', 'in', [bySms.body.id, guessed.body.id, idle.body.id]).execute();
      assert.deepEqual(left.map((r) => r.sweep_at), [null, null, null]);
    });

    test('a verification checked valid while its cascade still waits on a step: no later step starts', async () => {
      assert.equal((await call('PATCH', '/v1/account', { default_cascade: [{ channel: 'telegram', connector: 'tg-mute', timeout_seconds: 30 }, { channel: 'sms' }] })).status, 200);
      const v = await call('POST', '/v1/verifications', { to: '+79161234593', code: '515151' });
      assert.equal((await call('PATCH', '/v1/account', { default_cascade: null })).status, 200);
      assert.equal(v.status, 201, JSON.stringify(v.body));
      const parentId = v.body.message_id as string;
      await waitForStatus(t.gateway, parentId, ['sent']);
      // The user had the code from Telegram before its delivery report came.
      assert.equal((await call('POST', `/v1/verifications/${v.body.id}/check`, { code: '515151' })).body.result, 'valid');
      // The sweeper handles the end; no event tells of that write, so it is looked for (bounded).
      const db = t.gateway.database.db;
      for (let deadline = Date.now() + 10_000; (await db.selectFrom('verifications').select('sweep_at').where('id', '=', v.body.id).executeTakeFirstOrThrow()).sweep_at !== null; ) {
        assert.ok(Date.now() < deadline, 'handled within 10 s');
        await delay(20);
      }
      const row = await db.selectFrom('cascades').select(['status', 'step', 'timer_at', 'steps']).where('id', '=', parentId).executeTakeFirstOrThrow();
      assert.deepEqual([row.status, row.step, row.timer_at, (JSON.parse(row.steps) as { dropped?: boolean }[]).map((s) => s.dropped ?? false)], ['running', 1, null, [false, true]], 'the SMS step is dropped and no timer is left to start it');
      // Telegram's report comes after all: the cascade ends by Telegram, as its last step now.
      const first = await message(parentId);
      const tgStep = await message(first.cascade.steps[0].message_id);
      assert.equal(tgStep.status, 'sent');
      const report = JSON.stringify({ request_id: tgStep.parts[0].provider_message_id, delivery_status: { status: 'delivered', updated_at: Math.floor(Date.now() / 1000) } });
      const ts = String(Math.floor(Date.now() / 1000));
      const signature = createHmac('sha256', createHash('sha256').update(gateway.token).digest()).update(`${ts}\n${report}`).digest('hex');
      const posted = await t.gateway.app.inject({ method: 'POST', url: '/v1/callbacks/tg-mute', headers: { 'content-type': 'application/json', 'x-request-timestamp': ts, 'x-request-signature': signature }, payload: report });
      assert.equal(posted.statusCode, 200);
      const done = await message(parentId);
      assert.deepEqual([done.status, done.channel, done.cascade.status, done.cascade.steps[1].message_id], ['delivered', 'telegram', 'done', null]);
    });

    /** A new account with `amount` on its balance and its own price per part of each channel given. */
    const priced = async (amount: string, prices: Record<string, string>) => {
      const a = await t.makeAccount('Priced cascades');
      assert.equal((await call('POST', '/v1/balance/entries', { account_id: a.accountId, kind: 'top_up', amount })).status, 201);
      for (const [channel, price] of Object.entries(prices)) assert.equal((await call('PUT', '/v1/prices', { account_id: a.accountId, channel, price })).status, 200);
      return a;
    };
    const ledgerOf = async (key: string) =>
      ((await call('GET', '/v1/balance/entries?limit=100', undefined, key)).body.data as { kind: string; amount: string; message_id: string | null }[]).reverse();
    const sendAs = async (key: string, body: Record<string, unknown>) => {
      const res = await call('POST', '/v1/messages', body, key);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      return res.body as { id: string; status: string };
    };

    test('each step that is sent is reserved and charged at its channel\'s price; a step never started costs nothing; the parent costs nothing', async () => {
      const a = await priced('10.00', { telegram: '1.00', sms: '0.50' });
      // Telegram times out (never reported on), so SMS goes too: both are paid for.
      const both = await sendAs(a.apiKey, { to: '+79161234580', text: 'Код 1357', cascade: [{ channel: 'telegram', connector: 'tg-mute', timeout_seconds: 1 }, { channel: 'sms' }] });
      const done = await finalOf(both.id, 15_000, a.apiKey);
      assert.deepEqual([done.status, done.channel], ['delivered', 'sms']);
      const [tgId, smsId] = done.cascade.steps.map((s: { message_id: string }) => s.message_id);
      const entries = await ledgerOf(a.apiKey);
      assert.ok(!entries.some((e) => e.message_id === both.id), 'nothing is reserved or charged for the parent');
      const tg = entries.filter((e) => e.message_id === tgId).map((e) => [e.kind, e.amount]);
      const tgStatus = (await message(tgId, a.apiKey)).status;
      // On a slow machine the Telegram step may still wait for its send at the timeout: then it is withdrawn and refunded.
      assert.deepEqual(tg, tgStatus === 'cancelled' ? [['reserve', '-1.00'], ['refund', '1.00']] : [['reserve', '-1.00'], ['charge', '-1.00']], `${tgStatus}: ${JSON.stringify(tg)}`);
      assert.deepEqual(entries.filter((e) => e.message_id === smsId).map((e) => [e.kind, e.amount]), [['reserve', '-0.50'], ['charge', '-0.50']]);
      assert.equal((await message(smsId, a.apiKey)).price, '0.50');
      // Delivered at the first step: the SMS step never starts and costs nothing.
      const first = await sendAs(a.apiKey, { to: '+79161234581', text: 'Код 2468', cascade: [{ channel: 'telegram', timeout_seconds: 30 }, { channel: 'sms' }] });
      const one = await finalOf(first.id, 15_000, a.apiKey);
      assert.deepEqual([one.status, one.channel, one.cascade.steps[1].message_id], ['delivered', 'telegram', null]);
      const after = await ledgerOf(a.apiKey);
      assert.deepEqual(after.slice(entries.length).map((e) => [e.kind, e.amount, e.message_id]), [['reserve', '-1.00', one.cascade.steps[0].message_id], ['charge', '-1.00', one.cascade.steps[0].message_id]]);
      const spent = tgStatus === 'cancelled' ? 0.5 + 1 : 1 + 0.5 + 1;
      assert.equal((await call('GET', '/v1/balance', undefined, a.apiKey)).body.amount, (10 - spent).toFixed(2));
    });

    test('a step refused by the provider at once is refunded, and the next step is reserved and charged', async () => {
      const a = await priced('10.00', { telegram: '1.00', sms: '0.50' });
      const parent = await sendAs(a.apiKey, { to: '+79161230002', text: 'Код 4711', cascade: [{ channel: 'telegram', timeout_seconds: 60 }, { channel: 'sms', to: '+79161234582' }] });
      const done = await finalOf(parent.id, 15_000, a.apiKey);
      assert.deepEqual([done.status, done.channel], ['delivered', 'sms']);
      const [tgId, smsId] = done.cascade.steps.map((s: { message_id: string }) => s.message_id);
      const entries = await ledgerOf(a.apiKey);
      assert.deepEqual(entries.map((e) => [e.kind, e.amount, e.message_id]), [
        ['top_up', '10.00', null],
        ['reserve', '-1.00', tgId],
        ['refund', '1.00', tgId],
        ['reserve', '-0.50', smsId],
        ['charge', '-0.50', smsId],
      ]);
      assert.equal((await call('GET', '/v1/balance', undefined, a.apiKey)).body.amount, '9.50');
    });

    test('a step the balance does not cover ends the cascade: the parent and that step fail with insufficient_balance, nothing is reserved for it', async () => {
      const a = await priced('1.00', { telegram: '1.00', sms: '0.50' });
      const parent = await sendAs(a.apiKey, { to: '+79161234583', text: 'Код 9753', cascade: [{ channel: 'telegram', connector: 'tg-mute', timeout_seconds: 1 }, { channel: 'sms' }] });
      const done = await finalOf(parent.id, 15_000, a.apiKey);
      const tgStatus = (await message(done.cascade.steps[0].message_id, a.apiKey)).status;
      if (tgStatus === 'cancelled') {
        // The Telegram step was withdrawn unsent at its timeout: its refund paid for the SMS, which went.
        assert.deepEqual([done.status, done.channel], ['delivered', 'sms']);
        return;
      }
      assert.deepEqual([done.status, done.reason?.code, done.channel, done.cascade.status, done.cascade.decided_by.step], ['failed', 'insufficient_balance', 'sms', 'done', 2]);
      const stored = await t.gateway.database.db.selectFrom('messages').select('reason_detail').where('id', '=', parent.id).executeTakeFirstOrThrow();
      assert.match(stored.reason_detail ?? '', /step 2 \(sms\) costs 0\.50 RUB, 0\.00 RUB available/);
      const smsStep = await message(done.cascade.steps[1].message_id, a.apiKey);
      assert.deepEqual([smsStep.status, smsStep.reason.code, smsStep.sent_at, smsStep.parts[0].provider_message_id], ['failed', 'insufficient_balance', null, null]);
      const entries = await ledgerOf(a.apiKey);
      assert.deepEqual(entries.map((e) => [e.kind, e.amount, e.message_id]), [
        ['top_up', '1.00', null],
        ['reserve', '-1.00', done.cascade.steps[0].message_id],
        ['charge', '-1.00', done.cascade.steps[0].message_id],
      ]);
      assert.equal((await call('GET', '/v1/balance', undefined, a.apiKey)).body.amount, '0.00');
      const timeline = done.events.map((e: { status: string; step?: number; reason: string | null }) => `${e.step ?? 0}:${e.status}${e.reason ? `:${e.reason}` : ''}`);
      assert.ok(timeline.includes('2:failed:insufficient_balance') && timeline.includes('0:failed:insufficient_balance'), timeline.join(' '));
    });

    test('bad cascades are refused with the field named', async () => {
      const bad = async (body: Record<string, unknown>) => {
        const res = await call('POST', '/v1/messages', { to: '+79161234567', text: 'x', ...body });
        return [res.status, res.body.error.code, res.body.error.details[0]?.field];
      };
      assert.deepEqual(await bad({ cascade: [{ channel: 'telegram' }, { channel: 'sms' }] }), [422, 'cascade_invalid', 'cascade.0.timeout_seconds']);
      assert.deepEqual(await bad({ channel: 'sms', cascade: [{ channel: 'sms' }] }), [422, 'cascade_invalid', 'channel']);
      assert.deepEqual(await bad({ cascade: [{ channel: 'sms', connector: 'nobody' }] }), [422, 'unknown_connector', 'cascade.0.connector']);
      assert.deepEqual(await bad({ cascade: [{ channel: 'email', timeout_seconds: 5 }, { channel: 'sms' }] }), [422, 'invalid_recipient', 'cascade.0.to']);
      assert.deepEqual(await bad({ cascade: [{ channel: 'sms', until: 'seen' }] }), [400, 'validation_failed', 'cascade.0.until']);
      assert.deepEqual(await bad({ cascade: [] }), [400, 'validation_failed', 'cascade']);
      const bulk = await call('POST', '/v1/messages/bulk', { messages: [{ to: '+79161234572', text: 'a', cascade: [{ channel: 'telegram', connector: 'tg-mute', timeout_seconds: 1 }, { channel: 'sms' }] }, { to: '+79161234573', text: 'b' }] });
      assert.deepEqual([bulk.status, bulk.body.accepted, bulk.body.rejected], [202, 2, 0]);
      const batch = (await call('GET', `/v1/batches/${bulk.body.batch_id}`)).body;
      assert.equal(batch.accepted, 2, 'a cascade is one item of its batch');
      assert.equal((await finalOf(bulk.body.messages[0].id)).channel, 'sms');
    });

    test('verifications by cascade: the channel order given, the account\'s default cascade, Telegram Gateway\'s own code', async () => {
      const byOrder = await call('POST', '/v1/verifications', { to: '+79161234574', channels: ['telegram', 'sms'], code: '246810' });
      assert.equal(byOrder.status, 201, JSON.stringify(byOrder.body));
      assert.deepEqual([byOrder.body.channel, byOrder.body.channels], ['telegram', ['telegram', 'sms']]);
      const viaTelegram = await finalOf(byOrder.body.message_id);
      assert.deepEqual([viaTelegram.status, viaTelegram.channel], ['delivered', 'telegram']);
      assert.equal(gateway.requests.filter((r) => r.path === '/sendVerificationMessage' && r.body.phone_number === '79161234574').at(-1)!.body.code, '246810');
      assert.equal((await call('POST', `/v1/verifications/${byOrder.body.id}/check`, { code: '246810' })).body.result, 'valid');

      const patched = await call('PATCH', '/v1/account', { default_cascade: [{ channel: 'whatsapp', connector: 'wa-mute', timeout_seconds: 1, template: { name: 'auth_code' } }, { channel: 'sms' }] });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.equal(patched.body.default_cascade.length, 2);
      const byDefault = await call('POST', '/v1/verifications', { to: '+79161234575', code_length: 6 });
      assert.equal(byDefault.status, 201, JSON.stringify(byDefault.body));
      assert.deepEqual(byDefault.body.channels, ['whatsapp', 'sms']);
      const viaSms = await finalOf(byDefault.body.message_id);
      assert.deepEqual([viaSms.status, viaSms.channel], ['delivered', 'sms']);
      const waStep = await message(viaSms.cascade.steps[0].message_id);
      const code = waStep.template.params[0] as string;
      assert.match((await message(viaSms.cascade.steps[1].message_id)).text, new RegExp(code), 'the same code by both channels');
      assert.equal((await call('POST', `/v1/verifications/${byDefault.body.id}/check`, { code })).body.result, 'valid');

      const noTimeout = await call('PATCH', '/v1/account', { default_cascade: [{ channel: 'telegram' }, { channel: 'sms' }] });
      assert.deepEqual([noTimeout.status, noTimeout.body.error.code], [422, 'invalid_setting']);
      assert.equal((await call('PATCH', '/v1/account', { default_cascade: null })).body.default_cascade, null);
      const smsAlone = await call('POST', '/v1/verifications', { to: '+79161234576' });
      assert.deepEqual([smsAlone.body.channels, (await message(smsAlone.body.message_id)).channel], [['sms'], 'sms']);
      const waNoTemplate = await call('POST', '/v1/verifications', { to: '+79161234577', channels: ['whatsapp', 'sms'] });
      assert.deepEqual([waNoTemplate.status, waNoTemplate.body.error.code, waNoTemplate.body.error.details[0].field], [422, 'verification_needs_template', 'channels.0']);
    });
  });
}

// ---------------------------------------------------------------- restarts

const ROOT = path.resolve(import.meta.dirname, '..');
const NODE = path.join(ROOT, 'node_modules', '.bin', 'node');
const RESTART_KEY = 'cascade_restart_test_key_0123456789';

interface Server {
  child: ChildProcess;
  base: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});


/** `node src/main.ts start` on the data directory; resolves once /readyz answers 200. */
async function startServer(dataDir: string, configFile: string): Promise<Server> {
  const port = await freePort();
  const child = spawn(NODE, ['src/main.ts', 'start'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? tmpdir(),
      DEPESHA_DATA_DIR: dataDir,
      DEPESHA_CONFIG: configFile,
      PORT: String(port),
      SMPP_PORT: '0',
      HOST: '127.0.0.1',
      DEPESHA_BOOTSTRAP_API_KEY: RESTART_KEY,
      LOG_LEVEL: 'warn',
      DEPESHA_SANDBOX_RECEIPT_DELAY_MS: '50',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (c: string) => stderr.push(c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited: ${stderr.join('')}`);
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`server not ready in 30 s: ${stderr.join('')}`);
    await delay(50); // polling for readiness: there is no event to wait on from outside the process
  }
  return { child, base, exited };
}

describe('cascades across a crash', () => {
  test('SIGKILL while the first steps wait for their timeout: after the restart every cascade goes on to SMS exactly once', { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'depesha-cascade-crash-'));
    const muted = new FakeWhatsApp();
    const url = await muted.start();
    const configFile = path.join(dataDir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        connectors: [{ id: 'wa-mute', type: 'whatsapp', base_url: url, phone_number_id: '1055', secrets: { access_token: muted.accessToken, app_secret: muted.appSecret, verify_token: 'v' } }],
        routes: [{ connector: 'sandbox' }, { channel: 'whatsapp', connector: 'wa-mute' }],
      }),
    );
    const auth = { authorization: `Bearer ${RESTART_KEY}`, 'content-type': 'application/json' };
    const get = async (base: string, id: string) => (await (await fetch(`${base}/v1/messages/${id}`, { headers: auth })).json()) as { status: string; channel: string; cascade: { status: string; steps: { status: string | null; message_id: string | null }[] } };
    try {
      const first = await startServer(dataDir, configFile);
      const numbers = Array.from({ length: 12 }, (_, i) => `+791612340${String(10 + i)}`);
      const cascade = (to: string) => ({ to, text: 'Код 4711', cascade: [{ channel: 'whatsapp', timeout_seconds: 5, template: { name: 'auth_code', params: ['4711'] } }, { channel: 'sms' }] });
      const post = async (to: string) => {
        const res = await fetch(`${first.base}/v1/messages`, { method: 'POST', headers: auth, body: JSON.stringify(cascade(to)) });
        assert.equal(res.status, 202);
        return ((await res.json()) as { id: string }).id;
      };
      // Most wait on their WhatsApp step's timeout when the kill comes; the last few are hardly accepted.
      const waiting = await Promise.all(numbers.slice(0, 9).map(post));
      for (const id of waiting) {
        for (let m = await get(first.base, id); m.cascade.steps[0]!.status !== 'sent'; m = await get(first.base, id)) {
          assert.notEqual(m.cascade.steps[0]!.status, 'cancelled', 'the WhatsApp step was sent before its timeout');
          await delay(20); // polling another process
        }
      }
      const fresh = await Promise.all(numbers.slice(9).map(post));
      first.child.kill('SIGKILL');
      assert.deepEqual(await first.exited, { code: null, signal: 'SIGKILL' });

      const second = await startServer(dataDir, configFile);
      const parents = [...waiting, ...fresh];
      const deadline = Date.now() + 30_000;
      for (const id of parents) {
        for (let m = await get(second.base, id); m.cascade.status !== 'done'; m = await get(second.base, id)) {
          assert.ok(Date.now() < deadline, `cascade ${id} not done 30 s after the restart: ${JSON.stringify(m.cascade)}`);
          await delay(50); // polling another process
        }
      }
      const smsIds = new Set<string>();
      for (const id of parents) {
        const m = await get(second.base, id);
        assert.deepEqual([m.status, m.channel, m.cascade.steps.map((s) => s.status)], ['delivered', 'sms', ['sent', 'delivered']], id);
        smsIds.add(m.cascade.steps[1]!.message_id!);
      }
      // Exactly once: one message per step in the store, and one SMS send per cascade at the sandbox.
      const res = await fetch(`${second.base}/v1/messages?limit=1000`, { headers: auth });
      const all = ((await res.json()) as { data: { id: string; parent_id?: string; cascade_step?: number }[] }).data;
      for (const id of parents) assert.deepEqual(all.filter((m) => m.parent_id === id).map((m) => m.cascade_step).sort(), [1, 2], id);
      const journal = readFileSync(path.join(dataDir, 'sandbox-journal.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { t: string; key?: string; providerId: string });
      const sent = new Map<string, Set<string>>();
      for (const l of journal) if (l.t === 's') sent.set(l.key!, (sent.get(l.key!) ?? new Set()).add(l.providerId));
      assert.deepEqual([...sent.keys()].map((k) => k.split(':')[0]).sort(), [...smsIds].sort(), 'the sandbox sent exactly the SMS steps');
      assert.ok([...sent.values()].every((ids) => ids.size === 1), 'each once');
      for (const to of numbers.slice(0, 9)) assert.equal(muted.requests.filter((r) => r.body.to === to.slice(1)).length, 1, `one WhatsApp send to ${to}`);
      second.child.kill('SIGTERM');
      assert.equal((await second.exited).code, 0);
    } finally {
      await muted.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
