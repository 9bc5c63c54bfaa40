import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { startGateway } from '../src/gateway.ts';
import { createLogger } from '../src/log.ts';
import { generateApiKey } from '../src/store/accounts.ts';
import { waitForStatus } from './helpers.ts';
import { connectorConformance } from '../src/connectors/conformance.ts';
import { HttpConnector } from '../src/connectors/http/http.ts';
import { httpDefinitionProblems, PRESETS } from '../src/connectors/http/presets.ts';
import type { HttpDefinition } from '../src/connectors/http/spec.ts';
import { ConnectorError, type OpenPart, type OpenPartsQuery, type OutboundMessage, type Receipt } from '../src/connectors/types.ts';
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

/** A preset whose statuses come by polling, asking every 50 ms so the suite's receipts come at once. */
function polling(preset: string): Partial<HttpDefinition> {
  return { poll: { ...PRESETS.get(preset)!.poll!, interval_seconds: 0.05 } };
}

describe('http connector (smstraffic preset, statuses polled) conformance', () => {
  connectorConformance('http:smstraffic', { make: () => make('smstraffic', polling('smstraffic')), deliverableNumber: '+79161234567', refusedNumber: '+79161230002' });
});

describe('http connector (smsaero_viber preset, statuses polled) conformance', () => {
  const viber = (): HttpConnector => {
    const { url } = fakes.get('smsaero')!;
    const definition: HttpDefinition = { id: 'agg-smsaero-viber', type: 'http', preset: 'smsaero_viber', base_url: url, secrets: { email: 'depesha', api_key: 'secret' }, settings: { sender: 'Shop' }, ...polling('smsaero_viber') };
    assert.deepEqual(httpDefinitionProblems(definition), []);
    return new HttpConnector(definition);
  };
  connectorConformance('http:smsaero_viber', { make: viber, deliverableNumber: '+79161234567', refusedNumber: '+79161230002' });
});

describe('http connector: presets', () => {
  test('every preset file is a complete manifest', () => {
    assert.deepEqual([...PRESETS.keys()].sort(), ['devino', 'smsaero', 'smsaero_viber', 'smsc_ru', 'smstraffic']);
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

describe('http connector: status polling', () => {
  /** A context whose open parts are the sends it was told of, minus those a receipt settled (as the store does). */
  function pollingContext() {
    const open: OpenPart[] = [];
    const receipts: Receipt[] = [];
    const queries: OpenPartsQuery[] = [];
    return {
      open,
      receipts,
      queries,
      context: {
        inbound: async () => {},
        async receipt(r: Receipt) {
          receipts.push(r);
          for (let i = open.length - 1; i >= 0; i--) if (open[i]!.providerMessageId === r.providerMessageId) open.splice(i, 1);
        },
        async openParts(q: OpenPartsQuery) {
          queries.push(q);
          return open.filter((p) => p.sentAt >= q.sentFrom && p.sentAt < q.sentBefore).slice(0, q.limit);
        },
      },
    };
  }

  test('SMSC.ru (receipts: poll): interim answers are asked again, final ones become receipts with their reasons; too old parts are given up', async () => {
    const c = make('smsc', { receipts: 'poll', public_url: undefined, secrets: { login: 'depesha', password: 'secret' } });
    const { fake } = fakes.get('smsc')!;
    fake.accountCallbackUrl = undefined;
    fake.interimPolls = 1;
    const p = pollingContext();
    await c.start(p.context);
    const t0 = Date.now();
    const good = await c.send(outbound('+79161234567', 'Проверка связи. '.repeat(10)));
    const bad = await c.send(outbound('+79161230000'));
    const swap = await c.send(outbound('+79161230219'));
    for (const [i, sent] of [good, bad, swap].entries()) {
      // A whole message: one id for all its parts.
      sent.providerIds.forEach((id, part) => p.open.push({ messageId: `msg_${i}`, partIndex: part, providerMessageId: id, recipient: ['+79161234567', '+79161230000', '+79161230219'][i]!, sentAt: t0 }));
    }
    p.open.push({ messageId: 'msg_old', partIndex: 0, providerMessageId: 'ancient', recipient: '+79161234567', sentAt: t0 - 4 * 86_400_000 });
    await c.pollOnce(t0 + 30_000);
    assert.equal(fake.statusRequests.size, 0, 'nothing is asked about before one interval (60 s) has passed');
    await c.pollOnce(t0 + 61_000);
    assert.equal(p.receipts.length, 0, 'the first answers are interim (-1)');
    assert.equal(fake.statusRequests.get(good.providerIds[0]!), 1, 'one request for the three parts of one message');
    await c.pollOnce(t0 + 90_000);
    assert.equal(fake.statusRequests.get(good.providerIds[0]!), 1, 'not asked again within the interval');
    await c.pollOnce(t0 + 122_000);
    const byId = new Map(p.receipts.map((r) => [r.providerMessageId, r]));
    assert.equal(byId.get(good.providerIds[0]!)?.status, 'delivered');
    assert.deepEqual([byId.get(bad.providerIds[0]!)?.status, byId.get(bad.providerIds[0]!)?.reason], ['undelivered', { code: 'subscriber_unknown', providerCode: 'status:20 err:1' }]);
    assert.deepEqual(byId.get(swap.providerIds[0]!)?.reason, { code: 'security_block', providerCode: 'status:20 err:219' });
    assert.equal(fake.statusRequests.has('ancient'), false, 'a part older than give_up_after_seconds is not asked about');
    const q = p.queries.at(-1)!;
    assert.deepEqual([q.connectorId, q.sentFrom, q.sentBefore], ['agg-smsc', t0 + 122_000 - 259_200_000, t0 + 122_000 - 60_000 + 1], 'the store is asked for parts sent between the give-up age and one interval ago');
    const asked = fake.requests.filter((r) => r.path === '/sys/status.php').at(-1)!;
    assert.deepEqual([asked.method, asked.fields.login, asked.fields.psw, asked.fields.fmt], ['GET', 'depesha', 'secret', '3']);
    assert.ok(['79161234567', '79161230000', '79161230219'].includes(asked.fields.phone!));
    await c.stop();
  });

  test('SMS Aero polls sms/status with Basic auth; a preset without poll cannot be set to poll; poll mode needs no callback secret', async () => {
    const c = make('smsaero', { receipts: 'poll', public_url: undefined, secrets: { email: 'depesha', api_key: 'secret', sender: 'Depesha' } });
    const { fake } = fakes.get('smsaero')!;
    fake.interimPolls = 0;
    const p = pollingContext();
    await c.start(p.context);
    const t0 = Date.now();
    const sent = await c.send(outbound('+79161230000'));
    assert.equal('callbackUrl' in (fake.requests.at(-1)!.json as object), false, 'no callback URL is given in poll mode');
    p.open.push({ messageId: 'm', partIndex: 0, providerMessageId: sent.providerIds[0]!, recipient: '+79161230000', sentAt: t0 });
    await c.pollOnce(t0 + 61_000);
    assert.deepEqual(p.receipts.map((r) => [r.providerMessageId, r.status, r.reason?.providerCode]), [[sent.providerIds[0], 'undelivered', 'status:2']]);
    await c.stop();
    assert.deepEqual(httpDefinitionProblems({ id: 'x', type: 'http', preset: 'devino', receipts: 'poll', secrets: { api_key: 'a', sender: 'b' } }).map((p) => p.field), ['receipts']);
    assert.deepEqual(httpDefinitionProblems({ id: 'x', type: 'http', preset: 'smsc_ru', receipts: 'poll', secrets: { login: 'a', password: 'b' } }), []);
  });

  test('SMS Traffic polls multi.php (operation=status): its XML status, interim while buffered, then delivered, undelivered or expired', async () => {
    // The preset has no status reports: polling is its default.
    assert.deepEqual(httpDefinitionProblems({ id: 'x', type: 'http', preset: 'smstraffic', secrets: { login: 'a', password: 'b' } }), []);
    const c = make('smstraffic');
    const { fake } = fakes.get('smstraffic')!;
    fake.interimPolls = 1;
    const p = pollingContext();
    await c.start(p.context);
    const t0 = Date.now();
    const numbers = ['+79161234567', '+79161230000', '+79161230003'];
    const sent: { providerIds: string[] }[] = [];
    for (const [i, to] of numbers.entries()) {
      const s = await c.send(outbound(to, i === 0 ? 'Проверка связи. '.repeat(10) : 'Код 4711'));
      sent.push(s);
      s.providerIds.forEach((id, part) => p.open.push({ messageId: `msg_${i}`, partIndex: part, providerMessageId: id, recipient: to, sentAt: t0 }));
    }
    assert.equal(fake.requests.find((r) => r.fields.phones === '79161234567')!.fields.max_parts, '3', 'a long text may take all its parts');
    p.open.push({ messageId: 'msg_gone', partIndex: 0, providerMessageId: '424242', recipient: '+79161234567', sentAt: t0 });
    await c.pollOnce(t0 + 61_000);
    assert.equal(p.receipts.length, 0, '"Buffered SMSC" is interim; an unknown id (an ERROR reply) is asked again');
    assert.match(c.state().detail ?? '', /1 of 4 status requests failed/);
    await c.pollOnce(t0 + 122_000);
    const byId = new Map(p.receipts.map((r) => [r.providerMessageId, [r.status, r.reason?.providerCode]]));
    assert.deepEqual(sent.map((s) => byId.get(s.providerIds[0]!)), [['delivered', undefined], ['undelivered', 'status:Non Delivered'], ['expired', 'status:Expired']]);
    const asked = fake.requests.filter((r) => r.fields.operation === 'status').at(-1)!;
    assert.deepEqual([asked.method, asked.path, asked.fields.login, asked.fields.password], ['POST', '/multi.php', 'depesha', 'secret']);
    assert.equal(fake.statusRequests.get(sent[0]!.providerIds[0]!), 2, 'one request per round for the three parts of one message');
    await c.stop();
  });

  test('SMS Aero Viber: viber/send with the sign and channel, statuses polled from viber/statistic (delivered, read, undelivered)', async () => {
    const { fake, url } = fakes.get('smsaero')!;
    const definition: HttpDefinition = { id: 'aero-viber', type: 'http', preset: 'smsaero_viber', base_url: url, secrets: { email: 'depesha', api_key: 'secret' }, settings: { sender: 'Shop', viber_channel: 'OFFICIAL' } };
    assert.deepEqual(httpDefinitionProblems(definition), [], 'polling is its default: no public address or callback secret');
    const c = new HttpConnector(definition);
    assert.deepEqual(c.manifest.channels, ['viber']);
    fake.interimPolls = 1;
    const p = pollingContext();
    await c.start(p.context);
    const t0 = Date.now();
    const numbers = ['+79161234567', '+79161230007', '+79161230000'];
    const sent: { providerIds: string[] }[] = [];
    for (const [i, to] of numbers.entries()) {
      const s = await c.send({ ...outbound(to, 'Ваш заказ готов'), channel: 'viber' });
      sent.push(s);
      p.open.push({ messageId: `msg_${i}`, partIndex: 1, providerMessageId: s.providerIds[0]!, recipient: to, sentAt: t0 });
    }
    const send = fake.requests.filter((r) => r.path === '/v2/viber/send').at(-1)!;
    assert.deepEqual(send.json, { number: '79161230000', sign: 'Shop', channel: 'OFFICIAL', text: 'Ваш заказ готов' });
    await c.pollOnce(t0 + 61_000);
    assert.equal(p.receipts.length, 0, 'status 0 (sent) is interim');
    await c.pollOnce(t0 + 122_000);
    const byId = new Map(p.receipts.map((r) => [r.providerMessageId, r.status]));
    assert.deepEqual(sent.map((s) => byId.get(s.providerIds[0]!)), ['delivered', 'read', 'undelivered']);
    const asked = fake.requests.filter((r) => r.path === '/v2/viber/statistic').at(-1)!;
    assert.equal(typeof (asked.json as { sendingId: unknown }).sendingId, 'number');
    const bad = await refusal(new HttpConnector({ ...definition, id: 'aero-viber-2' }), '+79161230002');
    assert.deepEqual([bad.retryable, bad.reason], [false, 'operator_rejected']);
    await c.stop();
  });

  test('a status mapped to read is a read receipt (SMSC.ru status 2)', () => {
    const c = make('smsc');
    assert.deepEqual([c.parseReceipt({ id: '77', status: '2', err: '0' })?.status, c.parseReceipt({ id: '77', status: '1', err: '0' })?.status], ['read', 'delivered']);
  });

  test('through the gateway: a sent message is delivered by polling, and polling goes on after a restart (what to ask about is in the database)', async () => {
    const { fake, url } = fakes.get('smsc')!;
    fake.accountCallbackUrl = undefined;
    fake.interimPolls = 0;
    const dataDir = mkdtempSync(path.join(tmpdir(), 'depesha-poll-'));
    after(() => rmSync(dataDir, { recursive: true, force: true }));
    writeFileSync(
      path.join(dataDir, 'config.json'),
      JSON.stringify({
        connectors: [{ id: 'smsc', type: 'http', preset: 'smsc_ru', base_url: url, receipts: 'poll', secrets: { login: 'depesha', password: 'secret' }, poll: { ...PRESETS.get('smsc_ru')!.poll!, interval_seconds: 0.1 } }],
        routes: [{ connector: 'smsc' }],
      }),
    );
    const apiKey = generateApiKey();
    const config = loadConfig({ DEPESHA_DATA_DIR: dataDir, DEPESHA_CONFIG: path.join(dataDir, 'config.json'), DEPESHA_BOOTSTRAP_API_KEY: apiKey, LOG_LEVEL: 'silent', DEPESHA_SQLITE_SYNCHRONOUS: 'normal' });
    const boot = () => startGateway(config, { log: createLogger('silent'), listen: false, print: () => {}, pollMs: 50, smpp: false });
    const sendSms = async (g: Awaited<ReturnType<typeof boot>>, to: string) => {
      const res = await g.app.inject({ method: 'POST', url: '/v1/messages', headers: { authorization: `Bearer ${apiKey}` }, payload: { to, text: 'Код 4711' } });
      assert.equal(res.statusCode, 202, res.body);
      return res.json().id as string;
    };
    let g = await boot();
    try {
      const polled = await sendSms(g, '+79161234561');
      assert.equal(await waitForStatus(g, polled, ['delivered', 'undelivered']), 'delivered');
      fake.holdStatus = true;
      const held = await sendSms(g, '+79161230000');
      assert.equal(await waitForStatus(g, held, ['sent']), 'sent');
      const part = await g.database.db.selectFrom('message_parts').select('provider_message_id').where('message_id', '=', held).executeTakeFirstOrThrow();
      while ((fake.statusRequests.get(part.provider_message_id) ?? 0) < 1) await new Promise((r) => setTimeout(r, 20));
      await g.close();
      fake.holdStatus = false;
      g = await boot();
      assert.equal(await waitForStatus(g, held, ['undelivered', 'delivered']), 'undelivered');
      const row = await g.database.db.selectFrom('messages').select(['reason_code', 'provider_code']).where('id', '=', held).executeTakeFirstOrThrow();
      assert.deepEqual([row.reason_code, row.provider_code], ['subscriber_unknown', 'status:20 err:1']);
    } finally {
      fake.holdStatus = false;
      await g.close();
    }
  });
});
