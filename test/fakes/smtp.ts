import nodemailer from 'nodemailer';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

/**
 * A loopback SMTP relay (smtp-server) that takes our submissions and answers
 * with DSNs (RFC 3464) the way a DSN-capable relay does. By the recipient's
 * local part: `unknown` is refused at RCPT (550 5.1.1), `busy` gets 451
 * 4.3.0; `bounce` is accepted and then bounced (5.1.1), `full` bounced with
 * 5.2.2; anyone else is delivered and a success DSN goes back. DSNs go to the
 * envelope sender at `bounceTo()` (our bounce endpoint), carrying the ENVID.
 */
export interface Received {
  from: string;
  to: string[];
  envid: string | null;
  raw: string;
}

export class FakeSmtpRelay {
  readonly received: Received[] = [];
  /** connections open now, and the most at once */
  open = 0;
  maxOpen = 0;
  bounceTo: () => number | undefined = () => undefined;
  readonly #server: SMTPServer;
  readonly #credentials: { user: string; pass: string } | undefined;
  readonly #dsnsSent: ((status: string) => void)[] = [];

  constructor(credentials?: { user: string; pass: string }) {
    this.#credentials = credentials;
    this.#server = new SMTPServer({
      logger: false,
      hideSTARTTLS: true,
      hideDSN: false,
      closeTimeout: 1000,
      authOptional: !credentials,
      ...(credentials ? { allowInsecureAuth: true } : { disabledCommands: ['AUTH'] }),
      onAuth: (auth, _session, callback) => {
        if (auth.username === this.#credentials?.user && auth.password === this.#credentials?.pass) return callback(null, { user: auth.username });
        callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
      },
      onConnect: (_session, callback) => {
        this.open++;
        this.maxOpen = Math.max(this.maxOpen, this.open);
        callback();
      },
      onClose: () => {
        this.open--;
      },
      onRcptTo: (address, _session, callback) => {
        const local = address.address.split('@')[0];
        if (local === 'unknown') return callback(Object.assign(new Error('5.1.1 <' + address.address + '>: Recipient address rejected: User unknown'), { responseCode: 550 }));
        if (local === 'busy') return callback(Object.assign(new Error('4.3.0 Temporary system problem, try again later'), { responseCode: 451 }));
        callback();
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const r = this.#record(session, Buffer.concat(chunks).toString('utf8'));
          callback();
          this.#answer(r);
        });
      },
    });
  }

  #record(session: SMTPServerSession, raw: string): Received {
    const envelope = session.envelope as SMTPServerSession['envelope'] & { dsn?: { envid: string | null } };
    const r: Received = { from: envelope.mailFrom ? envelope.mailFrom.address : '', to: envelope.rcptTo.map((a) => a.address), envid: envelope.dsn?.envid ?? null, raw };
    this.received.push(r);
    return r;
  }

  /** Resolves with the Status of the next `count` DSNs once our endpoint has taken them. */
  nextDsns(count: number): Promise<string[]> {
    const got: string[] = [];
    return new Promise((resolve) => {
      const w = (s: string) => {
        got.push(s);
        if (got.length === count) {
          this.#dsnsSent.splice(this.#dsnsSent.indexOf(w), 1);
          resolve(got);
        }
      };
      this.#dsnsSent.push(w);
    });
  }

  #answer(r: Received): void {
    const port = this.bounceTo();
    if (port === undefined || !r.from) return;
    const rcpt = r.to[0]!;
    const local = rcpt.split('@')[0];
    const [action, status, diagnostic] = local === 'bounce' ? ['failed', '5.1.1', '550 5.1.1 User unknown'] : local === 'full' ? ['failed', '5.2.2', '552 5.2.2 Mailbox full'] : ['delivered', '2.0.0', '250 2.0.0 OK'];
    const boundary = 'dsn-boundary-1';
    const raw = [
      'From: Mail Delivery System <mailer-daemon@relay.test>',
      `To: <${r.from}>`,
      `Subject: Delivery Status Notification (${action === 'failed' ? 'Failure' : 'Success'})`,
      'MIME-Version: 1.0',
      `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
      '',
      `--${boundary}`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      action === 'failed' ? 'Your message could not be delivered.' : 'Your message was delivered.',
      `--${boundary}`,
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; relay.test',
      ...(r.envid ? [`Original-Envelope-Id: ${r.envid}`] : []),
      '',
      `Final-Recipient: rfc822; ${rcpt}`,
      `Action: ${action}`,
      `Status: ${status}`,
      `Diagnostic-Code: smtp; ${diagnostic}`,
      '',
      `--${boundary}--`,
      '',
    ].join('\r\n');
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
    void transport.sendMail({ envelope: { from: '', to: r.from }, raw }).then(
      () => {
        transport.close();
        for (const w of [...this.#dsnsSent]) w(status);
      },
      () => transport.close(),
    );
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', () => resolve()));
    return (this.#server.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
