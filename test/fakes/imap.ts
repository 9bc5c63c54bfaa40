import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A loopback IMAP4rev1 server (RFC 3501) with one user and a few mailboxes,
 * speaking enough for a client that fetches and files mail: the greeting
 * with CAPABILITY, CAPABILITY, LOGIN (quoted strings or literals), LIST,
 * SELECT/EXAMINE, UID SEARCH (ALL, UNSEEN, SEEN), UID FETCH (UID, FLAGS,
 * RFC822.SIZE, BODY[]/BODY.PEEK[]/RFC822), UID STORE ±FLAGS(.SILENT), UID
 * MOVE (RFC 6851), NOOP, LOGOUT; anything else is answered BAD.
 */
export interface FakeMail {
  uid: number;
  flags: Set<string>;
  raw: Buffer;
}

interface Session {
  socket: Socket;
  buffer: Buffer;
  /** a literal being read: the line so far and the bytes still due */
  literal: { line: string; parts: (string | Buffer)[]; need: number } | undefined;
  user: string | undefined;
  selected: string | undefined;
}

export class FakeImapServer {
  readonly mailboxes = new Map<string, FakeMail[]>([['INBOX', []]]);
  /** every command line received (literals shown as {n}) */
  readonly commands: string[] = [];
  readonly #user: string;
  readonly #pass: string;
  readonly #server: Server;
  readonly #sessions = new Set<Session>();
  #nextUid = 1;

  constructor(user: string, pass: string) {
    this.#user = user;
    this.#pass = pass;
    this.#server = createServer((socket) => this.#accept(socket));
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.#sessions) s.socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Delivers a message to a mailbox (unseen); returns its UID. */
  deliver(raw: string | Buffer, mailbox = 'INBOX'): number {
    const uid = this.#nextUid++;
    if (!this.mailboxes.has(mailbox)) this.mailboxes.set(mailbox, []);
    this.mailboxes.get(mailbox)!.push({ uid, flags: new Set(), raw: Buffer.isBuffer(raw) ? raw : Buffer.from(raw) });
    return uid;
  }

  /** Where the message of `uid` is now, and its flags. */
  find(uid: number): { mailbox: string; flags: string[] } | undefined {
    for (const [mailbox, mails] of this.mailboxes) {
      const m = mails.find((x) => x.uid === uid);
      if (m) return { mailbox, flags: [...m.flags] };
    }
    return undefined;
  }

  #accept(socket: Socket): void {
    const s: Session = { socket, buffer: Buffer.alloc(0), literal: undefined, user: undefined, selected: undefined };
    this.#sessions.add(s);
    socket.on('close', () => this.#sessions.delete(s));
    socket.on('error', () => {});
    socket.write('* OK [CAPABILITY IMAP4rev1 UIDPLUS MOVE] fake IMAP ready\r\n');
    socket.on('data', (chunk: Buffer) => {
      s.buffer = Buffer.concat([s.buffer, chunk]);
      this.#drain(s);
    });
  }

  #drain(s: Session): void {
    for (;;) {
      if (s.literal) {
        if (s.buffer.length < s.literal.need) return;
        s.literal.parts.push(s.buffer.subarray(0, s.literal.need));
        s.buffer = s.buffer.subarray(s.literal.need);
        s.literal.need = 0;
      }
      const eol = s.buffer.indexOf('\r\n');
      if (eol < 0) return;
      const line = s.buffer.subarray(0, eol).toString('utf8');
      s.buffer = s.buffer.subarray(eol + 2);
      const lit = /\{(\d+)(\+?)\}$/.exec(line);
      const parts = s.literal?.parts ?? [];
      s.literal = undefined;
      if (lit) {
        parts.push(line.slice(0, lit.index));
        s.literal = { line, parts, need: Number(lit[1]) };
        if (!lit[2]) s.socket.write('+ go ahead\r\n');
        continue;
      }
      parts.push(line);
      this.#command(s, parts);
    }
  }

  #command(s: Session, parts: (string | Buffer)[]): void {
    const shown = parts.map((p) => (typeof p === 'string' ? p : `{${p.length}}`)).join('');
    this.commands.push(shown);
    const args = tokenize(parts);
    const tag = args.shift() ?? '*';
    let verb = (args.shift() ?? '').toUpperCase();
    let uid = false;
    if (verb === 'UID') {
      uid = true;
      verb = (args.shift() ?? '').toUpperCase();
    }
    const w = (text: string): void => void s.socket.write(`${text}\r\n`);
    const ok = (text = 'done') => w(`${tag} OK ${verb} ${text}`);
    const bad = (text: string) => w(`${tag} BAD ${text}`);
    const no = (text: string) => w(`${tag} NO ${text}`);
    switch (verb) {
      case 'CAPABILITY':
        w('* CAPABILITY IMAP4rev1 UIDPLUS MOVE');
        return ok();
      case 'NOOP':
        return ok();
      case 'LOGOUT':
        w('* BYE logging out');
        ok();
        s.socket.end();
        return;
      case 'LOGIN':
        if (args[0] === this.#user && args[1] === this.#pass) {
          s.user = args[0];
          return ok('[CAPABILITY IMAP4rev1 UIDPLUS MOVE] logged in');
        }
        return no('[AUTHENTICATIONFAILED] invalid credentials');
    }
    if (!s.user) return bad('log in first');
    switch (verb) {
      case 'LIST': {
        if (args[1] === '') {
          w('* LIST (\\Noselect) "/" ""');
          return ok();
        }
        for (const name of this.mailboxes.keys()) w(`* LIST () "/" ${quote(name)}`);
        return ok();
      }
      case 'SELECT':
      case 'EXAMINE': {
        const name = args[0] ?? '';
        const mails = this.#mailbox(name);
        if (!mails) return no('[NONEXISTENT] no such mailbox');
        s.selected = name.toUpperCase() === 'INBOX' ? 'INBOX' : name;
        w('* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)');
        w('* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)] ok');
        w(`* ${mails.length} EXISTS`);
        w('* 0 RECENT');
        w('* OK [UIDVALIDITY 1] ok');
        w(`* OK [UIDNEXT ${this.#nextUid}] ok`);
        return w(`${tag} OK [${verb === 'SELECT' ? 'READ-WRITE' : 'READ-ONLY'}] ${verb} done`);
      }
    }
    const mails = s.selected === undefined ? undefined : this.#mailbox(s.selected);
    if (!mails) return bad('select a mailbox first');
    switch (verb) {
      case 'SEARCH': {
        const keys = args.map((a) => a.toUpperCase());
        const hits = mails.filter((m) => keys.every((k) => (k === 'UNSEEN' ? !m.flags.has('\\Seen') : k === 'SEEN' ? m.flags.has('\\Seen') : k === 'ALL' || k === 'CHARSET' || k === 'UTF-8' || k === 'US-ASCII')));
        w(`* SEARCH${hits.map((m) => ` ${uid ? m.uid : mails.indexOf(m) + 1}`).join('')}`);
        return ok();
      }
      case 'FETCH': {
        const selected = this.#range(mails, args[0] ?? '', uid);
        const items = (args.slice(1).join(' ').replace(/^\(|\)$/g, '') || 'FLAGS').toUpperCase();
        for (const m of selected) {
          const out: (string | Buffer)[] = [`* ${mails.indexOf(m) + 1} FETCH (UID ${m.uid}`];
          if (/\bFLAGS\b/.test(items)) out.push(` FLAGS (${[...m.flags].join(' ')})`);
          if (items.includes('RFC822.SIZE')) out.push(` RFC822.SIZE ${m.raw.length}`);
          if (/BODY(\.PEEK)?\[\]|\bRFC822\b(?!\.)/.test(items)) {
            out.push(` BODY[] {${m.raw.length}}\r\n`, m.raw);
            if (!items.includes('PEEK')) m.flags.add('\\Seen');
          }
          out.push(')\r\n');
          for (const o of out) s.socket.write(o);
        }
        return ok();
      }
      case 'STORE': {
        const selected = this.#range(mails, args[0] ?? '', uid);
        const op = (args[1] ?? '').toUpperCase();
        const flags = args.slice(2).join(' ').replace(/[()]/g, '').split(' ').filter(Boolean);
        for (const m of selected) {
          if (op.startsWith('+')) for (const f of flags) m.flags.add(f);
          else if (op.startsWith('-')) for (const f of flags) m.flags.delete(f);
          else m.flags = new Set(flags);
          if (!op.endsWith('.SILENT')) w(`* ${mails.indexOf(m) + 1} FETCH (UID ${m.uid} FLAGS (${[...m.flags].join(' ')}))`);
        }
        return ok();
      }
      case 'MOVE': {
        const selected = this.#range(mails, args[0] ?? '', uid);
        const target = args[1] ?? '';
        if (!this.#mailbox(target)) return no('[TRYCREATE] no such mailbox');
        const dest = this.#mailbox(target)!;
        const seqs = selected.map((m) => mails.indexOf(m) + 1).sort((a, b) => b - a);
        if (selected.length > 0) w(`* OK [COPYUID 1 ${selected.map((m) => m.uid).join(',')} ${selected.map((m) => m.uid).join(',')}] moved`);
        for (const m of selected) dest.push(m);
        for (const seq of seqs) {
          mails.splice(seq - 1, 1);
          w(`* ${seq} EXPUNGE`);
        }
        return ok();
      }
      default:
        return bad(`unknown command ${verb}`);
    }
  }

  #mailbox(name: string): FakeMail[] | undefined {
    return this.mailboxes.get(name.toUpperCase() === 'INBOX' ? 'INBOX' : name);
  }

  /** A sequence set (1,3:5,7:*) of UIDs or sequence numbers → the messages. */
  #range(mails: FakeMail[], set: string, uid: boolean): FakeMail[] {
    const max = uid ? Math.max(0, ...mails.map((m) => m.uid)) : mails.length;
    const wanted = (n: number) =>
      set.split(',').some((r) => {
        const [a = '', b = a] = r.split(':');
        const lo = a === '*' ? max : Number(a);
        const hi = b === '*' ? max : Number(b);
        return n >= Math.min(lo, hi) && n <= Math.max(lo, hi);
      });
    return mails.filter((m, i) => wanted(uid ? m.uid : i + 1));
  }
}

/** Splits a command into atoms, quoted strings and literals. */
function tokenize(parts: (string | Buffer)[]): string[] {
  const out: string[] = [];
  for (const part of parts) {
    if (Buffer.isBuffer(part)) {
      out.push(part.toString('utf8'));
      continue;
    }
    const re = /"((?:[^"\\]|\\.)*)"|(\([^)]*\))|([^\s"()]+(?:\[[^\]]*\])?(?:<[^>]*>)?)/g;
    for (const m of part.matchAll(re)) {
      if (m[1] !== undefined) out.push(m[1].replace(/\\(.)/g, '$1'));
      else out.push(m[2] ?? m[3]!);
    }
  }
  return out;
}

function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, '\\$&')}"`;
}
