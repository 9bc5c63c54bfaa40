import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../src/log.ts';
import { EventBus } from '../src/events/bus.ts';
import { InboundProcessor } from '../src/pipeline/inbound.ts';
import { ReceiptProcessor } from '../src/pipeline/receipts.ts';
import { WriteBatcher } from '../src/store/write-batcher.ts';
import type { TestGateway } from './helpers.ts';
import { dialects, startTestGateway, waitForStatus } from './helpers.ts';

interface Reply {
  status: number;
  headers: Record<string, unknown>;
  body: any;
}

function client(t: () => TestGateway) {
  return async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, options: { body?: unknown; raw?: string; key?: string | null; headers?: Record<string, string> } = {}): Promise<Reply> => {
    const headers: Record<string, string> = { ...options.headers };
    const key = options.key === undefined ? t().apiKey : options.key;
    if (key !== null) headers.authorization = `Bearer ${key}`;
    let payload: string | undefined;
    if (options.raw !== undefined) payload = options.raw;
    else if (options.body !== undefined) payload = JSON.stringify(options.body);
    if (payload !== undefined) headers['content-type'] ??= 'application/json';
    const res = await t().gateway.app.inject({ method, url, headers, ...(payload !== undefined ? { payload } : {}) });
    let body: unknown = res.body;
    if (String(res.headers['content-type'] ?? '').includes('json')) body = res.json();
    return { status: res.statusCode, headers: res.headers, body };
  };
}

/**
 * Every method and path of the app, read from Fastify's printRoutes({ commonPrefix: false }) tree: each line
 * is a path segment under its parent's (4 characters of indentation a level) with the methods in brackets.
 * HEAD is left out: Fastify adds it to every GET.
 */
function registeredRoutes(tree: string): { method: string; path: string }[] {
  const parents: string[] = [];
  const out: { method: string; path: string }[] = [];
  for (const line of tree.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^((?:│   | {4})*)(?:├── |└── )(.*?)(?: \(([^)]*)\))?$/.exec(line);
    assert.ok(m, `a line of printRoutes not understood: ${line}`);
    const depth = m[1]!.length / 4;
    parents.length = depth;
    const path = (parents[depth - 1] ?? '') + m[2]!;
    parents.push(path);
    for (const method of (m[3] ?? '').split(', ').filter((x) => x !== '' && x !== 'HEAD')) out.push({ method, path });
  }
  return out;
}

let seq = 1000;
/** A valid Russian mobile number the sandbox delivers, different each call. */
const nextNumber = () => `+7916${String(1_000_000 + seq++).slice(-7).replace(/000[0-3]$/, '1234')}`;

async function countMessages(t: TestGateway): Promise<number> {
  const row = await t.gateway.database.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

for (const dialect of await dialects()) {
  describe(`HTTP API v1 on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    const call = client(() => t);
    before(async () => {
      t = await startTestGateway(dialect.name);
    });
    after(async () => {
      await t?.close();
    });

    test('a message is accepted, stored, then delivered with a timestamp for each step', async () => {
      const res = await call('POST', '/v1/messages', { body: { to: '8 (916) 123-45-67', text: 'Hello from Depesha', reference: 'order-1', group: 'g1', traffic_type: 'transactional' } });
      assert.equal(res.status, 202);
      assert.match(res.body.id, /^msg_[0-9A-Z]{26}$/);
      assert.equal(res.body.to, '+79161234567');
      assert.equal(res.body.encoding, 'gsm7');
      assert.equal(res.body.parts_count, 1);
      assert.equal(res.body.status, 'accepted');
      assert.equal(res.body.reference, 'order-1');
      assert.equal(res.body.operator, null, 'no registry is imported in this suite (test/mno.test.ts imports one)');
      assert.equal(await waitForStatus(t.gateway, res.body.id, ['delivered']), 'delivered');
      const got = await call('GET', `/v1/messages/${res.body.id}`);
      assert.equal(got.status, 200);
      assert.equal(got.body.status, 'delivered');
      for (const field of ['created_at', 'queued_at', 'sent_at', 'delivered_at', 'completed_at']) assert.match(got.body[field], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, field);
      assert.deepEqual(
        got.body.events.map((e: { status: string }) => e.status),
        ['accepted', 'queued', 'sent', 'delivered'],
      );
      assert.equal(got.body.parts.length, 1);
      assert.equal(got.body.parts[0].status, 'delivered');
      assert.ok(got.body.parts[0].provider_message_id);
      assert.equal(got.body.reason, null);
    });

    test('a long Cyrillic text is split and delivered only when every part is', async () => {
      const text = 'Съешь же ещё этих мягких французских булок, да выпей чаю. '.repeat(3);
      const res = await call('POST', '/v1/messages', { body: { to: nextNumber(), text } });
      assert.equal(res.status, 202);
      assert.equal(res.body.encoding, 'ucs2');
      assert.equal(res.body.parts_count, 3);
      await waitForStatus(t.gateway, res.body.id, ['delivered']);
      const got = await call('GET', `/v1/messages/${res.body.id}`);
      assert.equal(got.body.parts.length, 3);
      assert.deepEqual(got.body.parts.map((p: { status: string }) => p.status), ['delivered', 'delivered', 'delivered']);
      assert.equal(got.body.parts.map((p: { text: string }) => p.text).join(''), text);
    });

    test('the sandbox: 0000 undeliverable, 0001 retried then delivered, 0002 rejected at submit', async () => {
      const undeliverable = await call('POST', '/v1/messages', { body: { to: '+79161230000', text: 'x' } });
      const retried = await call('POST', '/v1/messages', { body: { to: '+79161230001', text: 'x' } });
      const refused = await call('POST', '/v1/messages', { body: { to: '+79161230002', text: 'x' } });
      assert.equal(await waitForStatus(t.gateway, undeliverable.body.id, ['undelivered']), 'undelivered');
      assert.equal(await waitForStatus(t.gateway, retried.body.id, ['delivered']), 'delivered');
      assert.equal(await waitForStatus(t.gateway, refused.body.id, ['rejected']), 'rejected');

      const u = (await call('GET', `/v1/messages/${undeliverable.body.id}`)).body;
      assert.deepEqual(u.reason, { code: 'subscriber_unknown', description: u.reason.description, permanent: true, provider_code: 'stat:UNDELIV err:001', detail: null });
      assert.equal(u.parts[0].status, 'undelivered');

      const r = (await call('GET', `/v1/messages/${retried.body.id}`)).body;
      assert.equal(r.attempts, 2);
      assert.equal(r.reason, null, 'the retry reason is cleared once the message is sent');
      const retryEvent = r.events.find((e: { reason: string | null }) => e.reason === 'operator_throttled');
      assert.equal(retryEvent?.status, 'queued');
      assert.equal(retryEvent?.provider_code, '0x00000058');

      const f = (await call('GET', `/v1/messages/${refused.body.id}`)).body;
      assert.equal(f.reason.code, 'invalid_destination');
      assert.equal(f.reason.permanent, true);
      assert.equal(f.reason.detail, 'sandbox: destination address refused', 'what the connector said is shown');
      assert.equal(f.parts[0].status, 'pending');
    });

    test('send_at holds a message until its time', async () => {
      const sendAt = new Date(Date.now() + 600).toISOString();
      const res = await call('POST', '/v1/messages', { body: { to: nextNumber(), text: 'later', send_at: sendAt, ttl_seconds: 600 } });
      assert.equal(res.status, 202);
      assert.equal(res.body.send_at, sendAt);
      assert.equal(res.body.expires_at, new Date(Date.parse(sendAt) + 600_000).toISOString());
      await waitForStatus(t.gateway, res.body.id, ['delivered']);
      const got = (await call('GET', `/v1/messages/${res.body.id}`)).body;
      assert.ok(Date.parse(got.queued_at) >= Date.parse(sendAt), `queued ${got.queued_at} before send_at ${sendAt}`);
    });

    test('bad input gets a 4xx naming the field, and nothing is written', async () => {
      const before = await countMessages(t);
      const cases: [string, { body?: unknown; raw?: string; key?: string | null; headers?: Record<string, string> }, number, string, string | undefined][] = [
        ['malformed JSON', { raw: '{"to": "+79161234567", "text": ' }, 400, 'malformed_json', undefined],
        ['empty body', { raw: '' }, 400, 'malformed_json', undefined],
        ['wrong type', { body: { to: 79161234567, text: 'x' } }, 400, 'validation_failed', 'to'],
        ['missing text', { body: { to: '+79161234567' } }, 400, 'validation_failed', 'text'],
        ['unknown field', { body: { to: '+79161234567', text: 'x', colour: 'red' } }, 400, 'validation_failed', 'colour'],
        ['empty text', { body: { to: '+79161234567', text: '' } }, 422, 'empty_text', 'text'],
        ['blank text', { body: { to: '+79161234567', text: '   ' } }, 422, 'empty_text', 'text'],
        ['too long', { body: { to: '+79161234567', text: 'a'.repeat(153 * 10 + 1) } }, 422, 'text_too_long', 'text'],
        ['bad number', { body: { to: '+7 123', text: 'x' } }, 422, 'invalid_phone_number', 'to'],
        ['letters in number', { body: { to: 'call me', text: 'x' } }, 422, 'invalid_phone_number', 'to'],
        ['bad date', { body: { to: '+79161234567', text: 'x', send_at: 'tomorrow' } }, 400, 'validation_failed', 'send_at'],
        ['too far ahead', { body: { to: '+79161234567', text: 'x', send_at: '2099-01-01T00:00:00Z' } }, 422, 'invalid_send_at', 'send_at'],
        ['ttl out of range', { body: { to: '+79161234567', text: 'x', ttl_seconds: 5 } }, 400, 'validation_failed', 'ttl_seconds'],
        ['bad traffic type', { body: { to: '+79161234567', text: 'x', traffic_type: 'spam' } }, 400, 'validation_failed', 'traffic_type'],
        ['bad sender', { body: { to: '+79161234567', text: 'x', from: 'Имя' } }, 422, 'invalid_sender', 'from'],
        ['no key', { body: { to: '+79161234567', text: 'x' }, key: null }, 401, 'unauthorized', undefined],
        ['wrong key', { body: { to: '+79161234567', text: 'x' }, key: 'dpk_wrongwrongwrongwrongwrongwrong' }, 401, 'unauthorized', undefined],
        ['not JSON', { raw: 'to=1', headers: { 'content-type': 'text/plain' } }, 415, 'unsupported_media_type', undefined],
        // PostgreSQL's text cannot hold U+0000: refused up front on both databases, not a 500 there.
        ['NUL in text', { body: { to: '+79161234567', text: 'a\u0000b' } }, 400, 'validation_failed', 'text'],
        ['NUL deeper', { body: { to: '+79161234567', cascade: [{ channel: 'sms', timeout_seconds: 60 }, { channel: 'sms', text: '\u0000' }] } }, 400, 'validation_failed', 'cascade.1.text'],
      ];
      for (const [name, options, status, code, field] of cases) {
        const res = await call('POST', '/v1/messages', options);
        assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, code, name);
        assert.ok(res.body.error.message.length > 0, name);
        assert.match(res.body.error.request_id, /^req_/, name);
        if (field) assert.ok(res.body.error.details.some((d: { field: string }) => d.field === field), `${name}: details ${JSON.stringify(res.body.error.details)}`);
      }
      const tooLong = await call('POST', '/v1/messages', { body: { to: '+79161234567', text: 'a'.repeat(153 * 11) } });
      assert.match(tooLong.body.error.message, /needs 11 GSM-7 parts; the limit is 10/);
      const badNumber = await call('POST', '/v1/messages', { body: { to: '+7 123', text: 'x' } });
      assert.match(badNumber.body.error.message, /"\+7 123"/);
      const nulQuery = await call('GET', '/v1/messages?to=%2B7916%00');
      assert.equal(nulQuery.status, 400, JSON.stringify(nulQuery.body));
      assert.deepEqual(nulQuery.body.error.details, [{ field: 'to', issue: 'must not contain the NUL character (U+0000)' }]);
      assert.equal(await countMessages(t), before);
    });

    test('the account\'s default region reads national numbers: GB makes 07400 123456 +447400123456', async () => {
      const gb = await t.makeAccount('Regional');
      const national = '07400 123456';
      const asRu = await call('POST', '/v1/messages', { key: gb.apiKey, body: { to: national, text: 'hello' } });
      assert.equal(asRu.status, 422, 'under the default RU the number is not a valid one');
      assert.equal(asRu.body.error.code, 'invalid_phone_number');
      const changed = await call('PATCH', '/v1/account', { key: gb.apiKey, body: { default_region: 'GB' } });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      assert.equal(changed.body.default_region, 'GB');
      const sent = await call('POST', '/v1/messages', { key: gb.apiKey, body: { to: national, text: 'hello' } });
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      assert.equal(sent.body.to, '+447400123456');
      const bulk = await call('POST', '/v1/messages/bulk', { key: gb.apiKey, body: { to: ['07400 123457', '+79161234567'], text: 'hello' } });
      assert.deepEqual(bulk.body.messages.map((m: { to: string }) => m.to), ['+447400123457', '+79161234567']);
      const found = await call('GET', `/v1/messages?to=${encodeURIComponent(national)}`, { key: gb.apiKey });
      assert.deepEqual(found.body.data.map((m: { id: string }) => m.id), [sent.body.id], 'the search reads the number the same way');
      // The region is the account's: the first account still reads numbers as Russian.
      assert.equal((await call('POST', '/v1/messages', { body: { to: national, text: 'hello' } })).body.error.code, 'invalid_phone_number');
    });

    test('a gateway started with DEPESHA_MAX_PARTS=2 takes two parts and refuses three, saying how many it needs, in GSM-7 and UCS-2', async () => {
      const small = await startTestGateway(dialect.name, { DEPESHA_MAX_PARTS: '2' });
      try {
        const send = async (text: string) => {
          const res = await small.gateway.app.inject({ method: 'POST', url: '/v1/messages', headers: { authorization: `Bearer ${small.apiKey}` }, payload: { to: '+79161234567', text } });
          return { status: res.statusCode, body: res.json() };
        };
        const cases: [string, string, string][] = [
          ['GSM-7', 'a'.repeat(153 * 2), 'a'.repeat(153 * 2 + 1)],
          ['UCS-2', 'ж'.repeat(67 * 2), 'ж'.repeat(67 * 2 + 1)],
        ];
        for (const [encoding, fits, tooLong] of cases) {
          const two = await send(fits);
          assert.equal(two.status, 202, `${encoding}: ${JSON.stringify(two.body)}`);
          assert.equal(two.body.parts_count, 2);
          const three = await send(tooLong);
          assert.equal(three.status, 422, encoding);
          assert.equal(three.body.error.code, 'text_too_long');
          assert.match(three.body.error.message, new RegExp(`needs 3 ${encoding} parts; the limit is 2`));
          assert.ok(three.body.error.details.some((d: { field: string }) => d.field === 'text'));
        }
        const segments = await small.gateway.app.inject({ method: 'POST', url: '/v1/sms/segments', headers: { authorization: `Bearer ${small.apiKey}` }, payload: { text: 'x' } });
        assert.equal(segments.json().max_parts, 2);
        const rows = await small.gateway.database.db.selectFrom('messages').select('parts_count').execute();
        assert.deepEqual(rows.map((r) => r.parts_count), [2, 2], 'nothing of a refused text was written');
      } finally {
        await small.close();
      }
    });

    test('Idempotency-Key: the same body replays the first answer, another body is refused', async () => {
      const body = { to: nextNumber(), text: 'once' };
      const headers = { 'idempotency-key': `k-${dialect.name}-1` };
      const first = await call('POST', '/v1/messages', { body, headers });
      const second = await call('POST', '/v1/messages', { body, headers });
      assert.equal(first.status, 202);
      assert.equal(second.status, 202);
      assert.equal(second.headers['idempotency-replayed'], 'true');
      assert.equal(second.body.id, first.body.id);
      const other = await call('POST', '/v1/messages', { body: { ...body, text: 'twice' }, headers });
      assert.equal(other.status, 422);
      assert.equal(other.body.error.code, 'idempotency_key_reused');
      const list = await call('GET', `/v1/messages?to=${encodeURIComponent(body.to)}`);
      assert.equal(list.body.data.length, 1);
      // Another account may use the same key for its own request.
      const b = await t.makeAccount('Idem');
      const theirs = await call('POST', '/v1/messages', { body, headers, key: b.apiKey });
      assert.equal(theirs.status, 202);
      assert.notEqual(theirs.body.id, first.body.id);
    });

    test('bulk Idempotency-Key: a replay returns the whole first answer, per-item errors included, and writes nothing; another body is refused', async () => {
      const body = { to: [nextNumber(), 'garbage', nextNumber()], text: 'bulk once' };
      const headers = { 'idempotency-key': `bulk-${dialect.name}-1` };
      const first = await call('POST', '/v1/messages/bulk', { body, headers });
      assert.equal(first.status, 202, JSON.stringify(first.body));
      assert.equal(first.headers['idempotency-replayed'], undefined);
      assert.equal(first.body.accepted, 2);
      assert.deepEqual(first.body.errors.map((e: { index: number; code: string }) => [e.index, e.code]), [[1, 'invalid_phone_number']]);
      const written = await countMessages(t);
      const second = await call('POST', '/v1/messages/bulk', { body, headers });
      assert.equal(second.status, 202);
      assert.equal(second.headers['idempotency-replayed'], 'true');
      assert.deepEqual(second.body, first.body);
      assert.equal(await countMessages(t), written, 'the replay accepted nothing new');
      const other = await call('POST', '/v1/messages/bulk', { body: { ...body, text: 'bulk twice' }, headers });
      assert.equal(other.status, 422);
      assert.equal(other.body.error.code, 'idempotency_key_reused');
      // The same key on the single-message endpoint is another request, not a replay of the bulk answer.
      const single = await call('POST', '/v1/messages', { body: { to: body.to[0], text: body.text }, headers });
      assert.equal(single.status, 422);
      assert.equal(single.body.error.code, 'idempotency_key_reused');
      assert.equal(await countMessages(t), written);
      const batch = await call('GET', `/v1/batches/${first.body.batch_id}`);
      assert.equal(batch.body.total, 3);
      // A refused request leaves nothing under its key: the corrected one may use it.
      const refusedHeaders = { 'idempotency-key': `bulk-${dialect.name}-2` };
      const allBad = await call('POST', '/v1/messages/bulk', { body: { to: ['garbage'], text: 'bulk fixed' }, headers: refusedHeaders });
      assert.equal(allBad.body.error.code, 'bulk_all_invalid');
      const fixed = await call('POST', '/v1/messages/bulk', { body: { to: [nextNumber()], text: 'bulk fixed' }, headers: refusedHeaders });
      assert.equal(fixed.status, 202, JSON.stringify(fixed.body));
      assert.equal(fixed.headers['idempotency-replayed'], undefined);
      assert.equal(fixed.body.accepted, 1);
    });

    test('bulk: valid items are accepted, invalid ones listed with their index', async () => {
      const good = [nextNumber(), nextNumber(), nextNumber()];
      const res = await call('POST', '/v1/messages/bulk', { body: { to: [good[0], 'garbage', good[1], 42, good[2]], text: 'Bulk hello', group: 'promo' } });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.match(res.body.batch_id, /^bat_/);
      assert.equal(res.body.accepted, 3);
      assert.equal(res.body.rejected, 2);
      assert.deepEqual(res.body.messages.map((m: { index: number }) => m.index), [0, 2, 4]);
      assert.deepEqual(res.body.errors.map((e: { index: number; code: string }) => [e.index, e.code]), [
        [1, 'invalid_phone_number'],
        [3, 'validation_failed'],
      ]);
      assert.deepEqual(res.body.errors[0].details[0].field, 'to.1');
      for (const m of res.body.messages) await waitForStatus(t.gateway, m.id, ['delivered']);
      const batch = await call('GET', `/v1/batches/${res.body.batch_id}`);
      assert.equal(batch.status, 200);
      assert.deepEqual(batch.body.counts, { delivered: 3 });
      assert.equal(batch.body.total, 5);

      const each = await call('POST', '/v1/messages/bulk', {
        body: { messages: [{ to: nextNumber(), text: 'one' }, { to: nextNumber(), text: '' }, { to: nextNumber(), text: 'three', extra: 1 }, { to: nextNumber(), text: 'fo\u0000ur' }] },
      });
      assert.equal(each.status, 202);
      assert.equal(each.body.accepted, 1);
      assert.deepEqual(each.body.errors.map((e: { index: number; code: string; details: { field: string }[] }) => [e.index, e.code, e.details[0]?.field]), [
        [1, 'empty_text', 'messages.1.text'],
        [2, 'validation_failed', 'messages.2.extra'],
        [3, 'validation_failed', 'messages.3.text'],
      ]);
      // U+0000 is an item's problem in the one-text form too; the other numbers go.
      const numbers = await call('POST', '/v1/messages/bulk', { body: { to: [nextNumber(), '+7916\u0000'], text: 'five' } });
      assert.equal(numbers.status, 202, JSON.stringify(numbers.body));
      assert.equal(numbers.body.accepted, 1);
      assert.deepEqual(numbers.body.errors.map((e: { index: number; code: string; details: { field: string }[] }) => [e.index, e.code, e.details[0]?.field]), [[1, 'validation_failed', 'to.1']]);
    });

    test('bulk: over 10,000 items or no valid item is refused and writes nothing', async () => {
      const before = await countMessages(t);
      const tooMany = await call('POST', '/v1/messages/bulk', { body: { to: Array.from({ length: 10_001 }, () => '+79161234567'), text: 'x' } });
      assert.equal(tooMany.status, 422);
      assert.equal(tooMany.body.error.code, 'too_many_items');
      const allBad = await call('POST', '/v1/messages/bulk', { body: { to: ['nope', '+1'], text: 'x' } });
      assert.equal(allBad.status, 422);
      assert.equal(allBad.body.error.code, 'bulk_all_invalid');
      assert.equal(allBad.body.error.details.length, 2);
      assert.equal(await countMessages(t), before);
    });

    test('history search: filters, period, newest first, cursor pagination', async () => {
      const number = nextNumber();
      const ids: string[] = [];
      const start = Date.now();
      for (let i = 0; i < 5; i++) {
        const res = await call('POST', '/v1/messages', { body: { to: number, text: `n${i}`, group: `search-${dialect.name}`, project: i % 2 ? 'odd' : 'even' } });
        ids.push(res.body.id);
      }
      const national = number.replace('+7', '8');
      const page1 = await call('GET', `/v1/messages?to=${encodeURIComponent(national)}&limit=2`);
      assert.equal(page1.status, 200);
      assert.deepEqual(page1.body.data.map((m: { id: string }) => m.id), [ids[4], ids[3]]);
      assert.ok(page1.body.next_cursor);
      const page2 = await call('GET', `/v1/messages?to=${encodeURIComponent(national)}&limit=2&cursor=${page1.body.next_cursor}`);
      assert.deepEqual(page2.body.data.map((m: { id: string }) => m.id), [ids[2], ids[1]]);
      const page3 = await call('GET', `/v1/messages?to=${encodeURIComponent(national)}&limit=2&cursor=${page2.body.next_cursor}`);
      assert.deepEqual(page3.body.data.map((m: { id: string }) => m.id), [ids[0]]);
      assert.equal(page3.body.next_cursor, null);

      const odd = await call('GET', `/v1/messages?group=search-${dialect.name}&project=odd`);
      assert.deepEqual(odd.body.data.map((m: { id: string }) => m.id), [ids[3], ids[1]]);
      const since = await call('GET', `/v1/messages?group=search-${dialect.name}&since=${new Date(start).toISOString()}&until=${new Date(Date.now() + 1000).toISOString()}`);
      assert.equal(since.body.data.length, 5);
      const past = await call('GET', `/v1/messages?group=search-${dialect.name}&until=${new Date(start - 60_000).toISOString()}`);
      assert.equal(past.body.data.length, 0);
      const reversed = await call('GET', `/v1/messages?since=${new Date(start + 1000).toISOString()}&until=${new Date(start).toISOString()}`);
      assert.equal(reversed.body.error.code, 'invalid_period');
      const badCursor = await call('GET', '/v1/messages?cursor=xyz');
      assert.equal(badCursor.body.error.code, 'invalid_cursor');
      const badLimit = await call('GET', '/v1/messages?limit=5000');
      assert.equal(badLimit.body.error.code, 'validation_failed');
      const unknown = await call('GET', '/v1/messages?colour=red');
      assert.equal(unknown.body.error.code, 'validation_failed');
      await Promise.all(ids.map((id) => waitForStatus(t.gateway, id, ['delivered'])));
      const delivered = await call('GET', `/v1/messages?group=search-${dialect.name}&status=delivered`);
      assert.equal(delivered.body.data.length, 5);
    });

    test('segments: encoding and parts without sending', async () => {
      const res = await call('POST', '/v1/sms/segments', { body: { text: 'Ü€'.repeat(60) } });
      assert.equal(res.status, 200);
      assert.equal(res.body.encoding, 'gsm7');
      assert.equal(res.body.units, 180);
      assert.equal(res.body.parts_count, 2);
      assert.equal(res.body.max_parts, 10);
      const forced = await call('POST', '/v1/sms/segments', { body: { text: 'Привет', encoding: 'gsm7' } });
      assert.equal(forced.status, 422);
      assert.equal(forced.body.error.code, 'encoding_not_possible');
    });

    test('tenancy: another account cannot see or touch these messages, batches or keys', async () => {
      const mine = await call('POST', '/v1/messages', { body: { to: nextNumber(), text: 'private', group: 'secret' } });
      const batch = await call('POST', '/v1/messages/bulk', { body: { to: [nextNumber()], text: 'private bulk', group: 'secret' } });
      const other = await t.makeAccount('Intruder');
      const asOther = { key: other.apiKey };
      const read = await call('GET', `/v1/messages/${mine.body.id}`, asOther);
      assert.equal(read.status, 404);
      assert.equal(read.body.error.code, 'not_found');
      assert.equal((await call('GET', `/v1/batches/${batch.body.batch_id}`, asOther)).status, 404);
      assert.equal((await call('GET', '/v1/messages?group=secret', asOther)).body.data.length, 0);
      assert.equal((await call('GET', `/v1/messages?batch_id=${batch.body.batch_id}`, asOther)).body.data.length, 0);
      assert.equal((await call('GET', '/v1/messages', asOther)).body.data.length, 0);
      // The owner still reads it: the 404s above are about who asks, not a broken message.
      assert.equal((await call('GET', `/v1/messages/${mine.body.id}`)).status, 200);
    });

    test('every answer to a key carries rate-limit headers; past the limit it is 429 with Retry-After', async () => {
      const limited = await startTestGateway(dialect.name, { DEPESHA_RATE_LIMIT_PER_SECOND: '3' });
      try {
        const replies = await Promise.all(
          Array.from({ length: 8 }, () => limited.gateway.app.inject({ method: 'GET', url: '/v1/messages', headers: { authorization: `Bearer ${limited.apiKey}` } })),
        );
        // Eight requests fall in at most two one-second windows, which allow six at most.
        const statuses = replies.map((r) => r.statusCode);
        for (const r of replies) {
          assert.equal(r.headers['ratelimit-limit'], '3');
          assert.ok(r.headers['ratelimit-remaining'] !== undefined);
          assert.ok(r.headers['ratelimit-reset'] !== undefined);
        }
        if (statuses.includes(429)) {
          const r = replies[statuses.indexOf(429)]!;
          assert.equal(r.json().error.code, 'rate_limited');
          assert.equal(r.headers['retry-after'], '1');
        } else {
          assert.fail(`8 requests within ~1 s were all allowed: ${statuses.join(',')}`);
        }
      } finally {
        await limited.close();
      }
    });

    test('connectors: administrators see each connector and its state; account keys are refused', async () => {
      const list = await call('GET', '/v1/connectors');
      assert.equal(list.status, 200);
      const sandbox = list.body.data.find((c: { id: string }) => c.id === 'sandbox');
      assert.equal(sandbox.status, 'up');
      assert.equal(sandbox.links_up, 1);
      assert.equal('nodes' in sandbox, false, 'per-node parts only in a cluster');
      const one = await call('GET', '/v1/connectors/sandbox');
      assert.equal(one.status, 200);
      assert.deepEqual({ ...one.body, since: sandbox.since }, sandbox);
      assert.equal((await call('GET', '/v1/connectors/nope')).body.error.code, 'not_found');
      const other = await t.makeAccount();
      const refused = await call('GET', '/v1/connectors', { key: other.apiKey });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error.code, 'forbidden');
      assert.equal((await call('GET', '/v1/connectors/sandbox', { key: other.apiKey })).status, 403);
      const unmatched = await call('GET', '/v1/connectors/sandbox/unmatched-receipts');
      assert.equal(unmatched.status, 200);
      assert.deepEqual(unmatched.body, { data: [], next_cursor: null });
      assert.equal((await call('GET', '/v1/connectors/nope/unmatched-receipts')).status, 404);
      assert.equal((await call('GET', '/v1/connectors/sandbox/unmatched-receipts?cursor=zzz')).body.error.code, 'invalid_cursor');
    });

    test('a receipt that matches nothing is kept and acknowledged after a short hold, not the whole grace period, and listed for administrators', async () => {
      const receipts = new ReceiptProcessor(new WriteBatcher(t.gateway.database.db), new EventBus(), createLogger('silent'), { unmatchedGraceMs: 60_000, unmatchedHoldMs: 50 });
      const started = Date.now();
      await receipts.submit({ connectorId: 'sandbox', providerMessageId: `nobody-${dialect.name}`, status: 'delivered', at: started, raw: 'id:nobody stat:DELIVRD' });
      assert.ok(Date.now() - started < 5_000, 'acknowledged without waiting for the grace period');
      await receipts.stop();
      const list = await call('GET', '/v1/connectors/sandbox/unmatched-receipts');
      const kept = list.body.data.find((r: { provider_message_id: string }) => r.provider_message_id === `nobody-${dialect.name}`);
      assert.ok(kept, JSON.stringify(list.body));
      assert.equal(kept.raw, 'id:nobody stat:DELIVRD');
      assert.equal(kept.status, 'delivered');
    });

    test('SMPP credentials: created with a hashed password, scoped to the account, revoked', async () => {
      const created = await call('POST', '/v1/smpp/credentials', { body: { system_id: `shop${dialect.name}`, password: 'pa55word', allowed_ips: ['203.0.113.0/24'] } });
      assert.equal(created.status, 201);
      assert.match(created.body.id, /^smc_/);
      assert.deepEqual(
        { ...created.body, id: undefined, created_at: undefined },
        { id: undefined, created_at: undefined, system_id: `shop${dialect.name}`, allowed_ips: ['203.0.113.0/24'], max_binds: 4, max_submits_per_second: 100, receipt_hold_seconds: 259200 },
      );
      const stored = await t.gateway.database.db.selectFrom('smpp_credentials').select('password_hash').where('id', '=', created.body.id).executeTakeFirstOrThrow();
      assert.match(stored.password_hash, /^scrypt\$/);
      assert.ok(!stored.password_hash.includes('pa55word'));

      const again = await call('POST', '/v1/smpp/credentials', { body: { system_id: `shop${dialect.name}`, password: 'another1' } });
      assert.equal(again.status, 409);
      assert.equal(again.body.error.code, 'smpp_system_id_taken');
      const badIp = await call('POST', '/v1/smpp/credentials', { body: { system_id: 'x1', password: 'pa55word', allowed_ips: ['10.0.0.0/8', 'office'] } });
      assert.equal(badIp.status, 422);
      assert.equal(badIp.body.error.code, 'invalid_ip_range');
      assert.deepEqual(badIp.body.error.details, [{ field: 'allowed_ips[1]', issue: '"office" is not an address or CIDR range' }]);
      const shortPassword = await call('POST', '/v1/smpp/credentials', { body: { system_id: 'x2', password: '123456789' } });
      assert.equal(shortPassword.status, 400);
      assert.equal(await t.gateway.database.db.selectFrom('smpp_credentials').select('id').where('system_id', 'in', ['x1', 'x2']).executeTakeFirst(), undefined);

      const list = await call('GET', '/v1/smpp/credentials');
      assert.ok(list.body.data.some((c: { id: string }) => c.id === created.body.id));
      const other = await t.makeAccount();
      assert.equal((await call('GET', `/v1/smpp/credentials/${created.body.id}`, { key: other.apiKey })).status, 404);
      assert.equal((await call('DELETE', `/v1/smpp/credentials/${created.body.id}`, { key: other.apiKey })).status, 404);
      assert.equal((await call('GET', `/v1/smpp/credentials/${created.body.id}`)).status, 200);
      assert.equal((await call('DELETE', `/v1/smpp/credentials/${created.body.id}`)).status, 204);
      assert.equal((await call('GET', `/v1/smpp/credentials/${created.body.id}`)).status, 404);
    });

    test('numbers: administrators assign them; inbound messages land in the owning account only', async () => {
      const other = await t.makeAccount();
      const number = dialect.name === 'sqlite' ? '79160000101' : '79160000102';
      assert.equal((await call('POST', '/v1/numbers', { key: other.apiKey, body: { number, account_id: other.accountId } })).status, 403);
      const assigned = await call('POST', '/v1/numbers', { body: { number: `+${number}`, account_id: other.accountId } });
      assert.equal(assigned.status, 201);
      assert.equal(assigned.body.number, number);
      assert.equal((await call('POST', '/v1/numbers', { body: { number, account_id: t.accountId } })).body.error.code, 'number_taken');
      assert.equal((await call('POST', '/v1/numbers', { body: { number: '79160000199', account_id: 'acc_nope' } })).body.error.code, 'unknown_account');

      const inbound = new InboundProcessor(new WriteBatcher(t.gateway.database.db), createLogger('silent'), 'RU');
      const base = { connectorId: 'sandbox', from: '89161234567', text: 'Hi there', partsExpected: 1, partsReceived: 1, complete: true, receivedAt: Date.now() };
      const mine = await inbound.submit({ ...base, to: number });
      await inbound.submit({ ...base, to: '79160000198', text: 'to nobody' });
      const list = await call('GET', '/v1/inbound-messages', { key: other.apiKey });
      assert.equal(list.status, 200);
      assert.equal(list.body.data.length, 1);
      assert.deepEqual({ ...list.body.data[0], received_at: undefined }, { id: mine, from: '+79161234567', to: number, text: 'Hi there', complete: true, parts_expected: 1, parts_received: 1, connector_id: 'sandbox', received_at: undefined });
      assert.ok(!(await call('GET', '/v1/inbound-messages')).body.data.some((m: { text: string }) => m.text === 'to nobody'));
      const kept = await t.gateway.database.db.selectFrom('inbound_messages').select('account_id').where('recipient', '=', '79160000198').execute();
      assert.deepEqual(kept.map((r) => r.account_id), [null]);

      assert.deepEqual((await call('GET', '/v1/numbers', { key: other.apiKey })).body.data.map((n: { number: string }) => n.number), [number]);
      assert.equal((await call('DELETE', `/v1/numbers/${number}`)).status, 204);
      assert.deepEqual((await call('GET', '/v1/numbers', { key: other.apiKey })).body.data, []);
    });

    test('the OpenAPI document lists every /v1 route with its methods, and no route that does not exist', async () => {
      await t.gateway.app.ready();
      const registered = registeredRoutes(t.gateway.app.printRoutes({ commonPrefix: false })).filter((r) => r.path.startsWith('/v1/'));
      assert.ok(registered.length > 100, `only ${registered.length} /v1 routes read from printRoutes: has its format changed?`);
      for (const r of ['POST /v1/messages', 'GET /v1/messages/:id', 'DELETE /v1/api-keys/:id', 'POST /v1/sessions']) {
        assert.ok(registered.some((x) => `${x.method} ${x.path}` === r), `${r} not read from printRoutes`);
      }
      const doc = (await call('GET', '/openapi.json', { key: null })).body as { paths: Record<string, Record<string, unknown>> };
      const documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`)));
      const missing = registered.map((r) => `${r.method} ${r.path}`).filter((r) => !documented.has(r));
      assert.deepEqual(missing, [], 'routes missing from /openapi.json');
      const routes = new Set(registered.map((r) => `${r.method} ${r.path}`));
      const stale = [...documented].filter((r) => r.split(' ')[1]!.startsWith('/v1/') && !routes.has(r));
      assert.deepEqual(stale, [], 'documented routes that do not exist');
    });

    test('operations endpoints and the OpenAPI document', async () => {
      assert.equal((await call('GET', '/healthz', { key: null })).status, 200);
      assert.equal((await call('GET', '/readyz', { key: null })).status, 200);
      const metrics = await call('GET', '/metrics', { key: null });
      assert.equal(metrics.status, 200);
      assert.match(String(metrics.body), /depesha_messages_accepted_total/);
      assert.match(String(metrics.body), /depesha_connector_up\{connector="sandbox",type="sandbox"\} 1/);
      const doc = await call('GET', '/openapi.json', { key: null });
      assert.equal(doc.status, 200);
      for (const path of ['/v1/messages', '/v1/messages/bulk', '/v1/messages/{id}', '/v1/batches/{id}', '/v1/sms/segments', '/v1/connectors', '/v1/smpp/credentials', '/v1/numbers', '/v1/inbound-messages', '/healthz', '/readyz', '/metrics']) {
        assert.ok(doc.body.paths[path], `${path} missing from OpenAPI`);
      }
      assert.ok(doc.body.paths['/v1/messages'].post.requestBody);
      const ui = await call('GET', '/docs/', { key: null });
      assert.equal(ui.status, 200);
      const missing = await call('GET', '/v1/nothing');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error.code, 'route_not_found');
    });
  });
}
