import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CommandStatus } from '../src/smpp/pdu.ts';
import { bindClient } from '../src/smpp/session.ts';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

const pipelines: { pipeline: string; env: Record<string, string> }[] = [
  { pipeline: 'thread', env: {} },
  { pipeline: 'inline', env: { DEPESHA_PIPELINE: 'inline' } },
];

for (const dialect of await dialects()) {
  for (const { pipeline, env } of pipelines) {
    describe(`POST /v1/messages/{id}/cancel on ${dialect.name}, ${pipeline} pipeline`, { skip: dialect.skip }, () => {
      let t: TestGateway;
      const api = async (method: string, url: string, payload?: unknown, key = t.apiKey) => {
        const res = await t.gateway.app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${key}` }, ...(payload === undefined ? {} : { payload: payload as object }) });
        return { status: res.statusCode, body: res.json() };
      };
      const later = (ms = 3_600_000) => new Date(Date.now() + ms).toISOString();
      const send = async (body: Record<string, unknown>) => {
        const res = await api('POST', '/v1/messages', { to: '+79161234567', text: 'hello', ...body });
        assert.equal(res.status, 202);
        return res.body.id as string;
      };
      const db = () => t.gateway.database.db;

      before(async () => {
        t = await startTestGateway(dialect.name, env, { smpp: true });
      });
      after(() => t.close());

      test('an accepted message waiting for its send_at is cancelled: the answer, the timeline, the bus, and it is never sent', async () => {
        // An hour ahead, so that however loaded the machine it is cancelled before it is due (the test makes it due below).
        const id = await send({ send_at: later() });
        const heard: string[] = [];
        const off = t.gateway.bus.onStatus((changes) => {
          for (const c of changes) if (c.messageId === id) heard.push(`${c.status}:${c.eventId}`);
        });
        const res = await api('POST', `/v1/messages/${id}/cancel`);
        off();
        assert.equal(res.status, 200);
        assert.equal(res.body.id, id);
        assert.equal(res.body.status, 'cancelled');
        assert.equal(res.body.reason.code, 'cancelled_by_client');
        assert.ok(res.body.completed_at);
        // The change was on the bus by the time the answer came, with the id of its stored event.
        const events = await db().selectFrom('message_events').select(['id', 'status']).where('message_id', '=', id).execute();
        assert.deepEqual(events.map((e) => e.status), ['cancelled']);
        assert.deepEqual(heard, [`cancelled:${events[0]!.id}`]);
        // Its send_at passes (made so in the store): a message the scheduler finds after that is delivered, and this one is still cancelled and never sent.
        await db().updateTable('messages').set({ due_at: Date.now() - 1, send_at: Date.now() - 1 }).where('id', '=', id).execute();
        const next = await send({ send_at: later(300) });
        await waitForStatus(t.gateway, next, ['delivered']);
        const row = await db().selectFrom('messages').select(['status', 'sent_at', 'attempts']).where('id', '=', id).executeTakeFirstOrThrow();
        assert.deepEqual({ ...row }, { status: 'cancelled', sent_at: null, attempts: 0 });
        const history = await api('GET', `/v1/messages/${id}/events`);
        assert.deepEqual(history.body.data.map((e: { type: string }) => e.type), ['message.accepted', 'message.cancelled']);
      });

      test('the event id of a cancel comes after every earlier event (the delivery thread made it)', async () => {
        const delivered = await send({});
        await waitForStatus(t.gateway, delivered, ['delivered']);
        const before = await db().selectFrom('message_events').select('id').where('account_id', '=', t.accountId).orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
        const id = await send({ send_at: later() });
        assert.equal((await api('POST', `/v1/messages/${id}/cancel`)).status, 200);
        const cancelled = await db().selectFrom('message_events').select('id').where('message_id', '=', id).executeTakeFirstOrThrow();
        assert.ok(cancelled.id > before.id, `${cancelled.id} sorts after ${before.id}`);
      });

      test('a queued message waiting for a retry is cancelled; one a sender holds is refused', async () => {
        const waiting = await send({ send_at: later() });
        const held = await send({ send_at: later() });
        const retryAt = Date.now() + 3_600_000;
        // One waits out a retry back-off (no lease); the other is in a sender's hands (leased).
        await db().updateTable('messages').set({ status: 'queued', attempts: 1, due_at: retryAt, lease_until: null, reason_code: 'operator_throttled' }).where('id', '=', waiting).execute();
        await db().updateTable('messages').set({ status: 'queued', attempts: 1, due_at: retryAt, lease_until: retryAt }).where('id', '=', held).execute();
        const ok = await api('POST', `/v1/messages/${waiting}/cancel`);
        assert.equal(ok.status, 200);
        assert.equal(ok.body.status, 'cancelled');
        const refused = await api('POST', `/v1/messages/${held}/cancel`);
        assert.equal(refused.status, 409);
        assert.equal(refused.body.error.code, 'message_not_cancellable');
        assert.match(refused.body.error.message, /sender/);
        assert.equal((await api('GET', `/v1/messages/${held}`)).body.status, 'queued');
      });

      test('a delivered or already cancelled message is refused with its status', async () => {
        const delivered = await send({});
        await waitForStatus(t.gateway, delivered, ['delivered']);
        const res = await api('POST', `/v1/messages/${delivered}/cancel`);
        assert.equal(res.status, 409);
        assert.equal(res.body.error.code, 'message_not_cancellable');
        assert.match(res.body.error.message, /delivered/);
        assert.deepEqual(res.body.error.details, [{ field: 'status', issue: 'delivered' }]);
        const once = await send({ send_at: later() });
        assert.equal((await api('POST', `/v1/messages/${once}/cancel`)).status, 200);
        const twice = await api('POST', `/v1/messages/${once}/cancel`);
        assert.equal(twice.status, 409);
        assert.match(twice.body.error.message, /cancelled/);
      });

      test('SMPP cancel_sm takes the same way: one change on the bus with its stored id; not for another account', async () => {
        const credential = await t.gateway.app.inject({ method: 'POST', url: '/v1/smpp/credentials', headers: { authorization: `Bearer ${t.apiKey}` }, payload: { system_id: `c${pipeline}`, password: 'pass1234' } });
        assert.equal(credential.statusCode, 201);
        const session = await bindClient({ host: '127.0.0.1', port: t.gateway.smppPort!, systemId: `c${pipeline}`, password: 'pass1234', mode: 'transmitter' });
        try {
          const mine = await send({ send_at: later() });
          const other = await t.makeAccount();
          const theirs = (await api('POST', '/v1/messages', { to: '+79161234567', text: 'x', send_at: later() }, other.apiKey)).body.id as string;
          const heard: string[] = [];
          const off = t.gateway.bus.onStatus((changes) => heard.push(...changes.filter((c) => c.messageId === mine).map((c) => c.eventId)));
          assert.equal((await session.request({ command: 'cancel_sm', messageId: mine })).status, CommandStatus.ESME_ROK);
          off();
          const stored = await db().selectFrom('message_events').select('id').where('message_id', '=', mine).execute();
          assert.deepEqual(heard, stored.map((e) => e.id));
          assert.equal((await session.request({ command: 'cancel_sm', messageId: theirs })).status, CommandStatus.ESME_RCANCELFAIL);
          assert.equal((await api('GET', `/v1/messages/${theirs}`, undefined, other.apiKey)).body.status, 'accepted');
        } finally {
          await session.unbind().catch(() => {});
        }
      });

      test("another account's message, or none, is a 404 and is left alone", async () => {
        const id = await send({ send_at: later() });
        const other = await t.makeAccount();
        const res = await api('POST', `/v1/messages/${id}/cancel`, undefined, other.apiKey);
        assert.equal(res.status, 404);
        assert.equal(res.body.error.code, 'not_found');
        assert.equal((await api('GET', `/v1/messages/${id}`)).body.status, 'accepted');
        assert.equal((await api('POST', '/v1/messages/msg_01M845QJKBN27KCQC9X68JTA2X/cancel')).status, 404);
        const anonymous = await t.gateway.app.inject({ method: 'POST', url: `/v1/messages/${id}/cancel` });
        assert.equal(anonymous.statusCode, 401);
      });
    });
  }
}
