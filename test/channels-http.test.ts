import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { connectorConformance } from '../src/connectors/conformance.ts';
import { HttpConnector } from '../src/connectors/http/http.ts';
import { httpDefinitionProblems, PRESETS } from '../src/connectors/http/presets.ts';
import type { HttpDefinition } from '../src/connectors/http/spec.ts';
import { ConnectorError, type OutboundMessage, type Receipt } from '../src/connectors/types.ts';
import { segment } from '../src/sms/encoding.ts';
import { CallbackRelay } from './fakes/callback-relay.ts';
import { FakeAggregator, type Flavour } from './fakes/http-aggregator.ts';

/**
 * The generic HTTP connector with each preset against a loopback fake of that
 * aggregator: the shared conformance suite, error replies mapped to typed
 * errors, and status reports through the callback with its secret checked.
 */

const SECRETS: Record<Flavour, Record<string, string>> = {
  smsc: { login: 'depesha', password: 'secret', callback_secret: 'cb-secret' },
  smsaero: { email: 'depesha', api_key: 'secret', sender: 'Depesha', callback_secret: 'cb-secret' },
  devino: { api_key: 'secret', sender: 'Depesha', callback_secret: 'cb-secret' },
  smstraffic: { login: 'depesha', password: 'secret' },
};
const PRESET: Record<Flavour, string> = { smsc: 'smsc_ru', smsaero: 'smsaero', devino: 'devino', smstraffic: 'smstraffic' };

let current: HttpConnector | undefined;
const relay = new CallbackRelay(async (r) => {
  if (!current) return { status: 503, body: 'no connector' };
  const url = new URL(r.url, 'http://x');
  return current.callback({ method: r.method, headers: r.headers, query: Object.fromEntries(url.searchParams), body: r.body });
});
const publicUrl = await relay.start();
const fakes = new Map<Flavour, { fake: FakeAggregator; url: string }>();
for (const flavour of ['smsc', 'smsaero', 'devino', 'smstraffic'] as const) {
  const fake = new FakeAggregator(flavour);
  fakes.set(flavour, { fake, url: await fake.start() });
}
after(async () => {
  await relay.stop();
  for (const { fake } of fakes.values()) await fake.stop();
});

function make(flavour: Flavour, overrides: Partial<HttpDefinition> = {}): HttpConnector {
  const { fake, url } = fakes.get(flavour)!;
  const definition: HttpDefinition = { id: `agg-${flavour}`, type: 'http', preset: PRESET[flavour], base_url: url, public_url: publicUrl, secrets: SECRETS[flavour], ...overrides };
  assert.deepEqual(httpDefinitionProblems(definition), []);
  const c = new HttpConnector(definition);
  // SMSC.ru takes the report address in its cabinet, not per message.
  fake.accountCallbackUrl = `${publicUrl}/v1/callbacks/${c.id}?token=cb-secret`;
  current = c;
  return c;
}

function outbound(to: string, text = 'Код 4711'): OutboundMessage {
  const s = segment(text);
  return { id: 'msg_01HTTPTESTHTTPTESTHTTPTEST', accountId: 'acc_X', attempt: 1, to, from: null, text, encoding: s.encoding, parts: s.parts, trafficType: 'service', validUntil: Date.now() + 60_000 };
}

async function refusal(c: HttpConnector, to: string): Promise<ConnectorError> {
  await c.start({ receipt: async () => {}, inbound: async () => {} });
  try {
    await c.send(outbound(to));
  } catch (err) {
    assert.ok(err instanceof ConnectorError, String(err));
    return err;
  } finally {
    await c.stop();
  }
  assert.fail('the send should have failed');
}

for (const flavour of ['smsc', 'smsaero', 'devino'] as const) {
  describe(`http connector (${flavour} preset) conformance`, () => {
    connectorConformance(`http:${flavour}`, { make: () => make(flavour), deliverableNumber: '+79161234567', refusedNumber: '+79161230002' });
  });
}

describe('http connector: presets', () => {
  test('every preset file is a complete manifest', () => {
    assert.deepEqual([...PRESETS.keys()].sort(), ['devino', 'smsaero', 'smsc_ru', 'smstraffic']);
    for (const [name, p] of PRESETS) {
      assert.ok(p.name && p.base_url.startsWith('https://') && p.send.url && p.response.id, name);
      assert.ok(p.fields.length > 0, `${name} names the secrets it needs`);
    }
  });

  test('a definition naming an unknown preset, or missing the secrets of its preset, is refused', () => {
    assert.deepEqual(httpDefinitionProblems({ id: 'x', type: 'http', preset: 'nope' }).map((p) => p.field), ['preset']);
    assert.deepEqual(
      httpDefinitionProblems({ id: 'x', type: 'http', preset: 'smsc_ru', secrets: { login: 'a' } }).map((p) => p.field),
      ['secrets.password', 'secrets.callback_secret'],
    );
    assert.deepEqual(httpDefinitionProblems({ id: 'x', type: 'http' }).map((p) => p.field), ['send', 'response', 'base_url']);
  });
});

describe('http connector: error replies', () => {
  test('SMSC.ru: a bad number is permanent invalid_destination with its code; bad credentials are retryable', async () => {
    const bad = await refusal(make('smsc'), '+79161230002');
    assert.deepEqual([bad.retryable, bad.reason, bad.providerCode], [false, 'invalid_destination', '7']);
    const login = await refusal(make('smsc', { secrets: { ...SECRETS.smsc, password: 'wrong' } }), '+79161234567');
    assert.deepEqual([login.retryable, login.reason, login.providerCode], [true, 'operator_unavailable', '2']);
  });

  test('HTTP 500 and 429 are retryable, the first a link failure, the second throttling', async () => {
    const e500 = await refusal(make('smsaero'), '+79161230005');
    assert.deepEqual([e500.retryable, e500.reason, e500.providerCode], [true, 'operator_error', 'http_500']);
    const e429 = await refusal(make('devino'), '+79161230009');
    assert.deepEqual([e429.retryable, e429.reason, e429.providerCode], [true, 'operator_throttled', 'http_429']);
  });

  test('SMS Aero: a 401 is retryable (credentials), a refusal keeps its message', async () => {
    const auth = await refusal(make('smsaero', { secrets: { ...SECRETS.smsaero, api_key: 'wrong' } }), '+79161234567');
    assert.deepEqual([auth.retryable, auth.reason], [true, 'operator_unavailable']);
    const bad = await refusal(make('smsaero'), '+79161230002');
    assert.equal(bad.retryable, false);
    assert.match(bad.message, /number is invalid/);
  });

  test('Devino: REJECTED in the result is the refusal code', async () => {
    const bad = await refusal(make('devino'), '+79161230002');
    assert.deepEqual([bad.retryable, bad.reason, bad.providerCode], [false, 'operator_rejected', 'REJECTED']);
  });

  test('SMS Traffic (XML): the sms_id of an OK reply, the code of an ERROR reply', async () => {
    const c = make('smstraffic');
    await c.start({ receipt: async () => {}, inbound: async () => {} });
    const sent = await c.send(outbound('+79161234567', 'Проверка связи. '.repeat(10)));
    assert.equal(sent.providerIds.length, 3, 'one id per part');
    assert.match(sent.providerIds[0]!, /^\d+$/);
    assert.equal(new Set(sent.providerIds).size, 1, 'the aggregator took the whole text: one id');
    await c.stop();
    const { fake } = fakes.get('smstraffic')!;
    const last = fake.requests.at(-1)!;
    assert.deepEqual([last.fields.rus, last.fields.want_sms_ids, last.fields.phones, 'originator' in last.fields], ['5', '1', '79161234567', false]);
    const bad = await refusal(make('smstraffic'), '+79161230002');
    assert.deepEqual([bad.retryable, bad.providerCode], [false, '402']);
  });
});

describe('http connector: status reports', () => {
  test('SMSC.ru: undelivered and SIM-swap reports map to reasons; the report is acknowledged after it is recorded', async () => {
    const c = make('smsc');
    const receipts: Receipt[] = [];
    await c.start({ receipt: async (r) => void receipts.push(r), inbound: async () => {} });
    const { fake } = fakes.get('smsc')!;
    const posted = fake.nextCallbacks(2);
    const a = await c.send(outbound('+79161230000'));
    const b = await c.send(outbound('+79161230219'));
    const answers = await posted;
    assert.deepEqual(answers.map((x) => [x.status, x.body]), [[200, 'OK'], [200, 'OK']]);
    const byId = new Map(receipts.map((r) => [r.providerMessageId, r]));
    assert.deepEqual([byId.get(a.providerIds[0]!)?.status, byId.get(a.providerIds[0]!)?.reason], ['undelivered', { code: 'subscriber_unknown', providerCode: 'status:20 err:1' }]);
    assert.deepEqual(byId.get(b.providerIds[0]!)?.reason, { code: 'security_block', providerCode: 'status:20 err:219' });
    await c.stop();
  });

  test('a report without the secret, or with a wrong one, is refused and reaches nothing', async () => {
    const c = make('smsc');
    const receipts: Receipt[] = [];
    await c.start({ receipt: async (r) => void receipts.push(r), inbound: async () => {} });
    const body = 'id=1&phone=79161234567&status=1&err=0';
    assert.equal((await c.callback({ method: 'POST', headers: {}, query: {}, body })).status, 401);
    assert.equal((await c.callback({ method: 'POST', headers: {}, query: { token: 'cb-secreT' }, body })).status, 401);
    assert.equal((await c.callback({ method: 'POST', headers: {}, query: { token: 'cb-secret' }, body })).status, 200);
    assert.deepEqual(receipts.map((r) => [r.providerMessageId, r.status]), [['1', 'delivered']]);
    await c.stop();
  });

  test('a report that cannot be recorded is not acknowledged (the provider sends it again)', async () => {
    const c = make('smsc');
    await c.start({ receipt: async () => Promise.reject(new Error('database down')), inbound: async () => {} });
    await assert.rejects(c.callback({ method: 'POST', headers: {}, query: { token: 'cb-secret' }, body: 'id=1&status=1' }), /database down/);
    await c.stop();
  });

  test('a manifest without a preset, with HMAC-signed JSON reports in a batch', async () => {
    const { url } = fakes.get('devino')!;
    const c = new HttpConnector({
      id: 'custom',
      type: 'http',
      base_url: url,
      channels: ['sms', 'viber'],
      secrets: { api_key: 'secret', callback_secret: 'k' },
      send: { method: 'POST', url: '{{ base_url }}/sms/messages', headers: { authorization: 'Key {{ secrets.api_key }}' }, json: '{"messages":[{"from":"X","to":{{ message.to_digits | json }},"text":{{ message.text | json }}}]}' },
      response: { format: 'json', id: 'result.0.messageId', success: { path: 'result.0.code', equals: 'OK' } },
      callback: { format: 'json', auth: { type: 'hmac-sha256', header: 'X-Signature', encoding: 'hex', prefix: 'sha256=' }, items: 'events', id: 'ref', status: 'state', error_code: 'code', statuses: { ok: 'delivered', fail: 'undelivered', queued: 'ignore' } },
      status_errors: { '27': { reason: 'subscriber_absent', permanent: false } },
    });
    assert.deepEqual(c.manifest.channels, ['sms', 'viber']);
    const receipts: Receipt[] = [];
    await c.start({ receipt: async (r) => void receipts.push(r), inbound: async () => {} });
    const sent = await c.send(outbound('+79161234567'));
    const body = JSON.stringify({ events: [{ ref: sent.providerIds[0], state: 'queued' }, { ref: 'p2', state: 'fail', code: 27 }, { ref: 'p3', state: 'ok' }] });
    const sig = `sha256=${createHmac('sha256', 'k').update(body).digest('hex')}`;
    assert.equal((await c.callback({ method: 'POST', headers: { 'x-signature': sig }, query: {}, body: body + ' ' })).status, 401, 'the signature covers the exact bytes');
    assert.equal((await c.callback({ method: 'POST', headers: { 'x-signature': sig }, query: {}, body })).status, 200);
    assert.deepEqual(
      receipts.map((r) => [r.providerMessageId, r.status, r.reason?.code]),
      [['p2', 'undelivered', 'subscriber_absent'], ['p3', 'delivered', undefined]],
    );
    await c.stop();
  });
});
