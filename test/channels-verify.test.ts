import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

/** Verifications one account may start in an hour in these suites (the default, 1,000, would take 1,000 requests to reach). */
const MAX_PER_ACCOUNT = 15;

/**
 * The verification API through the gateway: codes sent by SMS (the sandbox), kept hashed, checked, limited,
 * expired. The tests of a dialect run side by side (and the dialects too), so the one waiting out a code's
 * shortest lifetime (60 s) costs the file that minute once.
 */
const suites = await dialects();
describe('verifications', { concurrency: true }, () => {
  for (const dialect of suites) {
    describe(`verifications on ${dialect.name}`, { skip: dialect.skip, concurrency: true }, () => {
      let t: TestGateway;
      const call = async (method: 'GET' | 'POST', url: string, body?: unknown, key = t.apiKey) => {
        const res = await t.gateway.app.inject({
          method,
          url,
          headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
        });
        return { status: res.statusCode, body: res.json(), headers: res.headers };
      };
      /** The code, as the recipient reads it in the message. */
      const codeOf = async (messageId: string) => /(\d{4,8})/.exec((await call('GET', `/v1/messages/${messageId}`)).body.text)![1]!;

      before(async () => {
        t = await startTestGateway(dialect.name, { DEPESHA_VERIFY_MAX_PER_ACCOUNT: String(MAX_PER_ACCOUNT) });
      });
      after(() => t?.close());

      test('ttl_seconds ends the code: checkable until then, expired by the gateway when it passes (nobody checking), the right code refused after', async () => {
        const made = await call('POST', '/v1/verifications', { to: '+79161234508', code: '4711', ttl_seconds: 60 });
        assert.equal(made.status, 201, JSON.stringify(made.body));
        const expiresAt = Date.parse(made.body.expires_at);
        assert.equal(expiresAt - Date.parse(made.body.created_at), 60_000);
        const early = await call('POST', `/v1/verifications/${made.body.id}/check`, { code: '0000' });
        assert.deepEqual([early.body.result, early.body.status], ['invalid', 'pending'], 'alive within its lifetime');
        // The delivery side's sweeper ends it when its lifetime passes: poll what the API shows, with a deadline.
        const deadline = expiresAt + 15_000;
        let status = 'pending';
        while (status === 'pending') {
          assert.ok(Date.now() < deadline, 'still pending 15 s after its lifetime ended');
          await new Promise((resolve) => setTimeout(resolve, 250));
          status = (await call('GET', `/v1/verifications/${made.body.id}`)).body.status;
        }
        assert.equal(status, 'expired');
        assert.ok(Date.now() >= expiresAt, 'not before its lifetime ended');
        const late = await call('POST', `/v1/verifications/${made.body.id}/check`, { code: '4711' });
        assert.deepEqual([late.body.result, late.body.status, late.body.attempts_left], ['expired', 'expired', 4]);
      });

      test(`limits: an account starts at most verifications.max_per_account (${MAX_PER_ACCOUNT} here) in an hour, then 429 verification_limit_exceeded; other accounts go on`, async () => {
        const pumped = await t.makeAccount('Pumped');
        for (let i = 0; i < MAX_PER_ACCOUNT; i++) {
          const made = await call('POST', '/v1/verifications', { to: `+7916555${String(i + 1).padStart(4, '0')}` }, pumped.apiKey);
          assert.equal(made.status, 201, JSON.stringify(made.body));
        }
        const over = await call('POST', '/v1/verifications', { to: '+79165559999' }, pumped.apiKey);
        assert.deepEqual([over.status, over.body.error.code, over.headers['retry-after']], [429, 'verification_limit_exceeded', '60']);
        assert.match(over.body.error.message, new RegExp(`account started ${MAX_PER_ACCOUNT} verifications in the last hour`));
        const count = await t.gateway.database.db.selectFrom('verifications').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', pumped.accountId).executeTakeFirstOrThrow();
        assert.equal(Number(count.n), MAX_PER_ACCOUNT, 'the refused one was not stored');
        assert.equal((await call('POST', '/v1/verifications', { to: '+79165559999' })).status, 201, 'another account is not limited');
      });

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

      test('five wrong codes lock it; another account sees nothing', async () => {
        const made = (await call('POST', '/v1/verifications', { to: '+79161234501', code: '4711' })).body;
        for (let i = 0; i < 4; i++) assert.equal((await call('POST', `/v1/verifications/${made.id}/check`, { code: '0000' })).body.result, 'invalid');
        assert.equal((await call('POST', `/v1/verifications/${made.id}/check`, { code: '0000' })).body.result, 'too_many_attempts');
        const late = await call('POST', `/v1/verifications/${made.id}/check`, { code: '4711' });
        assert.deepEqual([late.body.result, late.body.status, late.body.attempts_left], ['too_many_attempts', 'failed', 0]);

        const other = await t.makeAccount();
        assert.equal((await call('POST', `/v1/verifications/${made.id}/check`, { code: '4711' }, other.apiKey)).status, 404);
        assert.equal((await call('GET', `/v1/verifications/${made.id}`, undefined, other.apiKey)).status, 404);
      });

      test('a repeat under the same Idempotency-Key gets its first answer although the number has reached its limit since', async () => {
        const post = async (key: string) => {
          const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/verifications', headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json', 'idempotency-key': key }, payload: JSON.stringify({ to: '+79161234521' }) });
          return { status: res.statusCode, replayed: res.headers['idempotency-replayed'], body: res.json() };
        };
        for (let i = 0; i < 4; i++) assert.equal((await call('POST', '/v1/verifications', { to: '+79161234521' })).status, 201);
        const fifth = await post('verify-5');
        assert.equal(fifth.status, 201, JSON.stringify(fifth.body));
        const repeat = await post('verify-5');
        assert.deepEqual([repeat.status, repeat.replayed, repeat.body.id], [201, 'true', fifth.body.id], 'the stored answer, not a 429');
        const sixth = await post('verify-6');
        assert.deepEqual([sixth.status, sixth.body.error.code], [429, 'verification_limit_exceeded']);
      });

      test('a verification whose message the accept refuses (insufficient_balance) is not stored: the answer is the accept\'s error, nothing counts against the limits', async () => {
        const poor = await t.makeAccount('Poor');
        const admin = async (method: 'POST' | 'PUT', url: string, body: unknown) => (await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) })).statusCode;
        assert.equal(await admin('POST', '/v1/balance/entries', { account_id: poor.accountId, kind: 'top_up', amount: '1.00' }), 201);
        assert.equal(await admin('PUT', '/v1/prices', { account_id: poor.accountId, channel: 'sms', price: '1.50' }), 200);
        const stored = async () => Number((await t.gateway.database.db.selectFrom('verifications').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', poor.accountId).executeTakeFirstOrThrow()).n);
        for (let i = 0; i < 6; i++) {
          const refused = await call('POST', '/v1/verifications', { to: '+79161234530' }, poor.apiKey);
          assert.deepEqual([refused.status, refused.body.error?.code], [402, 'insufficient_balance'], JSON.stringify(refused.body));
        }
        assert.equal(await stored(), 0, 'no verification without its message');
        assert.equal(await admin('POST', '/v1/balance/entries', { account_id: poor.accountId, kind: 'top_up', amount: '5.00' }), 201);
        const made = await call('POST', '/v1/verifications', { to: '+79161234530' }, poor.apiKey);
        assert.equal(made.status, 201, `the refused ones did not use up the number's limit: ${JSON.stringify(made.body)}`);
        assert.equal(await stored(), 1);
        assert.equal((await t.gateway.database.db.selectFrom('messages').select('id').where('id', '=', made.body.message_id).executeTakeFirst())?.id, made.body.message_id);
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
});
