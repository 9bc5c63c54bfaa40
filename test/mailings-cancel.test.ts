/**
 * Cancelling a mailing whose messages wait for their recipients' local time:
 * the answer comes at once, the messages are cancelled in the background a
 * page of 1,000 recipients at a time (more than two pages here), another
 * mailing's are not touched, and a cancel cut short by a restart goes on from
 * where its cursor stood. (A cancel beside cascades, sent messages and the
 * ledger is in test/mailings-cascade.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dialects, startTestGateway, type TestGateway, until } from './helpers.ts';

const phone = (i: number) => `+7916${String(20_000_000 + i).slice(1)}`;

for (const dialect of await dialects()) {
  describe(`cancelling a mailing on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    const call = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
      const res = await t.gateway.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${t.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: res.body === '' ? null : res.json() };
    };
    const db = () => t.gateway.database.db;
    /** A project of `count` contacts in Los Angeles and a mailing at the UTC wall clock of now in each one's zone: every message held for hours. */
    const heldMailing = async (code: string, count: number) => {
      const p = (await call('POST', '/v1/projects', { name: code, code })).body;
      const rows = Array.from({ length: count }, (_, i) => `${code}${i},${phone(i)},America/Los_Angeles`);
      const res = await t.gateway.app.inject({ method: 'POST', url: `/v1/contacts/import?project_id=${p.id}`, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'text/csv' }, payload: ['guid,phone,time_zone', ...rows].join('\n') });
      assert.equal(res.statusCode, 200, res.body);
      const tpl = (await call('POST', '/v1/templates', { project_id: p.id, channel: 'sms', name: 't', text: 'Доброе утро!' })).body;
      const mailing = async () => {
        const m = (await call('POST', '/v1/mailings', { project_id: p.id, template_id: tpl.id, name: code, channels: ['sms'], start_at: new Date().toISOString(), time_zone: 'UTC', local_time: true, traffic_type: 'service' })).body;
        assert.equal((await call('POST', `/v1/mailings/${m.id}/schedule`)).status, 200);
        await until(`${code} finished`, async () => ((await call('GET', `/v1/mailings/${m.id}`)).body.status === 'finished' ? true : undefined));
        return m.id as string;
      };
      return { mailing };
    };
    const byStatus = async (mailingId: string) => {
      const rows = await db().selectFrom('messages').select(['status', 'reason_code']).where('mailing_id', '=', mailingId).execute();
      const out: Record<string, number> = {};
      for (const r of rows) out[`${r.status}${r.reason_code ? `/${r.reason_code}` : ''}`] = (out[`${r.status}${r.reason_code ? `/${r.reason_code}` : ''}`] ?? 0) + 1;
      return out;
    };
    const settled = (id: string) => until(`mailing ${id} done cancelling`, async () => ((await call('GET', `/v1/mailings/${id}`)).body.cancelling === false ? true : undefined));

    before(async () => {
      t = await startTestGateway(dialect.name);
    });
    after(async () => t?.close());

    test('2,500 held messages: the cancel answers at once (cancelling), the pages cancel every one with mailing_cancelled, another mailing\'s stay', async () => {
      const made = await heldMailing('BIG', 2500);
      const first = await made.mailing();
      const second = await made.mailing();
      assert.deepEqual(await byStatus(first), { accepted: 2500 });
      const cancelled = await call('POST', `/v1/mailings/${first}/cancel`);
      assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
      assert.deepEqual([cancelled.body.status, cancelled.body.cancelling], ['cancelled', true], 'answered before its messages are done');
      await settled(first);
      assert.deepEqual(await byStatus(first), { 'cancelled/mailing_cancelled': 2500 });
      assert.equal((await call('GET', `/v1/mailings/${first}/stats`)).body.messages.cancelled, 2500);
      assert.deepEqual(await byStatus(second), { accepted: 2500 }, 'the other mailing of the same contacts is untouched');
      // The events are there, one per message, and the recipients show the status.
      const events = await db().selectFrom('message_events').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'cancelled').where('reason_code', '=', 'mailing_cancelled').executeTakeFirstOrThrow();
      assert.equal(Number(events.n), 2500);
      const recipients = (await call('GET', `/v1/mailings/${first}/recipients?limit=5`)).body.data as { message_status: string }[];
      assert.deepEqual(recipients.map((r) => r.message_status), Array(5).fill('cancelled'));
      assert.equal((await call('POST', `/v1/mailings/${second}/cancel`)).status, 200);
      await settled(second);
      assert.deepEqual(await byStatus(second), { 'cancelled/mailing_cancelled': 2500 });
    });

    test('a cancel cut short goes on after a restart from its cursor, not from the start', async () => {
      const made = await heldMailing('CUT', 1200);
      const id = await made.mailing();
      const contacts = await db().selectFrom('mailing_recipients').select(['contact_id', 'message_id']).where('mailing_id', '=', id).orderBy('contact_id').execute();
      assert.equal(contacts.length, 1200);
      // As the delivery side leaves it when stopped after the first 600 recipients: marked cancelled, the cursor at the 600th.
      await db().updateTable('mailings').set({ status: 'cancelled', cancel_cursor: `1:${contacts[599]!.contact_id}` }).where('id', '=', id).execute();
      await t.restart();
      await settled(id);
      const statuses = new Map((await db().selectFrom('messages').select(['id', 'status']).where('mailing_id', '=', id).execute()).map((m) => [m.id, m.status]));
      assert.deepEqual([...new Set(contacts.slice(0, 600).map((c) => statuses.get(c.message_id!)))], ['accepted'], 'before the cursor: done before the stop (here left as they were)');
      assert.deepEqual([...new Set(contacts.slice(600).map((c) => statuses.get(c.message_id!)))], ['cancelled']);
      // Leave nothing held behind: the whole mailing again.
      await db().updateTable('mailings').set({ cancel_cursor: '' }).where('id', '=', id).execute();
      await t.restart();
      await settled(id);
      assert.deepEqual(await byStatus(id), { 'cancelled/mailing_cancelled': 1200 });
    });

    test('a mailing the runner cancels itself (its template is gone) has its held messages cancelled as a user\'s cancel does', async () => {
      const made = await heldMailing('GONE', 3);
      const base = await db().selectFrom('mailings').select(['project_id', 'template_id']).where('id', '=', await made.mailing()).executeTakeFirstOrThrow();
      const own = (await call('POST', '/v1/templates', { project_id: base.project_id, channel: 'sms', name: 'own', text: 'Своё' })).body;
      // Two a second: the first recipients' messages are accepted (held for their local time) while the run goes on.
      const m = (await call('POST', '/v1/mailings', { ...base, templates: { sms: own.id }, name: 'gone', channels: ['sms'], start_at: new Date().toISOString(), time_zone: 'UTC', local_time: true, traffic_type: 'service', throttle_per_minute: 120 })).body;
      assert.equal((await call('POST', `/v1/mailings/${m.id}/schedule`)).status, 200, JSON.stringify(m));
      await until('the first message', async () => ((await byStatus(m.id)).accepted ? true : undefined));
      // Gone behind the API's back (the runner's check is what is tested here).
      await db().deleteFrom('templates').where('id', '=', own.id).execute();
      await until('cancelled by the runner', async () => ((await call('GET', `/v1/mailings/${m.id}`)).body.status === 'cancelled' ? true : undefined));
      await settled(m.id);
      const statuses = await byStatus(m.id);
      assert.deepEqual(Object.keys(statuses), ['cancelled/mailing_cancelled'], JSON.stringify(statuses));
    });

    test('pause cancels nothing, cancel from paused does; a draft cancels at once', async () => {
      const made = await heldMailing('PAUSE', 3);
      const tpl = (await db().selectFrom('mailings').select(['project_id', 'template_id']).where('id', '=', await made.mailing()).executeTakeFirstOrThrow());
      // One a minute: the first recipient's message is accepted (held), the others wait for the throttle.
      const m = (await call('POST', '/v1/mailings', { ...tpl, name: 'slow', channels: ['sms'], start_at: new Date().toISOString(), time_zone: 'UTC', local_time: true, traffic_type: 'service', throttle_per_minute: 1 })).body;
      await call('POST', `/v1/mailings/${m.id}/schedule`);
      await until('the first message', async () => ((await byStatus(m.id)).accepted === 1 ? true : undefined));
      assert.equal((await call('POST', `/v1/mailings/${m.id}/pause`)).body.status, 'paused');
      assert.deepEqual([(await call('GET', `/v1/mailings/${m.id}`)).body.cancelling, await byStatus(m.id)], [false, { accepted: 1 }], 'held as it was');
      assert.equal((await call('POST', `/v1/mailings/${m.id}/cancel`)).body.status, 'cancelled');
      await settled(m.id);
      assert.deepEqual(await byStatus(m.id), { 'cancelled/mailing_cancelled': 1 });
      const draft = (await call('POST', '/v1/mailings', { ...tpl, name: 'draft', channels: ['sms'] })).body;
      assert.equal((await call('POST', `/v1/mailings/${draft.id}/cancel`)).body.status, 'cancelled');
      await settled(draft.id);
    });
  });

  describe(`cancelling a mailing while a sender holds its message, on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    before(async () => {
      // A submit takes 1.5 s (the message is in the sender's hands that long); a retry waits 0.5–1 s.
      t = await startTestGateway(dialect.name, { DEPESHA_SANDBOX_SEND_LATENCY_MS: '1500', DEPESHA_RETRY_INITIAL_DELAY_MS: '1000' });
    });
    after(async () => t?.close());

    test('a message in a sender\'s hands at the cancel goes on; when its attempt fails for a retry, it is cancelled before the retry', async () => {
      const call = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
        const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${t.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
        return { status: res.statusCode, body: res.body === '' ? null : res.json() };
      };
      const p = (await call('POST', '/v1/projects', { name: 'HELD', code: 'HELD' })).body;
      // Sandbox 0001: the first attempt is throttled (temporary), the retry would be delivered.
      const res = await t.gateway.app.inject({ method: 'POST', url: `/v1/contacts/import?project_id=${p.id}`, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'text/csv' }, payload: 'guid,phone\nh1,+79161230001' });
      assert.equal(res.statusCode, 200, res.body);
      const tpl = (await call('POST', '/v1/templates', { project_id: p.id, channel: 'sms', name: 't', text: 'Сейчас' })).body;
      const m = (await call('POST', '/v1/mailings', { project_id: p.id, template_id: tpl.id, name: 'held', channels: ['sms'], start_at: new Date().toISOString(), traffic_type: 'service' })).body;
      await call('POST', `/v1/mailings/${m.id}/schedule`);
      const db = t.gateway.database.db;
      const held = await until('the message in a sender\'s hands', async () => db.selectFrom('messages').select(['id', 'status', 'lease_until']).where('mailing_id', '=', m.id).where('status', '=', 'queued').where('lease_until', 'is not', null).executeTakeFirst());
      assert.equal((await call('POST', `/v1/mailings/${m.id}/cancel`)).body.status, 'cancelled');
      const final = await until('the message final', async () => {
        const msg = (await call('GET', `/v1/messages/${held.id}`)).body;
        return ['cancelled', 'delivered'].includes(msg.status) ? msg : undefined;
      });
      assert.deepEqual([final.status, final.reason?.code], ['cancelled', 'mailing_cancelled']);
      assert.deepEqual((final.events as { status: string }[]).map((e) => e.status), ['accepted', 'queued', 'queued', 'cancelled'], 'taken, throttled (back to queued for a retry), then cancelled instead of retried');
      assert.equal(final.attempts ?? 1, 1, 'one attempt');
    });
  });
}
