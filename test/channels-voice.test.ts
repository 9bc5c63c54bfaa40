import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectorConformance } from '../src/connectors/conformance.ts';
import { connectorProblems } from '../src/connectors/problems.ts';
import { VoiceConnector, type VoiceDefinition } from '../src/connectors/voice/freeswitch.ts';
import { ConnectorError, type OutboundMessage, type Receipt } from '../src/connectors/types.ts';
import { segment } from '../src/sms/encoding.ts';
import { FakeFreeSwitch } from './fakes/freeswitch.ts';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

/**
 * The voice connector against a loopback FreeSWITCH event socket: the
 * conformance suite, the originate command, hang-up causes mapped to
 * statuses and reasons, the error paths (bad password, -ERR replies, the
 * socket lost mid-call) and, through the whole gateway, voice messages sent
 * with POST /v1/messages.
 */

const fs = new FakeFreeSwitch('s3cret');
const port = await fs.start();
after(() => fs.stop());

const make = (overrides: Partial<VoiceDefinition> = {}) =>
  new VoiceConnector({ id: 'fs', type: 'voice', host: '127.0.0.1', port, gateway: 'trunk1', caller_id_number: '74950000000', reconnect_min_ms: 20, reconnect_max_ms: 100, secrets: { password: 's3cret' }, ...overrides });

let n = 0;
function outbound(to: string, text = 'Ваш код 4711'): OutboundMessage {
  const s = segment(text);
  return { id: `msg_01VOICETEST${String(n++).padStart(14, '0')}`, accountId: 'acc_X', attempt: 1, to, from: null, text, encoding: s.encoding, parts: s.parts, trafficType: 'service', validUntil: Date.now() + 60_000, channel: 'voice' };
}

/** Starts the connector; `next(k)` resolves with the next k receipts. */
async function started(c: VoiceConnector) {
  const receipts: Receipt[] = [];
  let waiters: { count: number; resolve: () => void }[] = [];
  await c.start({
    inbound: async () => {},
    async receipt(r) {
      receipts.push(r);
      for (const w of waiters) if (receipts.length >= w.count) w.resolve();
      waiters = waiters.filter((w) => receipts.length < w.count);
    },
  });
  const next = (k: number) => new Promise<Receipt[]>((resolve) => {
    const count = receipts.length + k;
    waiters.push({ count, resolve: () => resolve(receipts.slice(count - k, count)) });
  });
  return { receipts, next };
}

describe('voice connector conformance', () => connectorConformance('voice', { make: () => make(), deliverableNumber: '+79161234567' }));

describe('voice connector', () => {
  test('originates through the gateway with our uuid, the caller id and speak; answered and cleared is delivered', async () => {
    const c = make();
    const { next } = await started(c);
    const got = next(1);
    const m = outbound('+79161234567', "Ваш код 4711.\nНе сообщайте (никому) 'его'");
    const sent = await c.send(m);
    const call = fs.calls.get(sent.providerIds[0]!)!;
    assert.ok(call, 'the provider id is the channel uuid (origination_uuid)');
    assert.equal(call.number, '79161234567');
    assert.match(call.command, /\}sofia\/gateway\/trunk1\/79161234567 '&speak/);
    assert.equal(call.vars.origination_caller_id_number, '74950000000');
    assert.equal(call.vars.depesha_message, m.id);
    assert.equal(call.app, 'speak(flite|kal|Ваш код 4711. Не сообщайте никому ’его’)');
    const [r] = await got;
    assert.deepEqual([r!.providerMessageId, r!.status, r!.reason], [sent.providerIds[0], 'delivered', undefined]);
    assert.match(r!.raw!, /NORMAL_CLEARING/);
    await c.stop();
  });

  test('busy, no answer, no such number and declined are sent, then undelivered with their reasons', async () => {
    const c = make({ event_format: 'json' });
    const { next } = await started(c);
    const got = next(4);
    const ids = new Map<string, string>();
    for (const to of ['+79161230017', '+79161230019', '+79161230001', '+79161230021']) ids.set((await c.send(outbound(to))).providerIds[0]!, to);
    const byNumber = new Map((await got).map((r) => [ids.get(r.providerMessageId)!, [r.status, r.reason?.code, r.reason?.providerCode]]));
    assert.deepEqual(byNumber.get('+79161230017'), ['undelivered', 'subscriber_absent', 'USER_BUSY']);
    assert.deepEqual(byNumber.get('+79161230019'), ['undelivered', 'subscriber_absent', 'NO_ANSWER']);
    assert.deepEqual(byNumber.get('+79161230001'), ['undelivered', 'subscriber_unknown', 'UNALLOCATED_NUMBER']);
    assert.deepEqual(byNumber.get('+79161230021'), ['undelivered', 'subscriber_blocked', 'CALL_REJECTED']);
    await c.stop();
  });

  test('a network failure before the call is placed is a retryable error; FreeSWITCH refusing the command too', async () => {
    const c = make();
    const { receipts } = await started(c);
    await assert.rejects(c.send(outbound('+79991110041')), (err: unknown) => err instanceof ConnectorError && err.retryable && err.reason === 'operator_error' && err.providerCode === 'NORMAL_TEMPORARY_FAILURE');
    fs.refuseNextBgapi = '-ERR command not found';
    await assert.rejects(c.send(outbound('+79161234567')), (err: unknown) => err instanceof ConnectorError && err.retryable && err.providerCode === '-ERR command not found');
    // The retry of the failed number gets through.
    const again = await c.send(outbound('+79991110041'));
    assert.equal(again.providerIds.length, 1);
    assert.equal(receipts.some((r) => r.reason?.providerCode === 'NORMAL_TEMPORARY_FAILURE'), false, 'a retried failure is not also a receipt');
    await c.stop();
  });

  test('a wrong password leaves it connecting with the reason; sends fail retryable', async () => {
    const c = make({ secrets: { password: 'nope' } });
    await c.start({ receipt: async () => {}, inbound: async () => {} });
    const s = c.state();
    assert.deepEqual([s.status, s.links.up], ['connecting', 0]);
    assert.match(s.detail ?? '', /auth refused: -ERR invalid/);
    await assert.rejects(c.send(outbound('+79161234567')), (err: unknown) => err instanceof ConnectorError && err.retryable && err.reason === 'operator_unavailable');
    await c.stop();
    assert.equal(c.state().status, 'stopped');
    assert.deepEqual(connectorProblems({ id: 'v', type: 'voice', host: 'h' }).map((p) => p.field), ['secrets.password', 'gateway']);
    assert.deepEqual(connectorProblems({ id: 'v', type: 'voice', host: 'h', dial_string: 'sofia/external/x', play: 'file', secrets: { password: 'p' } }).map((p) => p.field), ['dial_string', 'file']);
  });

  test('play: file plays the file named for the message', async () => {
    const c = make({ play: 'file', file: '/var/spool/depesha/{message_id}.wav', dial_string: 'sofia/external/{e164}@sip.example.net' });
    const { next } = await started(c);
    const got = next(1);
    const m = outbound('+79161234567');
    const sent = await c.send(m);
    const call = fs.calls.get(sent.providerIds[0]!)!;
    assert.equal(call.app, `playback(/var/spool/depesha/${m.id}.wav)`);
    assert.match(call.command, /\}sofia\/external\/\+79161234567@sip\.example\.net '&playback/);
    assert.equal((await got)[0]!.status, 'delivered');
    await c.stop();
  });

  test('the socket lost mid-call: it reconnects, and the call still running reports its end on the new connection', async () => {
    const c = make();
    const { next } = await started(c);
    const answered = fs.nextCall();
    const sent = await c.send(outbound('+79161230099'));
    const call = await answered;
    assert.equal(call.uuid, sent.providerIds[0]);
    const back = fs.nextSubscribed();
    fs.dropAll();
    await back;
    // Reconnected: asked FreeSWITCH whether the call still exists.
    while (c.state().status !== 'up') await new Promise((r) => setImmediate(r));
    const got = next(1);
    fs.hangup(call.uuid);
    const [r] = await got;
    assert.deepEqual([r!.providerMessageId, r!.status], [call.uuid, 'delivered']);
    assert.ok(fs.commands.includes(`api uuid_exists ${call.uuid}`));
    await c.stop();
  });

  test('a call that ended while the socket was down: answered is delivered', async () => {
    const c = make({ reconnect_min_ms: 200, reconnect_max_ms: 200 });
    const { next } = await started(c);
    const answered = fs.nextCall();
    const sent = await c.send(outbound('+79161230099'));
    const call = await answered;
    while (!call.answered) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const back = fs.nextSubscribed();
    fs.dropAll();
    fs.hangup(call.uuid); // nobody listens now
    const got = next(1);
    await back;
    const [r] = await got;
    assert.deepEqual([r!.providerMessageId, r!.status], [sent.providerIds[0], 'delivered']);
    await c.stop();
  });

  test('parseReceipt reads a hang-up event of its own calls only', () => {
    const c = make();
    const h = { 'Unique-ID': 'u1', 'Hangup-Cause': 'USER_BUSY', variable_depesha_connector: 'fs' };
    assert.deepEqual(c.parseReceipt({ name: 'CHANNEL_HANGUP_COMPLETE', headers: h, body: '' })?.reason?.code, 'subscriber_absent');
    assert.equal(c.parseReceipt({ name: 'CHANNEL_HANGUP_COMPLETE', headers: { ...h, variable_depesha_connector: 'other' }, body: '' }), null);
    assert.equal(c.parseReceipt({ name: 'CHANNEL_ANSWER', headers: h, body: '' }), null);
    assert.equal(c.parseReceipt({ name: 'CHANNEL_HANGUP_COMPLETE', headers: { ...h, 'Hangup-Cause': 'NORMAL_CLEARING', 'Caller-Channel-Answered-Time': '1700000000000000' }, body: '' })?.status, 'delivered');
  });
});

for (const dialect of await dialects()) {
  describe(`voice messages through the API on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    const call = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
      const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${t.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
      return { status: res.statusCode, body: res.body === '' ? null : res.json() };
    };
    const finalOf = async (to: string) => {
      const sent = await call('POST', '/v1/messages', { channel: 'voice', to, text: 'Ваш код 4711' });
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      await waitForStatus(t.gateway, sent.body.id, ['delivered', 'undelivered', 'failed', 'rejected', 'expired']);
      return (await call('GET', `/v1/messages/${sent.body.id}`)).body;
    };

    before(async () => {
      t = await startTestGateway(dialect.name, {}, {
        configFile: {
          connectors: [{ id: 'fs', type: 'voice', host: '127.0.0.1', port, gateway: 'trunk1', reconnect_min_ms: 20, reconnect_max_ms: 100, secrets: { password: 's3cret' } }],
          routes: [{ channel: 'voice', connector: 'fs' }],
        },
      });
    });
    after(async () => t?.close());

    test('answered and cleared (NORMAL_CLEARING) is delivered', async () => {
      const m = await finalOf('+79161234567');
      assert.deepEqual([m.status, m.channel, m.connector], ['delivered', 'voice', 'fs']);
      assert.equal(fs.calls.get(m.parts[0].provider_message_id)?.number, '79161234567');
    });

    test('USER_BUSY, NO_ANSWER and UNALLOCATED_NUMBER are undelivered with their reasons', async () => {
      for (const [to, code, cause] of [['+79161230017', 'subscriber_absent', 'USER_BUSY'], ['+79161230019', 'subscriber_absent', 'NO_ANSWER'], ['+79161230001', 'subscriber_unknown', 'UNALLOCATED_NUMBER']] as const) {
        const m = await finalOf(to);
        assert.deepEqual([m.status, m.reason?.code, m.reason?.provider_code], ['undelivered', code, cause], to);
      }
    });

    test('a temporary failure (NORMAL_TEMPORARY_FAILURE) is retried and then delivered', async () => {
      const m = await finalOf(dialect.name === 'sqlite' ? '+79161120041' : '+79161130041');
      assert.equal(m.status, 'delivered');
      assert.equal(m.attempts, 2);
      const events = (await call('GET', `/v1/messages/${m.id}/events`)).body;
      assert.ok(JSON.stringify(events).includes('NORMAL_TEMPORARY_FAILURE'), 'the retry is on the timeline with its cause');
    });

    test('after the event socket is lost the connector reconnects and calls go on', async () => {
      const back = fs.nextSubscribed();
      fs.dropAll();
      await back;
      const m = await finalOf('+79161234568');
      assert.equal(m.status, 'delivered');
    });
  });
}
