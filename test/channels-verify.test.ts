import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

/** The verification API through the gateway: codes sent by SMS (the sandbox), kept hashed, checked, limited. */
for (const dialect of await dialects()) {
  describe(`verifications on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    const call = async (method: 'GET' | 'POST', url: string, body?: unknown, key = t.apiKey) => {
      const res = await t.gateway.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: res.json() };
    };
    /** The code, as the recipient reads it in the message. */
    const codeOf = async (messageId: string) => /(\d{4,8})/.exec((await call('GET', `/v1/messages/${messageId}`)).body.text)![1]!;

    before(async () => {
      t = await startTestGateway(dialect.name);
    });
    after(() => t?.close());

    test('a code goes by SMS, is stored only hashed, is valid once; a wrong one is invalid', async () => {
      const made = await call('POST', '/v1/verifications', { to: '8 916 123-45-67', code_length: 6, text: 'Код для входа: {code}' });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.deepEqual([made.body.object, made.body.to, made.body.channel, made.body.status, made.body.attempts], ['verification', '+79161234567', 'sms', 'pending', 0]);
      assert.match(made.body.id, /^ver_/);
      assert.equal(await waitForStatus(t.gateway, made.body.message_id, ['delivered']), 'delivered');
      const code = await codeOf(made.body.message_id);
      assert.equal(code.length, 6);
      const row = await t.gateway.database.db.selectFrom('verifications').selectAll().where('id', '=', made.body.id).executeTakeFirstOrThrow();
      assert.equal(Object.values(row).some((v) => String(v) === code), false, 'the code is not stored');
      const wrong = await call('POST', `/v1/verifications/${made.body.id}/check`, { code: code === '000000' ? '111111' : '000000' });
      assert.deepEqual([wrong.body.result, wrong.body.attempts_left], ['invalid', 4]);
      const right = await call('POST', `/v1/verifications/${made.body.id}/check`, { code });
      assert.deepEqual([right.body.result, right.body.status], ['valid', 'verified']);
      assert.equal((await call('POST', `/v1/verifications/${made.body.id}/check`, { code })).body.result, 'expired', 'a code works once');
      assert.equal((await call('GET', `/v1/verifications/${made.body.id}`)).body.status, 'verified');
    });

    test('five wrong codes lock it; an expired one answers expired; another account sees nothing', async () => {
      const made = (await call('POST', '/v1/verifications', { to: '+79161234501', code: '4711' })).body;
      for (let i = 0; i < 4; i++) assert.equal((await call('POST', `/v1/verifications/${made.id}/check`, { code: '0000' })).body.result, 'invalid');
      assert.equal((await call('POST', `/v1/verifications/${made.id}/check`, { code: '0000' })).body.result, 'too_many_attempts');
      const late = await call('POST', `/v1/verifications/${made.id}/check`, { code: '4711' });
      assert.deepEqual([late.body.result, late.body.status, late.body.attempts_left], ['too_many_attempts', 'failed', 0]);

      const old = (await call('POST', '/v1/verifications', { to: '+79161234502', code: '4711' })).body;
      await t.gateway.database.db.updateTable('verifications').set({ expires_at: Date.now() - 1 }).where('id', '=', old.id).execute();
      const expired = await call('POST', `/v1/verifications/${old.id}/check`, { code: '4711' });
      assert.deepEqual([expired.body.result, expired.body.status], ['expired', 'expired']);

      const other = await t.makeAccount();
      assert.equal((await call('POST', `/v1/verifications/${old.id}/check`, { code: '4711' }, other.apiKey)).status, 404);
      assert.equal((await call('GET', `/v1/verifications/${old.id}`, undefined, other.apiKey)).status, 404);
    });

    test('limits: the sixth verification of a number in 10 minutes is refused; WhatsApp needs a template; a bad number is refused', async () => {
      for (let i = 0; i < 5; i++) assert.equal((await call('POST', '/v1/verifications', { to: '+79161234503' })).status, 201);
      const sixth = await call('POST', '/v1/verifications', { to: '+7 916 123-45-03' });
      assert.deepEqual([sixth.status, sixth.body.error.code], [429, 'verification_limit_exceeded']);
      assert.equal((await call('POST', '/v1/verifications', { to: '+79161234504' })).status, 201, 'another number is not limited');
      const wa = await call('POST', '/v1/verifications', { to: '+79161234505', channel: 'whatsapp' });
      assert.deepEqual([wa.status, wa.body.error.code], [422, 'verification_needs_template']);
      const bad = await call('POST', '/v1/verifications', { to: '12' });
      assert.deepEqual([bad.status, bad.body.error.code], [422, 'invalid_phone_number']);
      const noPlaceholder = await call('POST', '/v1/verifications', { to: '+79161234506', text: 'no code' });
      assert.equal(noPlaceholder.status, 400);
    });
  });
}
