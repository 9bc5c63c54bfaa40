import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

/**
 * Balance and prices (issue 8): sending reserves price × parts when the
 * message is stored, a sent message is charged, one that ends unsent is
 * refunded, every movement is a ledger entry; `insufficient_balance` (402)
 * unless a credit limit covers it; bulk requests accept what the balance
 * covers. Each test works on an account of its own with its own prices, so
 * the demo account (no prices) shows that free sending is unchanged.
 */
const LONG = 'x'.repeat(200); // two GSM-7 parts

for (const dialect of await dialects()) {
  describe(`balance reserve, charge and refund on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    const call = async (method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown, key = t.apiKey) => {
      const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
      return { status: res.statusCode, body: res.body === '' ? null : res.json() };
    };
    /** A new account with `amount` on its balance and its own SMS price per part. */
    const priced = async (amount: string, price: string) => {
      const a = await t.makeAccount('Priced');
      if (amount !== '0.00') assert.equal((await call('POST', '/v1/balance/entries', { account_id: a.accountId, kind: 'top_up', amount })).status, 201);
      assert.equal((await call('PUT', '/v1/prices', { account_id: a.accountId, channel: 'sms', price })).status, 200);
      return a;
    };
    const ledger = async (key: string) => ((await call('GET', '/v1/balance/entries', undefined, key)).body.data as { kind: string; amount: string; balance_after: string; message_id: string | null }[]).reverse();
    const balance = async (key: string) => (await call('GET', '/v1/balance', undefined, key)).body as { amount: string; available: string };

    before(async () => {
      t = await startTestGateway(dialect.name);
    });
    after(async () => t?.close());

    test('1. without a price nothing is reserved: the demo account sends as before, no ledger entry, no price on the message', async () => {
      const sent = await call('POST', '/v1/messages', { to: '+79161234567', text: 'free' });
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      assert.equal(sent.body.price, undefined);
      assert.equal(await waitForStatus(t.gateway, sent.body.id, ['delivered']), 'delivered');
      assert.deepEqual(await ledger(t.apiKey), []);
      assert.equal((await balance(t.apiKey)).amount, '0.00');
    });

    test('2. a delivered message: reserve at accept (price × parts), then the charge when sent; the balance moves once', async () => {
      const a = await priced('10.00', '1.50');
      const sent = await call('POST', '/v1/messages', { to: '+79161234567', text: LONG }, a.apiKey);
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      assert.equal(sent.body.parts_count, 2);
      assert.equal(sent.body.price, '1.50');
      assert.equal(await waitForStatus(t.gateway, sent.body.id, ['delivered']), 'delivered');
      const entries = await ledger(a.apiKey);
      assert.deepEqual(
        entries.map((e) => [e.kind, e.amount, e.balance_after, e.message_id]),
        [
          ['top_up', '10.00', '10.00', null],
          ['reserve', '-3.00', '7.00', sent.body.id],
          ['charge', '-3.00', '7.00', sent.body.id],
        ],
      );
      assert.deepEqual(await balance(a.apiKey), { object: 'balance', account_id: a.accountId, amount: '7.00', credit_limit: '0.00', available: '7.00', currency: 'RUB' });
    });

    test('3. refused by the operator at submit (never sent): the reserve is refunded', async () => {
      const a = await priced('5.00', '2.00');
      const sent = await call('POST', '/v1/messages', { to: '+79161230002', text: 'refused' }, a.apiKey);
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      assert.equal(await waitForStatus(t.gateway, sent.body.id, ['rejected']), 'rejected');
      assert.deepEqual((await ledger(a.apiKey)).map((e) => [e.kind, e.amount, e.balance_after]), [['top_up', '5.00', '5.00'], ['reserve', '-2.00', '3.00'], ['refund', '2.00', '5.00']]);
      assert.equal((await balance(a.apiKey)).amount, '5.00');
    });

    test('4. undelivered after sending stays charged (the operator took it)', async () => {
      const a = await priced('5.00', '2.00');
      const sent = await call('POST', '/v1/messages', { to: '+79161230000', text: 'nobody' }, a.apiKey);
      assert.equal(await waitForStatus(t.gateway, sent.body.id, ['undelivered']), 'undelivered');
      assert.deepEqual((await ledger(a.apiKey)).map((e) => e.kind), ['top_up', 'reserve', 'charge']);
      assert.equal((await balance(a.apiKey)).amount, '3.00');
    });

    test('5. a cancelled message (waiting for its send_at) is refunded', async () => {
      const a = await priced('5.00', '1.00');
      const sent = await call('POST', '/v1/messages', { to: '+79161234567', text: 'later', send_at: new Date(Date.now() + 3_600_000).toISOString() }, a.apiKey);
      assert.equal(sent.status, 202);
      assert.equal((await balance(a.apiKey)).amount, '4.00', 'reserved at accept');
      assert.equal((await call('POST', `/v1/messages/${sent.body.id}/cancel`, undefined, a.apiKey)).body.status, 'cancelled');
      assert.deepEqual((await ledger(a.apiKey)).map((e) => [e.kind, e.amount, e.balance_after]), [['top_up', '5.00', '5.00'], ['reserve', '-1.00', '4.00'], ['refund', '1.00', '5.00']]);
    });

    test('6. insufficient_balance (402) when the balance cannot pay: nothing stored, nothing moved; a credit limit lets it go below zero', async () => {
      const a = await priced('1.00', '1.50');
      const before = Number((await t.gateway.database.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', a.accountId).executeTakeFirstOrThrow()).n);
      const refused = await call('POST', '/v1/messages', { to: '+79161234567', text: 'too dear' }, a.apiKey);
      assert.equal(refused.status, 402, JSON.stringify(refused.body));
      assert.equal(refused.body.error.code, 'insufficient_balance');
      assert.match(refused.body.error.message, /costs 1\.50 RUB and 1\.00 RUB is available/);
      assert.equal(Number((await t.gateway.database.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', a.accountId).executeTakeFirstOrThrow()).n), before);
      assert.deepEqual((await ledger(a.apiKey)).map((e) => e.kind), ['top_up']);

      assert.equal((await call('PUT', '/v1/balance/credit-limit', { account_id: a.accountId, credit_limit: '2.00' }, a.apiKey)).status, 403, 'administrators only');
      const credit = await call('PUT', '/v1/balance/credit-limit', { account_id: a.accountId, credit_limit: '2.00' });
      assert.deepEqual([credit.status, credit.body.available], [200, '3.00']);
      const sent = await call('POST', '/v1/messages', { to: '+79161234567', text: 'on credit' }, a.apiKey);
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      assert.equal((await balance(a.apiKey)).amount, '-0.50');
      assert.equal((await call('POST', '/v1/messages', { to: '+79161234567', text: 'to the limit' }, a.apiKey)).status, 202, 'available: -0.50 + 2.00 covers 1.50');
      assert.equal((await balance(a.apiKey)).available, '0.00');
      assert.equal((await call('POST', '/v1/messages', { to: '+79161234567', text: 'beyond credit' }, a.apiKey)).status, 402);
    });

    test('7. bulk: the items the balance covers are accepted, the rest listed as insufficient_balance; all beyond it is a 402', async () => {
      const a = await priced('3.00', '1.00');
      const to = ['+79161234501', '+79161234502', '+79161234503', '+79161234504', '+79161234505'];
      const res = await call('POST', '/v1/messages/bulk', { to, text: 'hello' }, a.apiKey);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.deepEqual([res.body.accepted, res.body.rejected], [3, 2]);
      assert.deepEqual(res.body.messages.map((m: { index: number }) => m.index), [0, 1, 2]);
      assert.deepEqual(res.body.errors.map((e: { index: number; code: string }) => [e.index, e.code]), [[3, 'insufficient_balance'], [4, 'insufficient_balance']]);
      assert.equal((await balance(a.apiKey)).amount, '0.00');
      const none = await call('POST', '/v1/messages/bulk', { to, text: 'again' }, a.apiKey);
      assert.deepEqual([none.status, none.body.error.code], [402, 'insufficient_balance']);
      for (const m of res.body.messages) assert.equal(await waitForStatus(t.gateway, m.id, ['delivered']), 'delivered');
      assert.deepEqual((await ledger(a.apiKey)).map((e) => e.kind).sort(), ['charge', 'charge', 'charge', 'reserve', 'reserve', 'reserve', 'top_up']);
    });

    test('8. concurrent sends never overdraw: with money for 5, of 20 at once exactly 5 are accepted', async () => {
      const a = await priced('5.00', '1.00');
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => call('POST', '/v1/messages', { to: `+7916123${String(4600 + i)}`, text: `race ${i}` }, a.apiKey)));
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [...Array(5).fill(202), ...Array(15).fill(402)]);
      assert.equal((await balance(a.apiKey)).amount, '0.00');
      const reserves = (await ledger(a.apiKey)).filter((e) => e.kind === 'reserve');
      assert.deepEqual(reserves.map((e) => e.balance_after).sort(), ['0.00', '1.00', '2.00', '3.00', '4.00']);
    });

    test('8a. a repeat under the same Idempotency-Key gets its first answer after the balance is spent; a 402 leaves the key free', async () => {
      const a = await priced('2.00', '1.00');
      const post = async (url: string, body: unknown, key: string) => {
        const res = await t.gateway.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${a.apiKey}`, 'content-type': 'application/json', 'idempotency-key': key }, payload: JSON.stringify(body) });
        return { status: res.statusCode, replayed: res.headers['idempotency-replayed'], body: res.json() };
      };
      const bulk = { to: ['+79161234511', '+79161234512'], text: 'paid once' };
      const first = await post('/v1/messages/bulk', bulk, 'bulk-1');
      assert.deepEqual([first.status, first.body.accepted], [202, 2], JSON.stringify(first.body));
      assert.equal((await balance(a.apiKey)).available, '0.00');
      const repeat = await post('/v1/messages/bulk', bulk, 'bulk-1');
      assert.deepEqual([repeat.status, repeat.replayed, repeat.body], [202, 'true', first.body], 'the stored answer, not a 402');

      const single = { to: '+79161234513', text: 'one more' };
      const refused = await post('/v1/messages', single, 'single-1');
      assert.deepEqual([refused.status, refused.body.error.code], [402, 'insufficient_balance']);
      assert.equal((await call('POST', '/v1/balance/entries', { account_id: a.accountId, kind: 'top_up', amount: '1.00' })).status, 201);
      const retried = await post('/v1/messages', single, 'single-1');
      assert.deepEqual([retried.status, retried.replayed], [202, undefined], 'the key was given back: the retry is new work');
      assert.equal((await balance(a.apiKey)).available, '0.00');
      const again = await post('/v1/messages', single, 'single-1');
      assert.deepEqual([again.status, again.replayed, again.body.id], [202, 'true', retried.body.id]);
      assert.deepEqual((await ledger(a.apiKey)).filter((e) => e.kind === 'reserve').length, 3, 'three messages reserved, none twice');
    });

    test('9. prices: the account\'s own beat the platform\'s, an exact operator beats `*`; the list shows both', async () => {
      const a = await t.makeAccount('Prices');
      assert.equal((await call('PUT', `/v1/ported-numbers/79160007001`, { operator: 'mts' })).status, 201);
      assert.equal((await call('POST', '/v1/balance/entries', { account_id: a.accountId, kind: 'top_up', amount: '100.00' })).status, 201);
      assert.equal((await call('PUT', '/v1/prices', { channel: 'email', price: '0.10' })).status, 200);
      assert.equal((await call('PUT', '/v1/prices', { account_id: a.accountId, channel: 'sms', operator: 'mts', price: '3.00' })).status, 200);
      assert.equal((await call('PUT', '/v1/prices', { account_id: a.accountId, channel: 'sms', price: '2.00' })).status, 200);
      assert.equal((await call('PUT', '/v1/prices', { account_id: 'acc_nope', channel: 'sms', price: '2.00' })).body.error.code, 'unknown_account');
      const mts = await call('POST', '/v1/messages', { to: '+79160007001', text: 'mts' }, a.apiKey);
      assert.deepEqual([mts.body.operator, mts.body.price], ['mts', '3.00']);
      const other = await call('POST', '/v1/messages', { to: '+79160007002', text: 'any' }, a.apiKey);
      assert.equal(other.body.price, '2.00');
      const list = (await call('GET', '/v1/prices', undefined, a.apiKey)).body.data.map((p: { account_id: string | null; channel: string; operator: string; price: string }) => [p.account_id, p.channel, p.operator, p.price]);
      assert.deepEqual(list, [
        [null, 'email', '*', '0.10'],
        [a.accountId, 'sms', '*', '2.00'],
        [a.accountId, 'sms', 'mts', '3.00'],
      ]);
      assert.deepEqual((await call('GET', '/v1/prices')).body.data.map((p: { channel: string }) => p.channel), ['email'], 'the demo account sees only the platform list');
    });
  });
}
