/**
 * A live stream opened with the cabinet's session cookie lasts as long as
 * its session: signing out ends it within the check's period with
 * `event: dropped` (`session_ended`); the same user's other session and an API
 * key's stream go on. Disabling the user ends its sessions, and so their
 * streams. The cluster case (signing out on another node) is in
 * cluster-cabinet-stream.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SESSION_CHECK_MS } from '../src/ingress/http/routes/events.ts';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';
import { openStream, type SseClient } from './events-client.ts';

const PASSWORD = 'stream-session-secret';

for (const dialect of await dialects()) {
  describe(`the live stream of a cabinet session on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let base: string;
    before(async () => {
      t = await startTestGateway(dialect.name, { DEPESHA_ADMIN_PASSWORD: PASSWORD });
      base = await t.gateway.app.listen({ port: 0, host: '127.0.0.1' });
    });
    after(() => t.close());

    const signIn = async () => {
      const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/sessions', payload: { email: 'admin@depesha.local', password: PASSWORD } });
      assert.equal(res.statusCode, 201, res.body);
      return { token: res.cookies.find((c) => c.name === 'depesha_session')!.value, csrf: res.json().csrf_token as string };
    };
    const send = async () => {
      const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/messages', headers: { authorization: `Bearer ${t.apiKey}` }, payload: { to: '+79161234567', text: 'hi' } });
      assert.equal(res.statusCode, 202, res.body);
      return res.json().id as string;
    };
    const heard = (s: SseClient, id: string) => s.events.some((e) => e.event !== 'dropped' && JSON.parse(e.data).data.message_id === id);

    test('signing out ends that session\'s open stream with session_ended; another session\'s and a key\'s go on', { timeout: 60_000 }, async () => {
      const [a, b] = [await signIn(), await signIn()];
      const streams = [await openStream(base, { sessionCookie: a.token }), await openStream(base, { sessionCookie: b.token }), await openStream(base, t.apiKey)];
      after(() => streams.forEach((s) => s.close()));
      const [ofA, ofB, ofKey] = streams as [SseClient, SseClient, SseClient];
      for (const s of streams) assert.equal(s.status, 200, s.body);
      const first = await send();
      await waitForStatus(t.gateway, first, ['delivered']);
      for (const s of streams) await s.until((c) => heard(c, first), 'every stream hearing the first message');

      const out = await t.gateway.app.inject({ method: 'DELETE', url: '/v1/session', cookies: { depesha_session: a.token }, headers: { 'x-csrf-token': a.csrf } });
      assert.equal(out.statusCode, 204, out.body);
      const signedOutAt = Date.now();
      await ofA.until((c) => c.events.some((e) => e.event === 'dropped'), 'the signed-out session\'s stream dropped', SESSION_CHECK_MS * 3);
      await ofA.ended;
      assert.ok(Date.now() - signedOutAt <= SESSION_CHECK_MS + 3000, 'within a check period and room for a loaded machine');
      const dropped = ofA.events.find((e) => e.event === 'dropped')!;
      assert.equal(JSON.parse(dropped.data).reason, 'session_ended');
      const again = await openStream(base, { sessionCookie: a.token });
      assert.equal(again.status, 401, 'the cookie no longer opens a stream');

      // The other session's stream was checked beside the first one's (opened a moment after it): still open, still hearing.
      const second = await send();
      await waitForStatus(t.gateway, second, ['delivered']);
      for (const s of [ofB, ofKey]) await s.until((c) => heard(c, second), 'the other streams hearing a later message', SESSION_CHECK_MS + 3000);
      for (const s of [ofB, ofKey]) assert.ok(!s.events.some((e) => e.event === 'dropped'), 'not dropped');
      assert.equal(t.gateway.live.size, 2, 'two streams open');
    });

    test('disabling a user ends its session\'s open stream with session_ended', { timeout: 60_000 }, async () => {
      const owner = { authorization: `Bearer ${t.apiKey}` };
      const made = await t.gateway.app.inject({ method: 'POST', url: '/v1/users', headers: owner, payload: { email: 'streamer@example.com', role: 'viewer' } });
      assert.equal(made.statusCode, 201, made.body);
      const user = made.json() as { id: string; temporary_password: string };
      const signedIn = await t.gateway.app.inject({ method: 'POST', url: '/v1/sessions', payload: { email: 'streamer@example.com', password: user.temporary_password } });
      assert.equal(signedIn.statusCode, 201, signedIn.body);
      const stream = await openStream(base, { sessionCookie: signedIn.cookies.find((c) => c.name === 'depesha_session')!.value });
      after(() => stream.close());
      assert.equal(stream.status, 200, stream.body);
      const disabled = await t.gateway.app.inject({ method: 'PATCH', url: `/v1/users/${user.id}`, headers: owner, payload: { disabled: true } });
      assert.equal(disabled.statusCode, 200, disabled.body);
      const disabledAt = Date.now();
      await stream.until((c) => c.events.some((e) => e.event === 'dropped'), 'the disabled user\'s stream dropped', SESSION_CHECK_MS * 3);
      assert.ok(Date.now() - disabledAt <= SESSION_CHECK_MS + 3000, 'within a check period and room for a loaded machine');
      assert.equal(JSON.parse(stream.events.find((e) => e.event === 'dropped')!.data).reason, 'session_ended');
    });
  });
}
