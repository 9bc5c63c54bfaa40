import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

const FINAL = ['delivered', 'undelivered', 'failed', 'rejected', 'expired'];

/** Account settings, the sender-name registry checked at accept, and quiet hours, through the HTTP API. */
for (const dialect of await dialects()) {
  describe(`account policy on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    let other: { accountId: string; apiKey: string };
    const call = async (method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, body?: unknown, key = t.apiKey) => {
      const res = await t.gateway.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: res.body === '' ? null : res.json() };
    };
    // Numbers made to belong to an operator (and region) through the ported-numbers table.
    const MTS = '+79160001001';
    const NOVOSIBIRSK = '+79160001002';
    const UNKNOWN = '+79160001003';

    before(async () => {
      t = await startTestGateway(dialect.name);
      other = await t.makeAccount('Other');
      assert.equal((await call('PUT', `/v1/ported-numbers/${MTS.slice(1)}`, { operator: 'mts' })).status, 201);
      assert.equal((await call('PUT', `/v1/ported-numbers/${NOVOSIBIRSK.slice(1)}`, { operator: 'megafon', region: 'Новосибирская обл.' })).status, 201);
    });
    after(async () => t?.close());

    test('1. the account shows its settings and changes only what is given; bad values are named', async () => {
      const account = (await call('GET', '/v1/account')).body;
      assert.equal(account.id, t.accountId);
      assert.equal(account.time_zone, 'Europe/Moscow');
      assert.equal(account.quiet_hours, null);
      assert.equal(account.require_registered_senders, false);
      const bad = await call('PATCH', '/v1/account', { time_zone: 'Mars/Olympus', default_region: 'XX' });
      assert.equal(bad.status, 422);
      assert.equal(bad.body.error.code, 'invalid_setting');
      assert.deepEqual(bad.body.error.details.map((d: { field: string }) => d.field).sort(), ['default_region', 'time_zone']);
      assert.equal((await call('PATCH', '/v1/account', { quiet_hours: { start: '25:00', end: '09:00' } })).body.error.code, 'validation_failed');
      assert.equal((await call('GET', '/v1/account')).body.time_zone, 'Europe/Moscow', 'nothing of a refused change was written');
      const changed = await call('PATCH', '/v1/account', { default_ttl_seconds: 7200 });
      assert.equal(changed.status, 200);
      assert.equal(changed.body.default_ttl_seconds, 7200);
      assert.equal(changed.body.max_parts, account.max_parts);
      assert.equal((await call('GET', '/v1/account', undefined, other.apiKey)).body.default_ttl_seconds, account.default_ttl_seconds, 'another account is untouched');
    });

    test('2. with registered senders required, a sender must be approved for the recipient\'s operator', async () => {
      const shop = await call('POST', '/v1/sender-names', { name: 'Shop', operators: ['mts', 'megafon'] });
      assert.equal(shop.status, 201, JSON.stringify(shop.body));
      assert.deepEqual(shop.body.operators.map((o: { operator: string; status: string }) => [o.operator, o.status]), [['megafon', 'pending'], ['mts', 'pending']]);
      assert.equal((await call('POST', '/v1/sender-names', { name: 'Shop' })).body.error.code, 'sender_name_exists');

      // Not required yet: anything goes.
      assert.equal((await call('POST', '/v1/messages', { to: MTS, text: 'hi', from: 'Anything' })).status, 202);
      assert.equal((await call('PATCH', '/v1/account', { require_registered_senders: true })).body.require_registered_senders, true);

      const pending = await call('POST', '/v1/messages', { to: MTS, text: 'hi', from: 'Shop' });
      assert.equal(pending.status, 422);
      assert.equal(pending.body.error.code, 'sender_not_allowed');
      assert.match(pending.body.error.message, /"Shop" is awaiting approval for operator mts/);
      assert.equal(pending.body.error.details[0].field, 'from');
      assert.equal((await call('POST', '/v1/messages', { to: MTS, text: 'no sender: the connector default' })).status, 202);

      assert.equal((await call('PUT', `/v1/sender-names/${shop.body.id}/operators/mts`, { status: 'approved' }, other.apiKey)).status, 403, 'only staff record answers');
      const approved = await call('PUT', `/v1/sender-names/${shop.body.id}/operators/mts`, { status: 'approved' });
      assert.equal(approved.status, 200);
      const sent = await call('POST', '/v1/messages', { to: MTS, text: 'hi', from: 'Shop' });
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      assert.equal(await waitForStatus(t.gateway, sent.body.id, FINAL), 'delivered');
      assert.equal((await call('GET', `/v1/messages/${sent.body.id}`)).body.operator, 'mts');

      const unknown = await call('POST', '/v1/messages', { to: UNKNOWN, text: 'hi', from: 'Shop' });
      assert.match(unknown.body.error.message, /not registered for numbers of unknown operator/);

      // A bulk request lists the refused items and accepts the rest.
      const bulk = await call('POST', '/v1/messages/bulk', { messages: [{ to: MTS, text: 'a', from: 'Shop' }, { to: NOVOSIBIRSK, text: 'b', from: 'Shop' }] });
      assert.equal(bulk.status, 202, JSON.stringify(bulk.body));
      assert.deepEqual(bulk.body.errors.map((r: { index: number; code: string }) => [r.index, r.code]), [[1, 'sender_not_allowed']]);
    });

    test('3. the fallback sender replaces one that is not approved where it is approved itself', async () => {
      const info = await call('POST', '/v1/sender-names', { name: 'Info' });
      assert.equal((await call('PUT', `/v1/sender-names/${info.body.id}/operators/*`, { status: 'approved' })).status, 200);
      assert.equal((await call('PATCH', '/v1/account', { fallback_sender: 'Info' })).body.fallback_sender, 'Info');
      const res = await call('POST', '/v1/messages', { to: NOVOSIBIRSK, text: 'hi', from: 'Shop' });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal((await call('GET', `/v1/messages/${res.body.id}`)).body.from, 'Info');
      const kept = await call('POST', '/v1/messages', { to: MTS, text: 'hi', from: 'Shop' });
      assert.equal((await call('GET', `/v1/messages/${kept.body.id}`)).body.from, 'Shop', 'approved for mts: kept');
      await call('PATCH', '/v1/account', { require_registered_senders: false, fallback_sender: null });
    });

    test('4. sender names belong to their account', async () => {
      const mine = (await call('GET', '/v1/sender-names')).body.data;
      assert.deepEqual(mine.map((n: { name: string }) => n.name).sort(), ['Info', 'Shop']);
      assert.equal((await call('GET', `/v1/sender-names/${mine[0].id}`, undefined, other.apiKey)).status, 404);
      assert.equal((await call('DELETE', `/v1/sender-names/${mine[0].id}`, undefined, other.apiKey)).status, 404);
      assert.deepEqual((await call('GET', '/v1/sender-names', undefined, other.apiKey)).body.data, []);
      assert.equal((await call('GET', `/v1/sender-names?account_id=${t.accountId}`, undefined, other.apiKey)).status, 403);
      assert.equal((await call('GET', `/v1/sender-names?account_id=${other.accountId}`)).body.data.length, 0, 'staff may look at any account');
      assert.equal((await call('DELETE', `/v1/sender-names/${mine[0].id}`)).status, 204);
      assert.equal((await call('GET', '/v1/sender-names')).body.data.length, 1);
    });

    test('5. advertising waits out quiet hours in the recipient\'s time zone; other traffic does not', async () => {
      // A window from an hour ago to an hour ahead in Novosibirsk (UTC+7), which is outside it in Moscow (UTC+3).
      const now = Date.now();
      const hhmm = (ms: number) => new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Novosibirsk', hourCycle: 'h23', hour: '2-digit', minute: '2-digit' }).format(ms);
      const endMs = Math.floor((now + 3_600_000) / 60_000) * 60_000;
      const patched = await call('PATCH', '/v1/account', { quiet_hours: { start: hhmm(now - 3_600_000), end: hhmm(endMs) }, time_zone: 'Europe/Moscow' });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      try {
        const held = await call('POST', '/v1/messages', { to: NOVOSIBIRSK, text: 'sale!', traffic_type: 'advertising', ttl_seconds: 3600 });
        assert.equal(held.status, 202);
        const message = (await call('GET', `/v1/messages/${held.body.id}`)).body;
        assert.equal(message.status, 'accepted');
        assert.equal(message.region, 'Новосибирская обл.');
        assert.equal(Date.parse(message.expires_at) - 3_600_000, endMs, 'held until the window ends, validity counted from there');

        const moscow = await call('POST', '/v1/messages', { to: UNKNOWN, text: 'sale!', traffic_type: 'advertising' });
        assert.equal(await waitForStatus(t.gateway, moscow.body.id, FINAL), 'delivered', 'a number of unknown region uses the account zone, Moscow: not quiet');
        const service = await call('POST', '/v1/messages', { to: NOVOSIBIRSK, text: 'your code 1234' });
        assert.equal(await waitForStatus(t.gateway, service.body.id, FINAL), 'delivered', 'service traffic is not held');
      } finally {
        await call('PATCH', '/v1/account', { quiet_hours: null });
      }
    });
  });
}
