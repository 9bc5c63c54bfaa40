import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { connectorConformance } from '../src/connectors/conformance.ts';
import { connectorProblems } from '../src/connectors/problems.ts';
import { EmailConnector, type EmailDefinition } from '../src/connectors/email/email.ts';
import { ConnectorError, type OutboundMessage, type Receipt } from '../src/connectors/types.ts';
import { segment } from '../src/sms/encoding.ts';
import { FakeImapServer } from './fakes/imap.ts';
import { FakeSmtpRelay } from './fakes/smtp.ts';
import { dialects, startTestGateway, waitForStatus, type TestGateway } from './helpers.ts';

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

/** A DSN as a relay writes it, to the VERP return path; `envid` absent: only the address names the message. */
function dsnMail(messageId: string, options: { envid?: boolean; action?: string; status?: string; diagnostic?: string } = {}): string {
  const { envid = true, action = 'failed', status = '5.1.1', diagnostic = '550 5.1.1 User unknown' } = options;
  const boundary = 'b-1';
  return [
    'From: Mail Delivery System <mailer-daemon@relay.test>',
    `Delivered-To: bounces+${messageId}@example.com`,
    `To: <bounces+${messageId}@example.com>`,
    'Subject: Undelivered Mail Returned to Sender',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Your message could not be delivered.',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; relay.test',
    ...(envid ? [`Original-Envelope-Id: ${messageId}`] : []),
    '',
    'Final-Recipient: rfc822; user@example.org',
    `Action: ${action}`,
    `Status: ${status}`,
    `Diagnostic-Code: smtp; ${diagnostic}`,
    '',
    `--${boundary}--`,
    '',
  ].join('\r\n');
}

const imap = new FakeImapServer('bounces', 'imap-secret');
const imapPort = await imap.start();
imap.mailboxes.set('Processed', []);
after(() => imap.stop());
const imapSettings = { host: '127.0.0.1', port: imapPort, secure: false, poll_seconds: 0.05 };
const imapSecrets = { username: 'depesha', password: 'secret', imap_username: 'bounces', imap_password: 'imap-secret' };

describe('email connector: bounces over IMAP', () => {
  test('unseen DSNs in the mailbox become receipts (by ENVID, or by the VERP address); processed mail is marked \\Seen, mail that is no DSN too', async () => {
    const byEnvid = imap.deliver(dsnMail('msg_01IMAPBOUNCE0000000000001'));
    const byVerp = imap.deliver(dsnMail('msg_01IMAPBOUNCE0000000000002', { envid: false, status: '5.2.2', diagnostic: '552 5.2.2 Mailbox full' }));
    const delayed = imap.deliver(dsnMail('msg_01IMAPBOUNCE0000000000003', { action: 'delayed', status: '4.4.1' }));
    const chat = imap.deliver('From: someone@example.org\r\nTo: bounces@example.com\r\nSubject: hello\r\n\r\nnot a bounce\r\n');
    const c = make({ bounce_port: undefined, imap: imapSettings, secrets: imapSecrets });
    const receipts: Receipt[] = [];
    let got!: () => void;
    const two = new Promise<void>((r) => (got = r));
    await c.start({ inbound: async () => {}, receipt: async (r) => void (receipts.push(r) === 2 && got()) });
    await two;
    while (imap.find(chat)!.flags.length === 0) await new Promise((r) => setTimeout(r, 10));
    await c.stop();
    assert.deepEqual(
      receipts.map((r) => [r.providerMessageId, r.status, r.reason?.code, r.reason?.providerCode]),
      [['msg_01IMAPBOUNCE0000000000001', 'undelivered', 'subscriber_unknown', '5.1.1'], ['msg_01IMAPBOUNCE0000000000002', 'undelivered', 'memory_full', '5.2.2']],
    );
    for (const uid of [byEnvid, byVerp, delayed, chat]) assert.deepEqual(imap.find(uid), { mailbox: 'INBOX', flags: ['\\Seen'] });
    assert.ok(imap.commands.some((c) => /UID SEARCH UNSEEN/i.test(c)), 'asks for unseen mail');
  });

  test('a bounce whose receipt cannot be recorded stays unseen and is read again; move_to files processed mail', async () => {
    const uid = imap.deliver(dsnMail('msg_01IMAPBOUNCE0000000000004'));
    const c = make({ bounce_port: undefined, imap: { ...imapSettings, move_to: 'Processed' }, secrets: imapSecrets });
    let attempts = 0;
    let recorded!: () => void;
    const done = new Promise<void>((r) => (recorded = r));
    await c.start({
      inbound: async () => {},
      async receipt() {
        attempts++;
        if (attempts === 1) {
          assert.equal(imap.find(uid)?.mailbox, 'INBOX');
          throw new Error('database down');
        }
        recorded();
      },
    });
    await done;
    while (imap.find(uid)?.mailbox !== 'Processed') await new Promise((r) => setTimeout(r, 10));
    assert.match(c.state().detail ?? '', /IMAP bounces: database down/, 'the failed round is shown in the state until a round succeeds');
    await c.stop();
    assert.equal(attempts, 2);
  });

  test('wrong IMAP credentials: the state says so, nothing is read', async () => {
    const c = make({ bounce_port: undefined, imap: imapSettings, secrets: { ...imapSecrets, imap_password: 'wrong' } });
    await c.start({ inbound: async () => {}, receipt: async () => assert.fail('nothing can be read') });
    while (!(c.state().detail ?? '').includes('IMAP')) await new Promise((r) => setTimeout(r, 10));
    assert.match(c.state().detail!, /IMAP bounces: .*(auth|fail)/i);
    await c.stop();
    const definition = { id: 'm', type: 'email' as const, host: 'h', domain: 'example.com', from: 'a@example.com', imap: { host: 'imap.example.com' } };
    assert.deepEqual(connectorProblems(definition).map((p) => p.field), ['secrets.imap_username', 'secrets.imap_password']);
  });
});

for (const dialect of await dialects()) {
  describe(`e-mail bounces over IMAP through the gateway on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    before(async () => {
      t = await startTestGateway(dialect.name, {}, {
        configFile: {
          connectors: [{ id: 'mail', type: 'email', host: '127.0.0.1', port, domain: 'example.com', from: 'noreply@example.com', imap: imapSettings, secrets: imapSecrets }],
          routes: [{ channel: 'email', connector: 'mail' }],
        },
      });
    });
    after(async () => t?.close());

    test('a message sent by e-mail is undelivered with the reason of the DSN fetched from the bounce mailbox', async () => {
      const res = await t.gateway.app.inject({ method: 'POST', url: '/v1/messages', headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' }, payload: JSON.stringify({ channel: 'email', to: 'user@example.org', subject: 'Заказ', text: 'Готов' }) });
      assert.equal(res.statusCode, 202, res.body);
      const id = res.json().id as string;
      assert.equal(await waitForStatus(t.gateway, id, ['sent']), 'sent');
      imap.deliver(dsnMail(id, { envid: false }));
      assert.equal(await waitForStatus(t.gateway, id, ['undelivered', 'delivered']), 'undelivered');
      const m = (await t.gateway.app.inject({ method: 'GET', url: `/v1/messages/${id}`, headers: { authorization: `Bearer ${t.apiKey}` } })).json();
      assert.deepEqual([m.reason.code, m.reason.provider_code], ['subscriber_unknown', '5.1.1']);
    });
  });
}
