import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { connectorConformance } from '../src/connectors/conformance.ts';
import { TelegramBotConnector } from '../src/connectors/telegram/bot.ts';
import { TelegramGatewayConnector } from '../src/connectors/telegram/gateway.ts';
import { WhatsAppConnector } from '../src/connectors/whatsapp/whatsapp.ts';
import { ConnectorError, type Connector, type OutboundMessage, type Receipt } from '../src/connectors/types.ts';
import { segment } from '../src/sms/encoding.ts';
import { CallbackRelay } from './fakes/callback-relay.ts';
import { FakeTelegramBot, FakeTelegramGateway, FakeWhatsApp } from './fakes/messengers.ts';

/**
 * The messenger connectors against loopback fakes of their APIs: the shared
 * conformance suite, their error answers, and status reports with their
 * signatures checked (and the WhatsApp GET handshake).
 */

let current: Connector | undefined;
const relay = new CallbackRelay(async (r) => {
  if (!current?.callback) return { status: 404, body: '' };
  const url = new URL(r.url, 'http://x');
  return current.callback({ method: r.method, headers: r.headers, query: Object.fromEntries(url.searchParams), body: r.body });
});
const publicUrl = await relay.start();
const bot = new FakeTelegramBot();
const gateway = new FakeTelegramGateway();
const whatsapp = new FakeWhatsApp();
const [botUrl, gatewayUrl, whatsappUrl] = [await bot.start(), await gateway.start(), await whatsapp.start()];
after(async () => {
  await relay.stop();
  await bot.stop();
  await gateway.stop();
  await whatsapp.stop();
});

const makeBot = (token = bot.token) => (current = new TelegramBotConnector({ id: 'tg-bot', type: 'telegram_bot', base_url: botUrl, secrets: { bot_token: token } }));
const makeGateway = (token = gateway.token) => (current = new TelegramGatewayConnector({ id: 'tg-gw', type: 'telegram_gateway', base_url: gatewayUrl, public_url: publicUrl, secrets: { token } }));
const makeWhatsApp = () => {
  whatsapp.webhookUrl = `${publicUrl}/v1/callbacks/wa`;
  return (current = new WhatsAppConnector({ id: 'wa', type: 'whatsapp', base_url: whatsappUrl, phone_number_id: '1055', secrets: { access_token: whatsapp.accessToken, app_secret: whatsapp.appSecret, verify_token: 'verify-me' } }));
};

function outbound(to: string, text: string, content?: OutboundMessage['content']): OutboundMessage {
  const s = segment(text);
  return { id: 'msg_01MESSENGERTESTMESSENGER1', accountId: 'acc_X', attempt: 1, to, from: null, text, encoding: s.encoding, parts: s.parts, trafficType: 'service', validUntil: Date.now() + 300_000, content };
}

async function failure(c: Connector, message: OutboundMessage): Promise<ConnectorError> {
  await c.start({ receipt: async () => {}, inbound: async () => {} });
  try {
    await c.send(message);
  } catch (err) {
    assert.ok(err instanceof ConnectorError, String(err));
    return err;
  } finally {
    await c.stop();
  }
  assert.fail('the send should have failed');
}

/** Starts the connector, collecting the receipts handed to the pipeline. */
async function collecting(c: Connector): Promise<Receipt[]> {
  const receipts: Receipt[] = [];
  await c.start({ receipt: async (r) => void receipts.push(r), inbound: async () => {} });
  return receipts;
}

describe('telegram bot conformance', () => connectorConformance('telegram_bot', { make: () => makeBot(), deliverableNumber: '123456789', refusedNumber: '100002' }));
describe('telegram gateway conformance', () =>
  connectorConformance('telegram_gateway', { make: () => makeGateway(), deliverableNumber: '+79161234567', refusedNumber: '+79161230002', text: 'Код 4711. ' + 'Проверка связи. '.repeat(10) }));
describe('whatsapp conformance', () => connectorConformance('whatsapp', { make: () => makeWhatsApp(), deliverableNumber: '+79161234567', refusedNumber: '+79161230002' }));

describe('telegram bot', () => {
  test('sends the text to the chat; the API errors map to typed errors', async () => {
    const c = makeBot();
    const receipts = await collecting(c);
    const sent = await c.send(outbound('-100500', 'Привет'));
    assert.match(sent.providerIds[0]!, /^-100500:\d+$/);
    assert.deepEqual(bot.requests.at(-1)!.body, { chat_id: '-100500', text: 'Привет' });
    await c.stop();
    assert.ok(receipts.length <= 1);
    const cases: [string, boolean, string][] = [
      ['100002', false, 'subscriber_unknown'],
      ['100003', false, 'subscriber_blocked'],
      ['100009', true, 'operator_throttled'],
      ['+79161234567', false, 'invalid_destination'],
    ];
    for (const [to, retryable, reason] of cases) {
      const err = await failure(makeBot(), outbound(to, 'x'));
      assert.deepEqual([err.retryable, err.reason], [retryable, reason], to);
    }
    const token = await failure(makeBot('123:WRONG'), outbound('42', 'x'));
    assert.deepEqual([token.retryable, token.reason, token.providerCode], [true, 'operator_unavailable', '401']);
  });
});

describe('telegram gateway', () => {
  test('checkSendAbility then sendVerificationMessage with the code from the text and our callback URL', async () => {
    const c = makeGateway();
    const receipts = await collecting(c);
    const posts = gateway.nextPosts(2);
    const sent = await c.send(outbound('+79161234567', 'Ваш код: 052817'));
    const [check, send] = gateway.requests.slice(-2);
    assert.deepEqual([check!.path, check!.body.phone_number], ['/checkSendAbility', '79161234567']);
    assert.equal(send!.path, '/sendVerificationMessage');
    assert.deepEqual([send!.body.code, send!.body.request_id, send!.body.callback_url, send!.body.payload], ['052817', sent.providerIds[0], `${publicUrl}/v1/callbacks/tg-gw`, 'msg_01MESSENGERTESTMESSENGER1']);
    assert.deepEqual((await posts).map((p) => p.status), [200, 200]);
    assert.deepEqual(receipts.map((r) => [r.providerMessageId, r.status]), [[sent.providerIds[0], 'delivered']], 'sent is interim; delivered settles it');
    assert.equal(await c.revoke(sent.providerIds[0]!), true);
    assert.ok(gateway.revoked.has(sent.providerIds[0]!));
    await c.stop();
  });

  test('a code the user opened is reported read after delivered', async () => {
    const c = makeGateway();
    const receipts = await collecting(c);
    const posts = gateway.nextPosts(3);
    const sent = await c.send(outbound('+79161230007', 'Код 3141'));
    await posts;
    assert.deepEqual(receipts.map((r) => [r.providerMessageId, r.status]).sort(), [[sent.providerIds[0], 'delivered'], [sent.providerIds[0], 'read']]);
    assert.equal(c.parseReceipt({ request_id: 'req9', delivery_status: { status: 'read', updated_at: 7 } })?.status, 'read');
    assert.equal(c.parseReceipt({ request_id: 'req9', delivery_status: { status: 'read', updated_at: 7 } })?.at, 7000);
    await c.stop();
  });

  test('a number that cannot get codes fails at once and permanently (the cascade moves on); an expired code is reported expired', async () => {
    const err = await failure(makeGateway(), outbound('+79161230002', 'Код 4711'));
    assert.deepEqual([err.retryable, err.reason, err.providerCode], [false, 'subscriber_unknown', 'PHONE_NUMBER_NOT_AVAILABLE']);
    const noCode = await failure(makeGateway(), outbound('+79161234567', 'no code here'));
    assert.deepEqual([noCode.retryable, noCode.reason], [false, 'content_rejected']);
    const token = await failure(makeGateway('wrong'), outbound('+79161234567', 'Код 4711'));
    assert.deepEqual([token.retryable, token.reason], [true, 'operator_unavailable']);
    const c = makeGateway();
    const receipts = await collecting(c);
    const posts = gateway.nextPosts(1);
    await c.send(outbound('+79161230000', 'Код 4711'));
    await posts;
    assert.deepEqual(receipts.map((r) => [r.status, r.reason?.code]), [['expired', 'validity_expired']]);
    await c.stop();
  });

  test('a report with a wrong signature is refused', async () => {
    const c = makeGateway();
    const receipts = await collecting(c);
    const body = JSON.stringify({ request_id: 'req1', delivery_status: { status: 'delivered', updated_at: 1 } });
    const answer = await c.callback({ method: 'POST', headers: { 'x-request-timestamp': '1', 'x-request-signature': createHmac('sha256', 'gw-token').update(`1\n${body}`).digest('hex') }, query: {}, body });
    assert.equal(answer.status, 401, 'keyed with the token itself instead of its SHA-256');
    assert.deepEqual(receipts, []);
    await c.stop();
  });
});

describe('whatsapp cloud api', () => {
  test('a template message carries its name, language and parameters; free text goes as text', async () => {
    const c = makeWhatsApp();
    const receipts = await collecting(c);
    const posts = whatsapp.nextPosts(3);
    const sent = await c.send(outbound('+79161234567', '', { template: { name: 'auth_code', language: 'en_US', params: ['4711'] } }));
    assert.deepEqual(whatsapp.requests.at(-1)!.body, {
      messaging_product: 'whatsapp',
      to: '79161234567',
      type: 'template',
      template: { name: 'auth_code', language: { code: 'en_US' }, components: [{ type: 'body', parameters: [{ type: 'text', text: '4711' }] }] },
    });
    await posts;
    // The webhooks may come in any order (as the real ones may): delivered and read, each as itself; sent is interim.
    assert.deepEqual(receipts.map((r) => [r.providerMessageId, r.status]).sort(), [[sent.providerIds[0], 'delivered'], [sent.providerIds[0], 'read']]);
    await c.send(outbound('+79161234567', 'Заказ готов'));
    assert.deepEqual(whatsapp.requests.at(-1)!.body, { messaging_product: 'whatsapp', to: '79161234567', type: 'text', text: { body: 'Заказ готов' } });
    await c.stop();
  });

  test('errors: refused at once, rate limited, a missing template; failed webhooks carry the reason', async () => {
    const cases: [string, OutboundMessage['content'], boolean, string, string][] = [
      ['+79161230002', null, false, 'operator_rejected', '100'],
      ['+79161230009', null, true, 'operator_throttled', '130429'],
      ['+79161234567', { template: { name: 'missing' } }, false, 'content_rejected', '132001'],
    ];
    for (const [to, content, retryable, reason, code] of cases) {
      const err = await failure(makeWhatsApp(), outbound(to, 'x', content));
      assert.deepEqual([err.retryable, err.reason, err.providerCode], [retryable, reason, code], to);
    }
    const c = makeWhatsApp();
    const receipts = await collecting(c);
    const posts = whatsapp.nextPosts(2);
    await c.send(outbound('+79161230000', 'x'));
    await c.send(outbound('+79161230047', 'x'));
    await posts;
    assert.deepEqual(receipts.map((r) => [r.status, r.reason?.code, r.reason?.providerCode]).sort(), [['undelivered', 'content_rejected', '131047'], ['undelivered', 'subscriber_unknown', '131026']]);
    await c.stop();
  });

  test('webhooks: the GET handshake echoes the challenge only for our verify token; a bad X-Hub-Signature-256 is refused', async () => {
    const c = makeWhatsApp();
    const receipts = await collecting(c);
    const get = (token: string) => c.callback({ method: 'GET', headers: {}, query: { 'hub.mode': 'subscribe', 'hub.verify_token': token, 'hub.challenge': '1158201444' }, body: '' });
    assert.deepEqual(await get('verify-me'), { status: 200, body: '1158201444' });
    assert.equal((await get('verify-you')).status, 403);
    const body = JSON.stringify({ entry: [{ changes: [{ value: { statuses: [{ id: 'wamid.X', status: 'delivered' }] } }] }] });
    assert.equal((await c.callback({ method: 'POST', headers: { 'x-hub-signature-256': `sha256=${createHmac('sha256', 'other').update(body).digest('hex')}` }, query: {}, body })).status, 401);
    assert.equal((await c.callback({ method: 'POST', headers: {}, query: {}, body })).status, 401);
    assert.deepEqual(receipts, []);
    await c.stop();
  });
});
