import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

// docs/api.md shows answers of the API as JSON; these tests hold them to what the gateway really answers: the same
// fields in the same order, and the same values where a value does not depend on the moment.
const guide = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8');

/** The first ```json block after `marker` in docs/api.md, parsed; a fragment of fields is read as one object. */
function example(marker: string): any {
  const at = guide.indexOf(marker);
  assert.ok(at >= 0, `docs/api.md has no "${marker}"`);
  const block = /```json\n([\s\S]*?)\n```/.exec(guide.slice(at));
  assert.ok(block, `no JSON example after "${marker}"`);
  const text = block[1]!.trim();
  return JSON.parse(text.startsWith('{') ? text : `{${text}}`);
}

const keys = (o: object) => Object.keys(o);

describe('the examples of docs/api.md match real answers', () => {
  let t: TestGateway;
  const call = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
    const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${t.apiKey}` }, ...(body === undefined ? {} : { payload: body as object }) });
    return { status: res.statusCode, body: res.json() };
  };
  before(async () => {
    t = await startTestGateway('sqlite');
  });
  after(() => t?.close());

  test('POST /v1/messages: the 202 answer, then GET /v1/messages/{id} of it delivered', async () => {
    const doc = example('`202 Accepted`:');
    const body = { to: '+7 916 123-45-67', text: 'Your code is 4711', from: 'Depesha', ttl_seconds: 600, group: 'otp', project: 'shop', traffic_type: 'transactional', reference: 'order-4711' };
    const res = await call('POST', '/v1/messages', body);
    assert.equal(res.status, 202);
    assert.deepEqual(keys(doc), keys(res.body));
    const moving = new Set(['id', 'expires_at', 'created_at', 'updated_at']);
    for (const k of keys(res.body).filter((k) => !moving.has(k))) assert.deepEqual(doc[k], res.body[k], `202 example: ${k}`);

    await waitForStatus(t.gateway, res.body.id, ['delivered']);
    const got = (await call('GET', `/v1/messages/${res.body.id}`)).body;
    const docGot = example('## Get a message: `GET /v1/messages/{id}`');
    assert.deepEqual(keys(docGot), keys(got));
    assert.deepEqual(keys(docGot.parts[0]), keys(got.parts[0]));
    assert.deepEqual(keys(docGot.events[0]), keys(got.events[0]));
    assert.deepEqual(docGot.events.map((e: { status: string }) => e.status), got.events.map((e: { status: string }) => e.status));
    for (const k of ['status', 'reason', 'connector', 'attempts', 'operator', 'region', 'callback_url']) assert.deepEqual(docGot[k], got[k], `GET example: ${k}`);
  });

  test('POST /v1/messages/bulk: the answer with an item refused, then GET /v1/batches/{id}', async () => {
    const doc = example('The answer is `202 Accepted` as soon as the accepted');
    const res = await call('POST', '/v1/messages/bulk', { to: ['+79161234567', '8 (916) 123-45-68', 'not a number'], text: 'Sale today', from: 'Shop', group: 'sale-11' });
    assert.equal(res.status, 202);
    const withoutIds = (answer: any) => ({ ...answer, batch_id: 'bat_…', messages: answer.messages.map((m: object) => ({ ...m, id: 'msg_…' })) });
    assert.deepEqual(withoutIds(doc), withoutIds(res.body));
    for (const m of res.body.messages) await waitForStatus(t.gateway, m.id, ['delivered']);
    const batch = (await call('GET', `/v1/batches/${res.body.batch_id}`)).body;
    const docBatch = example('## Get a batch: `GET /v1/batches/{id}`');
    assert.deepEqual({ ...docBatch, id: batch.id, created_at: batch.created_at }, batch);
  });

  test('GET /v1/messages: a message of a search', async () => {
    const doc = example('## Search messages: `GET /v1/messages`');
    await call('POST', '/v1/messages/bulk', { to: ['+79161234568'], text: 'Sale today', from: 'Shop', group: 'sale-11' });
    const list = (await call('GET', '/v1/messages?group=sale-11')).body;
    assert.deepEqual(keys(doc), keys(list));
    assert.deepEqual(keys(doc.data[0]), keys(list.data[0]));
  });

  test('the sandbox\'s undeliverable number, its status history and a cancelled message: the reason objects', async () => {
    const sent = await call('POST', '/v1/messages', { to: '+79161230000', text: 'Test' });
    await waitForStatus(t.gateway, sent.body.id, ['undelivered']);
    const got = (await call('GET', `/v1/messages/${sent.body.id}`)).body;
    const sandbox = example('## Trying it without an operator');
    assert.equal(sandbox.status, got.status);
    assert.deepEqual(sandbox.reason, got.reason);

    const history = (await call('GET', `/v1/messages/${sent.body.id}/events`)).body;
    const docHistory = example('## A message\'s status history');
    assert.deepEqual(keys(docHistory), keys(history));
    assert.deepEqual(keys(docHistory.data[0]), keys(history.data[0]));
    assert.deepEqual(keys(docHistory.data[0].data), keys(history.data[0].data));
    assert.deepEqual(docHistory.data.at(-1).data.reason, history.data.at(-1).data.reason, 'a status change\'s reason has no detail');

    const later = await call('POST', '/v1/messages', { to: '+79161234569', text: 'later', send_at: new Date(Date.now() + 3_600_000).toISOString() });
    const cancelled = (await call('POST', `/v1/messages/${later.body.id}/cancel`)).body;
    const docCancelled = example('## Cancel a message');
    assert.equal(docCancelled.status, cancelled.status);
    assert.deepEqual(docCancelled.reason, cancelled.reason);
  });
});
