import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { connectorConformance } from '../src/connectors/conformance.ts';
import { EmailConnector, type EmailDefinition } from '../src/connectors/email/email.ts';
import { ConnectorError, type OutboundMessage, type Receipt } from '../src/connectors/types.ts';
import { segment } from '../src/sms/encoding.ts';
import { FakeSmtpRelay } from './fakes/smtp.ts';

/**
 * The e-mail connector against a loopback SMTP relay (smtp-server): the
 * conformance suite (receipts are the relay's DSNs, taken by our own bounce
 * endpoint), text and HTML bodies, DKIM, refusals, bounces and the pool.
 */

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
const relay = new FakeSmtpRelay({ user: 'depesha', pass: 'secret' });
const port = await relay.start();
let current: EmailConnector | undefined;
relay.bounceTo = () => current?.bouncePort;
after(() => relay.stop());

function make(overrides: Partial<EmailDefinition> = {}): EmailConnector {
  return (current = new EmailConnector({
    id: 'mail',
    type: 'email',
    host: '127.0.0.1',
    port,
    domain: 'example.com',
    from: 'noreply@example.com',
    dkim_selector: 'sel1',
    bounce_port: 0,
    max_connections: 3,
    secrets: { username: 'depesha', password: 'secret', dkim_private_key: privateKey },
    ...overrides,
  }));
}

let n = 0;
function outbound(to: string, text: string, content?: OutboundMessage['content'], from: string | null = null): OutboundMessage {
  const s = segment(text);
  return { id: `msg_01EMAILTEST${String(n++).padStart(14, '0')}`, accountId: 'acc_X', attempt: 1, to, from, text, encoding: s.encoding, parts: s.parts, trafficType: 'service', validUntil: Date.now() + 60_000, content };
}

async function started(c: EmailConnector): Promise<Receipt[]> {
  const receipts: Receipt[] = [];
  await c.start({ receipt: async (r) => void receipts.push(r), inbound: async () => {} });
  return receipts;
}

describe('email connector conformance', () => connectorConformance('email', { make: () => make(), deliverableNumber: 'user@example.org', refusedNumber: 'unknown@example.org' }));

describe('email connector', () => {
  test('text and HTML in one message, DKIM-signed for the sender domain, with ENVID and a VERP return path', async () => {
    const c = make();
    await started(c);
    const m = outbound('user@example.org', 'Ваш заказ готов', { subject: 'Заказ 42', html: '<p>Ваш заказ <b>готов</b></p>' }, 'shop@example.com');
    const dsn = relay.nextDsns(1);
    const sent = await c.send(m);
    assert.deepEqual(sent.providerIds, [m.id]);
    const got = relay.received.at(-1)!;
    assert.deepEqual([got.from, got.to, got.envid], [`bounces+${m.id}@example.com`, ['user@example.org'], m.id]);
    assert.match(got.raw, /^DKIM-Signature: .*d=example\.com/m);
    assert.match(got.raw, /s=sel1/);
    assert.match(got.raw, /Content-Type: text\/plain/);
    assert.match(got.raw, /Content-Type: text\/html/);
    assert.match(got.raw, /^Subject: =\?UTF-8\?/m);
    assert.match(got.raw, new RegExp(`^Message-ID: <${m.id}@example.com>`, 'mi'));
    await dsn;
    await c.stop();
  });

  test('a bounce (DSN) to our endpoint marks the message undelivered with the reason of its status code', async () => {
    const c = make();
    const receipts = await started(c);
    const dsns = relay.nextDsns(2);
    const a = outbound('bounce@example.org', 'x', { subject: 's' });
    const b = outbound('full@example.org', 'x', { subject: 's' });
    await c.send(a);
    await c.send(b);
    assert.deepEqual((await dsns).sort(), ['5.1.1', '5.2.2']);
    const byId = new Map(receipts.map((r) => [r.providerMessageId, r]));
    assert.deepEqual([byId.get(a.id)?.status, byId.get(a.id)?.reason?.code, byId.get(a.id)?.reason?.providerCode], ['undelivered', 'subscriber_unknown', '5.1.1']);
    assert.deepEqual([byId.get(b.id)?.status, byId.get(b.id)?.reason?.code], ['undelivered', 'memory_full']);
    await c.stop();
  });

  test('refusals: unknown recipient is permanent; a 4xx and bad credentials are retryable; a sender outside the domain is refused', async () => {
    const fail = async (c: EmailConnector, m: OutboundMessage) => {
      await started(c);
      try {
        await c.send(m);
        assert.fail('should fail');
      } catch (err) {
        assert.ok(err instanceof ConnectorError, String(err));
        return err;
      } finally {
        await c.stop();
      }
    };
    const unknown = await fail(make(), outbound('unknown@example.org', 'x'));
    assert.deepEqual([unknown.retryable, unknown.reason, unknown.providerCode], [false, 'subscriber_unknown', '5.1.1']);
    const busy = await fail(make(), outbound('busy@example.org', 'x'));
    assert.deepEqual([busy.retryable, busy.reason], [true, 'operator_throttled']);
    const auth = await fail(make({ secrets: { username: 'depesha', password: 'wrong' } }), outbound('user@example.org', 'x'));
    assert.deepEqual([auth.retryable, auth.reason], [true, 'operator_unavailable']);
    const sender = await fail(make(), outbound('user@example.org', 'x', null, 'me@elsewhere.net'));
    assert.deepEqual([sender.retryable, sender.reason], [false, 'invalid_sender']);
  });

  test('a burst goes through the pool: never more connections than max_connections', async () => {
    const c = make({ max_connections: 2 });
    await started(c);
    relay.maxOpen = relay.open;
    const dsns = relay.nextDsns(30);
    await Promise.all(Array.from({ length: 30 }, () => c.send(outbound('user@example.org', 'burst', { subject: 's' }))));
    await dsns;
    // The relay's DSN deliveries to our endpoint are separate connections of another server.
    assert.ok(relay.maxOpen <= 2, `at most 2 connections at once, saw ${relay.maxOpen}`);
    await c.stop();
  });
});
