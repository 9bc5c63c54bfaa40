import type { Transporter } from 'nodemailer';
import type { SMTPServer } from 'smtp-server';
import { Type, type Static } from 'typebox';
import type { ReasonCode } from '../../domain/reasons.ts';
import { ConnectorIdSchema, secretsEnvSchema, secretsSchema } from '../shared/definition.ts';
import { wholeMessageIds } from '../shared/http-client.ts';
import { ConnectorError, type Connector, type ConnectorContext, type ConnectorManifest, type ConnectorState, type OutboundMessage, type Receipt, type SendResult } from '../types.ts';
import { dsnReason, parseDsn, type Dsn } from './dsn.ts';
import { SingleLink } from '../shared/link.ts';

export const EmailDefinitionSchema = Type.Object(
  {
    id: ConnectorIdSchema,
    type: Type.Literal('email'),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    /** the SMTP relay (submission server) */
    host: Type.String({ minLength: 1, maxLength: 255 }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 587 })),
    /** true: TLS from the start (port 465); false: STARTTLS when offered */
    secure: Type.Optional(Type.Boolean()),
    /** pooled connections to the relay, default 5 */
    max_connections: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    /** the sender domain: `from` addresses must be in it, and it signs with DKIM when a key is given */
    domain: Type.String({ pattern: '^[A-Za-z0-9.-]{1,253}$' }),
    /** the address used when a message names none */
    from: Type.String({ minLength: 3, maxLength: 254 }),
    /** DKIM selector; the private key is the secret `dkim_private_key` (PEM) */
    dkim_selector: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,63}$' })),
    /** where our own SMTP endpoint for bounces (DSN) listens; the relay must deliver `bounces+…@<bounce_domain>` there */
    bounce_host: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    bounce_port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    /** the domain of the return path (VERP); default `domain` */
    bounce_domain: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9.-]{1,253}$' })),
    /**
     * `dsn` (default): a message stays `sent` until a DSN says delivered or
     * failed (the relay must support DSN); `accepted`: the relay accepting it
     * counts as delivered, and a later bounce is kept as a late receipt only.
     */
    delivered_on: Type.Optional(Type.Enum(['dsn', 'accepted'])),
    /**
     * Bounces fetched over IMAP instead of (or besides) our SMTP endpoint: the
     * mailbox the return path (`bounces+…@<bounce_domain>`) is delivered to.
     * Secrets `imap_username`, `imap_password`.
     */
    imap: Type.Optional(
      Type.Object(
        {
          host: Type.String({ minLength: 1, maxLength: 255 }),
          /** default 993 with TLS, 143 without */
          port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
          /** TLS from the start, default true */
          secure: Type.Optional(Type.Boolean()),
          mailbox: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          /** how often the mailbox is read, default 60 */
          poll_seconds: Type.Optional(Type.Number({ minimum: 0.05, maximum: 86400 })),
          /** a mailbox processed mail is moved to; without it processed mail is marked \\Seen */
          move_to: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        },
        { additionalProperties: false },
      ),
    ),
    secrets: Type.Optional(secretsSchema(['username', 'password', 'dkim_private_key', 'imap_username', 'imap_password'] as const)),
    secrets_env: Type.Optional(secretsEnvSchema(['username', 'password', 'dkim_private_key', 'imap_username', 'imap_password'] as const)),
  },
  { additionalProperties: false },
);
export type EmailDefinition = Static<typeof EmailDefinitionSchema>;

export const emailManifest: ConnectorManifest = {
  type: 'email',
  name: 'E-mail (SMTP)',
  channels: ['email'],
  wholeMessage: true,
  fields: [
    { name: 'host', label: 'SMTP host', type: 'string', required: true, description: 'The relay messages are submitted to.' },
    { name: 'port', label: 'Port', type: 'integer', required: false, default: 587, description: '587 (STARTTLS) or 465 (TLS).' },
    { name: 'domain', label: 'Sender domain', type: 'string', required: true, description: 'Sender addresses must be in it; DKIM signs for it.' },
    { name: 'from', label: 'Default sender', type: 'string', required: true, description: 'Used when a message names no sender.' },
    { name: 'username', label: 'User name', type: 'string', required: false, description: 'SMTP AUTH user, if the relay needs one.' },
    { name: 'password', label: 'Password', type: 'secret', required: false, description: 'SMTP AUTH password.' },
    { name: 'dkim_private_key', label: 'DKIM private key', type: 'secret', required: false, description: 'PEM key whose public half is published at <selector>._domainkey.<domain>.' },
    { name: 'bounce_port', label: 'Bounce port', type: 'integer', required: false, description: 'Our SMTP endpoint for DSNs (bounces).' },
    { name: 'imap_username', label: 'IMAP user', type: 'string', required: false, description: 'The bounce mailbox login, when bounces are fetched over IMAP.' },
    { name: 'imap_password', label: 'IMAP password', type: 'secret', required: false, description: 'The bounce mailbox password.' },
  ],
};

const VERP = 'bounces';

/** The addresses a fetched bounce was delivered to (no SMTP envelope over IMAP): where its VERP return path shows. */
function headerRecipients(raw: Buffer): string[] {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end < 0 ? raw.length : end).toString('utf8').replace(/\r?\n[ \t]+/g, ' ');
  const out: string[] = [];
  for (const line of head.split(/\r?\n/)) {
    if (!/^(delivered-to|x-original-to|envelope-to|to):/i.test(line)) continue;
    for (const m of line.matchAll(/[^\s<>,:;"]+@[^\s<>,;"]+/g)) out.push(m[0]);
  }
  return out;
}

/** A send refusal of the relay → our reason, by the enhanced status code in its answer (or the SMTP code). */
function refusal(err: { code?: string; responseCode?: number; response?: string; message: string }, id: string): ConnectorError {
  const response = err.response ?? err.message;
  const enhanced = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(response)?.[1];
  const providerCode = enhanced ?? (err.responseCode ? String(err.responseCode) : err.code);
  const say = (reason: ReasonCode, retryable: boolean) => new ConnectorError(`${id}: ${response}`, { retryable, reason, providerCode, cause: err });
  if (err.code === 'EAUTH') return say('operator_unavailable', true);
  if (err.responseCode === undefined || err.responseCode < 500) {
    // Connection trouble and 4xx answers: try again later.
    if (err.responseCode === 421 || err.responseCode === undefined) return say('operator_unavailable', true);
    return say(err.responseCode === 452 || err.responseCode === 451 ? 'operator_throttled' : 'operator_error', true);
  }
  const reason = enhanced ? dsnReason(enhanced, undefined).code : 'operator_rejected';
  return say(reason === 'unknown' ? 'operator_rejected' : reason, false);
}

/**
 * E-mail through an SMTP relay with a pool of connections (nodemailer),
 * text and HTML bodies, DKIM-signed for the sender domain, with DSNs asked
 * for and received on our own SMTP endpoint (smtp-server + mailparser).
 */
export class EmailConnector implements Connector {
  readonly id: string;
  readonly manifest = emailManifest;
  readonly #definition: EmailDefinition;
  #transport: Transporter | undefined;
  #bounces: SMTPServer | undefined;
  #bouncePort: number | undefined;
  readonly #link = new SingleLink();
  #detail: string | null = null;
  #imapTimer: NodeJS.Timeout | undefined;
  #imapRound: Promise<void> | undefined;

  constructor(definition: EmailDefinition) {
    this.id = definition.id;
    this.#definition = definition;
  }

  /** The pooled SMTP transport; nodemailer is loaded with the first e-mail connector to start, not by every process. */
  async #openTransport(): Promise<Transporter> {
    const { default: nodemailer } = await import('nodemailer');
    const definition = this.#definition;
    const s = definition.secrets ?? {};
    return nodemailer.createTransport({
      pool: true,
      host: definition.host,
      port: definition.port ?? 587,
      secure: definition.secure ?? false,
      maxConnections: definition.max_connections ?? 5,
      maxMessages: Infinity,
      ...(s.username ? { auth: { user: s.username, pass: s.password ?? '' } } : {}),
      ...(s.dkim_private_key && definition.dkim_selector ? { dkim: { domainName: definition.domain, keySelector: definition.dkim_selector, privateKey: s.dkim_private_key } } : {}),
    });
  }

  /** The port the bounce endpoint listens on (bounce_port 0 picks a free one), once started. */
  get bouncePort(): number | undefined {
    return this.#bouncePort;
  }

  async start(context: ConnectorContext): Promise<void> {
    this.#transport ??= await this.#openTransport();
    this.#link.start(context);
    if (this.#definition.imap) this.#nextImapRound(0);
    if (this.#definition.bounce_port === undefined) return;
    const { SMTPServer } = await import('smtp-server');
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH'],
      hideSTARTTLS: true,
      logger: false,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const rcpt = session.envelope.rcptTo.map((r) => r.address);
          this.#bounce(Buffer.concat(chunks), rcpt).then(
            () => callback(),
            // Not recorded: a 4xx makes the relay deliver the DSN again later.
            (err: unknown) => callback(Object.assign(new Error(`not recorded: ${(err as Error).message}`), { responseCode: 451 })),
          );
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#definition.bounce_port, this.#definition.bounce_host ?? '127.0.0.1', () => resolve());
    });
    this.#bounces = server;
    this.#bouncePort = (server.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    this.#link.stop();
    clearTimeout(this.#imapTimer);
    this.#imapTimer = undefined;
    await this.#imapRound;
    this.#transport?.close();
    this.#transport = undefined;
    const server = this.#bounces;
    this.#bounces = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  state(): ConnectorState {
    return this.#link.state(this.id, 'email', this.#detail);
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    const d = this.#definition;
    const from = message.from ?? d.from;
    const domain = from.slice(from.lastIndexOf('@') + 1).toLowerCase();
    if (domain !== d.domain.toLowerCase()) {
      throw new ConnectorError(`${this.id}: the sender ${from} is not in the domain ${d.domain}`, { retryable: false, reason: 'invalid_sender' });
    }
    const html = message.content?.html;
    this.#link.inFlight++;
    try {
      const transport = (this.#transport ??= await this.#openTransport());
      await transport.sendMail({
        from,
        to: message.to,
        subject: message.content?.subject ?? '',
        ...(message.text.trim() !== '' ? { text: message.text } : {}),
        ...(html ? { html } : {}),
        messageId: `<${message.id}@${d.domain}>`,
        // The return path carries our id (VERP) and the DSN carries it as ENVID: either finds the message again.
        envelope: { from: `${VERP}+${message.id}@${d.bounce_domain ?? d.domain}`, to: message.to },
        dsn: { id: message.id, return: 'headers', notify: ['success', 'failure', 'delay'], recipient: message.to },
      });
    } catch (err) {
      throw refusal(err as { code?: string; responseCode?: number; response?: string; message: string }, this.id);
    } finally {
      this.#link.inFlight--;
    }
    if (d.delivered_on === 'accepted' && this.#link.context) {
      const context = this.#link.context;
      setImmediate(() => void context.receipt({ connectorId: this.id, providerMessageId: message.id, status: 'delivered', at: Date.now() }).catch(() => {}));
    }
    return { providerIds: wholeMessageIds(message.parts, message.id) };
  }

  #nextImapRound(delayMs: number): void {
    if (this.#link.stopped || !this.#definition.imap) return;
    this.#imapTimer = setTimeout(() => {
      this.#imapRound = this.fetchBounces().then(
        () => {
          this.#detail = null;
        },
        (err: unknown) => {
          this.#detail = `IMAP bounces: ${(err as Error).message}`;
        },
      );
      void this.#imapRound.then(() => this.#nextImapRound((this.#definition.imap?.poll_seconds ?? 60) * 1000));
    }, delayMs);
    this.#imapTimer.unref();
  }

  /**
   * One round over the bounce mailbox: every unseen mail is read; a DSN of
   * one of our messages goes to the pipeline, and only once it is recorded is
   * the mail marked \Seen (or moved to `move_to`), so a mail whose receipt
   * failed is read again next round. Mail that is no DSN of ours is filed
   * the same way, so it is not read again. The mailbox's flags are the state:
   * a restart goes on where the last run stopped.
   */
  async fetchBounces(): Promise<{ read: number; receipts: number }> {
    const d = this.#definition;
    const imap = d.imap;
    const context = this.#link.context;
    if (!imap || !context || this.#link.stopped) return { read: 0, receipts: 0 };
    const secure = imap.secure ?? true;
    // Loaded only by connectors that read a mailbox: it costs every process half a second at start otherwise.
    const { ImapFlow } = await import('imapflow');
    const client = new ImapFlow({
      host: imap.host,
      port: imap.port ?? (secure ? 993 : 143),
      secure,
      auth: { user: d.secrets?.imap_username ?? '', pass: d.secrets?.imap_password ?? '' },
      logger: false,
      disableAutoIdle: true,
      connectionTimeout: 15_000,
    });
    client.on('error', () => {}); // a dropped connection fails the round below
    let read = 0;
    let receipts = 0;
    await client.connect();
    try {
      const lock = await client.getMailboxLock(imap.mailbox ?? 'INBOX');
      try {
        const uids = await client.search({ seen: false }, { uid: true });
        if (uids === false) throw new Error('the server refused the search for unseen mail');
        const done: number[] = [];
        for (const uid of uids ?? []) {
          const mail = await client.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
          if (!mail || !mail.source) continue;
          read++;
          const dsn = await parseDsn(mail.source, headerRecipients(mail.source), VERP);
          const receipt = dsn ? this.parseReceipt(dsn) : null;
          if (receipt) {
            await context.receipt(receipt); // throws when not recorded: the mail stays unseen for the next round
            receipts++;
          }
          done.push(uid);
        }
        if (done.length > 0) {
          const range = done.join(',');
          if (imap.move_to) await client.messageMove(range, imap.move_to, { uid: true });
          else await client.messageFlagsAdd(range, ['\\Seen'], { uid: true });
        }
      } finally {
        lock.release();
      }
    } finally {
      await client.logout().catch(() => client.close());
    }
    return { read, receipts };
  }

  async #bounce(raw: Buffer, recipients: string[]): Promise<void> {
    const dsn = await parseDsn(raw, recipients, VERP);
    if (!dsn || !this.#link.context) return; // not a DSN of ours: accepted and dropped, so the relay does not retry it
    const receipt = this.parseReceipt(dsn);
    if (receipt) await this.#link.context.receipt(receipt);
  }

  /** A parsed DSN → Receipt: delivered/relayed settle it, failed with the reason of its status code; delayed and expanded are interim. */
  parseReceipt(raw: unknown): Receipt | null {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null;
    const dsn = raw as Partial<Dsn>;
    if (typeof dsn.messageId !== 'string' || typeof dsn.status !== 'string' || typeof dsn.action !== 'string') return null;
    const base = { connectorId: this.id, providerMessageId: dsn.messageId, at: Date.now(), raw: JSON.stringify(raw) };
    if (dsn.action === 'delivered' || dsn.action === 'relayed') return { ...base, status: 'delivered' };
    if (dsn.action !== 'failed') return null;
    return { ...base, status: 'undelivered', reason: dsnReason(dsn.status, dsn.diagnostic) };
  }
}
