import assert from 'node:assert/strict';
import { after, before, describe, mock, test } from 'node:test';
import smpp from 'smpp';
import type { PDU as LibPdu, Session as LibSession } from 'smpp';
import { CommandStatus } from '../src/smpp/pdu.ts';
import { bindClient, SmppBindError, SmppSessionClosedError, SmppTimeoutError, type BindMode, type IncomingRequest, type SmppSession } from '../src/smpp/session.ts';
import { ReceiptSender } from '../src/ingress/smpp-server/receipts.ts';
import { createLogger } from '../src/log.ts';
import { SenderRegistryCache } from '../src/pipeline/policy.ts';
import { SmppCredentialsRepository } from '../src/store/smpp-credentials.ts';
import { dialects, startTestGateway, until, waitForStatus, type TestGateway } from './helpers.ts';

type DeliverSm = Extract<IncomingRequest, { command: 'deliver_sm' }>;

/** Collects deliver_sm (receipts) a bind receives, and lets a test wait for one that matches. */
class Inbox {
  readonly received: DeliverSm[] = [];
  #waiters: { match: (d: DeliverSm) => boolean; resolve: (d: DeliverSm) => void }[] = [];
  push(d: DeliverSm): void {
    this.received.push(d);
    this.#waiters = this.#waiters.filter((w) => (w.match(d) ? (w.resolve(d), false) : true));
  }
  wait(match: (d: DeliverSm) => boolean, timeoutMs = 10_000): Promise<DeliverSm> {
    const found = this.received.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching deliver_sm within ${timeoutMs} ms; got ${this.received.length}`)), timeoutMs);
      this.#waiters.push({ match, resolve: (d) => (clearTimeout(timer), resolve(d)) });
    });
  }
}

for (const dialect of await dialects()) {
  describe(`SMPP server on ${dialect.name}`, { skip: dialect.skip }, () => {
    let t: TestGateway;
    const sessions: SmppSession[] = [];
    const api = async (method: 'POST' | 'GET' | 'PATCH', url: string, body?: unknown) => {
      const res = await t.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${t.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });
      return { status: res.statusCode, body: res.json() };
    };
    const credential = async (systemId: string, extra: Record<string, unknown> = {}) => {
      const res = await api('POST', '/v1/smpp/credentials', { system_id: systemId, password: 'pass1234', ...extra });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.id as string;
    };
    /** the login's stored receipt position has passed the final events of these messages */
    const positionPast = (credentialId: string, messageIds: string[]) =>
      until('the stored receipt position past every receipt', async () => {
        const db = t.gateway.database.db;
        const cursor = await db.selectFrom('smpp_receipt_cursors').select('last_event_id').where('credential_id', '=', credentialId).executeTakeFirst();
        const events = await db.selectFrom('message_events').select('id').where('message_id', 'in', messageIds).where('status', '=', 'delivered').execute();
        return events.length === messageIds.length && cursor && events.every((e) => e.id <= cursor.last_event_id) ? true : undefined;
      }, 20_000);
    const bind = async (systemId: string, mode: BindMode = 'transceiver', password = 'pass1234', inbox?: Inbox) => {
      const session = await bindClient({
        host: '127.0.0.1',
        port: t.gateway.smppPort!,
        systemId,
        password,
        mode,
        windowSize: 20,
        onRequest: (request) => {
          if (request.command !== 'deliver_sm') return;
          inbox?.push(request);
          return { command: 'deliver_sm_resp' };
        },
      });
      sessions.push(session);
      return session;
    };
    const submit = (session: SmppSession, fields: Record<string, unknown>) =>
      session.request({ command: 'submit_sm', sourceAddr: 'Shop', sourceAddrTon: 5, destAddrTon: 1, destAddrNpi: 1, registeredDelivery: 1, ...fields });

    before(async () => {
      t = await startTestGateway(dialect.name, {}, { smpp: true });
      await credential('shop');
    });
    after(async () => {
      await Promise.all(sessions.map((s) => s.close()));
      await t?.close();
    });

    test('binds are checked: unknown system_id, wrong password, address not allowed, too many binds', async () => {
      const refused = async (systemId: string, password: string, status: number) => {
        await assert.rejects(bind(systemId, 'transceiver', password), (err: unknown) => err instanceof SmppBindError && err.commandStatus === status);
      };
      await refused('nobody', 'pass1234', CommandStatus.ESME_RINVSYSID);
      await refused('shop', 'wrong', CommandStatus.ESME_RINVPASWD);
      await credential('office', { allowed_ips: ['10.0.0.0/8'] });
      await refused('office', 'pass1234', CommandStatus.ESME_RBINDFAIL);
      await credential('single', { max_binds: 1 });
      await bind('single');
      await refused('single', 'pass1234', CommandStatus.ESME_RBINDFAIL);
    });

    test('submit_sm is stored before its response, sent, and its receipt comes back as deliver_sm', async () => {
      const inbox = new Inbox();
      const session = await bind('shop', 'transceiver', 'pass1234', inbox);
      const resp = await submit(session, { destinationAddr: '79161234567', shortMessage: Buffer.from('Hello via SMPP') });
      assert.equal(resp.status, 0);
      assert.ok(resp.command === 'submit_sm_resp');
      const id = resp.messageId;
      const stored = await t.gateway.database.db.selectFrom('messages').select(['body', 'recipient', 'sender']).where('id', '=', id).executeTakeFirstOrThrow();
      assert.deepEqual({ ...stored }, { body: 'Hello via SMPP', recipient: '+79161234567', sender: 'Shop' });
      const receipt = await inbox.wait((d) => d.tlvs.receiptedMessageId === id);
      assert.equal(receipt.esmClass, 0x04);
      assert.equal(receipt.tlvs.messageState, 2);
      assert.match(receipt.shortMessage.toString('latin1'), new RegExp(`^id:${id} sub:001 dlvrd:001 submit date:\\d{10} done date:\\d{10} stat:DELIVRD err:000 text:Hello via SMPP$`));
      assert.equal(receipt.sourceAddr, '79161234567');
      assert.equal(receipt.destinationAddr, 'Shop');
    });

    test('account settings changed through the API apply to a bind that is already live', async () => {
      const session = await bind('shop', 'transmitter');
      const before = await submit(session, { destinationAddr: '79161234580', shortMessage: Buffer.from('any sender goes') });
      assert.equal(before.status, 0);
      assert.equal((await api('PATCH', '/v1/account', { require_registered_senders: true })).status, 200);
      try {
        const after = await submit(session, { destinationAddr: '79161234581', shortMessage: Buffer.from('Shop is not registered') });
        assert.equal(after.status, CommandStatus.ESME_RINVSRCADR, 'the bind follows the changed sender policy');
      } finally {
        assert.equal((await api('PATCH', '/v1/account', { require_registered_senders: false })).status, 200);
      }
      assert.equal((await submit(session, { destinationAddr: '79161234582', shortMessage: Buffer.from('free again') })).status, 0);
    });

    test('a long text in message_payload, and one in SAR parts, each become one message', async () => {
      const session = await bind('shop', 'transmitter');
      const long = 'A long text travels in the payload. '.repeat(6);
      const payload = await submit(session, { destinationAddr: '79161234568', tlvs: { messagePayload: Buffer.from(long) } });
      assert.equal(payload.status, 0);
      const sar = await Promise.all(
        ['First half, ', 'second half.'].map((text, i) =>
          submit(session, { destinationAddr: '79161234569', shortMessage: Buffer.from(text), tlvs: { sarMsgRefNum: 77, sarTotalSegments: 2, sarSegmentSeqnum: i + 1 } }),
        ),
      );
      assert.deepEqual(sar.map((r) => r.status), [0, 0]);
      const ids = sar.map((r) => (r.command === 'submit_sm_resp' ? r.messageId : ''));
      assert.equal(ids[0], ids[1]);
      const rows = await t.gateway.database.db.selectFrom('messages').select(['id', 'body']).where('recipient', 'in', ['+79161234568', '+79161234569']).execute();
      assert.deepEqual(rows.map((r) => r.body).sort(), [long, 'First half, second half.'].sort());
    });

    test('a long submit whose storing fails unexpectedly gets 0x08 on every part (no unanswered parts, no unhandled rejection)', async () => {
      await credential('broken'); // a login of its own: 'shop' has max_binds 4, which the other tests use up
      const session = await bind('broken', 'transmitter');
      assert.equal((await api('PATCH', '/v1/account', { require_registered_senders: true })).status, 200);
      const failing = mock.method(SenderRegistryCache.prototype, 'get', async () => {
        throw new Error('the sender registry cannot be read');
      });
      try {
        const parts = await Promise.all(
          ['Broken half, ', 'other half.'].map((text, i) =>
            submit(session, { destinationAddr: '79161234591', shortMessage: Buffer.from(text), tlvs: { sarMsgRefNum: 78, sarTotalSegments: 2, sarSegmentSeqnum: i + 1 } }),
          ),
        );
        assert.deepEqual(parts.map((r) => r.status), [CommandStatus.ESME_RSYSERR, CommandStatus.ESME_RSYSERR]);
      } finally {
        failing.mock.restore();
        assert.equal((await api('PATCH', '/v1/account', { require_registered_senders: false })).status, 200);
      }
    });

    test('a customer unbinding while parts of a long message wait for the rest: the parts get 0x58 unstored and the unbind is answered at once', async () => {
      await credential('leaver');
      const lib: LibSession = smpp.connect({ host: '127.0.0.1', port: t.gateway.smppPort! });
      lib.on('error', () => {});
      const call = (command: 'bind_transceiver' | 'submit_sm' | 'unbind', options: Record<string, unknown>) => new Promise<LibPdu>((resolve) => lib[command](options, resolve));
      try {
        assert.equal((await call('bind_transceiver', { system_id: 'leaver', password: 'pass1234' })).command_status, 0);
        const part = call('submit_sm', { destination_addr: '79161234592', dest_addr_ton: 1, short_message: { udh: Buffer.from([5, 0, 3, 11, 2, 1]), message: 'only the first part' } });
        // The part goes out before the unbind on one connection: the server holds it among the parts waiting for the rest.
        const startedAt = Date.now();
        const unbound = call('unbind', {});
        assert.equal((await part).command_status, CommandStatus.ESME_RTHROTTLED);
        assert.equal((await unbound).command_status, 0);
        assert.ok(Date.now() - startedAt < 5000, `unbind_resp after ${Date.now() - startedAt} ms`);
        assert.equal((await t.gateway.database.db.selectFrom('messages').select('id').where('recipient', '=', '+79161234592').execute()).length, 0, 'nothing stored');
      } finally {
        lib.destroy();
      }
    });

    test('receipts wait while the customer has only a transmitter bind, then arrive on a receiver bind', async () => {
      await credential('holder');
      const tx = await bind('holder', 'transmitter');
      const resp = await submit(tx, { destinationAddr: '79161234570', shortMessage: Buffer.from('held receipt') });
      assert.ok(resp.command === 'submit_sm_resp');
      assert.equal(await waitForStatus(t.gateway, resp.messageId, ['delivered']), 'delivered');
      const inbox = new Inbox();
      await bind('holder', 'receiver', 'pass1234', inbox);
      const receipt = await inbox.wait((d) => d.tlvs.receiptedMessageId === resp.messageId);
      assert.match(receipt.shortMessage.toString('latin1'), /stat:DELIVRD/);
    });

    test('a receipt the customer refuses is sent again by itself after a growing wait; the others are sent once and do not wait for it', async () => {
      const credentialId = await credential('refuser');
      const tx = await bind('refuser', 'transmitter');
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await submit(tx, { destinationAddr: `7916123471${i}`, shortMessage: Buffer.from(`refused ${i}`) });
        assert.ok(r.command === 'submit_sm_resp');
        ids.push(r.messageId);
      }
      for (const id of ids) await waitForStatus(t.gateway, id, ['delivered']);
      const got = new Map<string, number[]>();
      const rx = await bindClient({
        host: '127.0.0.1',
        port: t.gateway.smppPort!,
        systemId: 'refuser',
        password: 'pass1234',
        mode: 'receiver',
        windowSize: 20,
        onRequest: (request) => {
          if (request.command !== 'deliver_sm') return;
          const id = request.tlvs.receiptedMessageId!;
          const times = got.get(id) ?? [];
          got.set(id, [...times, Date.now()]);
          // The middle one is refused twice (0x08, a system error on the customer's side), then taken.
          return id === ids[1] && times.length < 2 ? { command: 'deliver_sm_resp', status: CommandStatus.ESME_RSYSERR } : { command: 'deliver_sm_resp' };
        },
      });
      sessions.push(rx);
      await until('the first and third receipts', async () => (got.has(ids[0]!) && got.has(ids[2]!) ? true : undefined), 10_000);
      // A message submitted while the refused receipt waits: its receipt does not wait behind it.
      const later = await submit(tx, { destinationAddr: '79161234719', shortMessage: Buffer.from('refused later') });
      assert.ok(later.command === 'submit_sm_resp');
      await until('the later receipt', async () => (got.has(later.messageId) ? true : undefined), 10_000);
      await until('the refused receipt taken at its third sending', async () => ((got.get(ids[1]!)?.length ?? 0) >= 3 ? true : undefined), 15_000);
      await positionPast(credentialId, [...ids, later.messageId]);
      const counts = Object.fromEntries([...ids, later.messageId].map((id) => [id, got.get(id)?.length ?? 0]));
      assert.deepEqual(counts, { [ids[0]!]: 1, [ids[1]!]: 3, [ids[2]!]: 1, [later.messageId]: 1 }, 'each acknowledged receipt once, the refused one until taken');
      const [a, b, c] = got.get(ids[1]!)!;
      assert.ok(c! - b! > b! - a! && b! - a! >= 900, `the waits grow: ${b! - a!} ms, then ${c! - b!} ms`);
    });

    /** Messages submitted on a transmitter bind of a login of their own and delivered: their receipts wait for a sender. */
    const delivered = async (systemId: string, count: number, extra: Record<string, unknown> = {}) => {
      const credentialId = await credential(systemId, extra);
      const tx = await bind(systemId, 'transmitter');
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const r = await submit(tx, { destinationAddr: `79161235${String(ids.length).padStart(3, '0')}`, shortMessage: Buffer.from(`${systemId} ${i}`) });
        assert.ok(r.command === 'submit_sm_resp');
        ids.push(r.messageId);
      }
      for (const id of ids) await waitForStatus(t.gateway, id, ['delivered']);
      const row = (await new SmppCredentialsRepository(t.gateway.database.db).findBySystemId(systemId))!;
      return { credentialId, row, ids };
    };
    /** A bind that answers each receipt as `answer` says (a status, or 'silent' for no answer), counting what it got. */
    const fakeBind = (answer: (messageId: string, times: number) => number | 'silent') => {
      const got = new Map<string, number>();
      const session = {
        request: (pdu: { tlvs: { receiptedMessageId: string } }) => {
          const id = pdu.tlvs.receiptedMessageId;
          const times = (got.get(id) ?? 0) + 1;
          got.set(id, times);
          const status = answer(id, times);
          if (status === 'silent') return Promise.reject(new Error('no deliver_sm_resp (timed out)'));
          return Promise.resolve({ command: 'deliver_sm_resp', status });
        },
      } as unknown as SmppSession;
      return { session, got };
    };
    const marksOf = (credentialId: string) =>
      t.gateway.database.db.selectFrom('smpp_receipt_marks').select(['event_id', 'state', 'refusals']).where('credential_id', '=', credentialId).execute();

    test('a receipt refused until receipt_hold_seconds is dropped, and the receipts behind it, beyond one round, all go once', async () => {
      const credentialId = await credential('stubborn', { receipt_hold_seconds: 4 });
      const tx = await bind('stubborn', 'transmitter');
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await submit(tx, { destinationAddr: `7916123472${i}`, shortMessage: Buffer.from(`stubborn ${i}`) });
        assert.ok(r.command === 'submit_sm_resp');
        ids.push(r.messageId);
      }
      for (const id of ids) await waitForStatus(t.gateway, id, ['delivered']);
      // A sender of its own with rounds of 2 (the gateway's has no receiving bind of this login, so it sends nothing).
      const row = await new SmppCredentialsRepository(t.gateway.database.db).findBySystemId('stubborn');
      const got = new Map<string, number>();
      const session = {
        request: async (pdu: { tlvs: { receiptedMessageId: string } }) => {
          const id = pdu.tlvs.receiptedMessageId;
          got.set(id, (got.get(id) ?? 0) + 1);
          return { command: 'deliver_sm_resp', status: id === ids[0] ? CommandStatus.ESME_RSYSERR : 0 };
        },
      } as unknown as SmppSession;
      const sender = new ReceiptSender({ db: t.gateway.database.db, credential: row!, log: createLogger('silent'), receiver: () => session, batch: 2 });
      const tick = setInterval(() => sender.wake(), 200); // the server's once-a-second wake, faster
      try {
        await positionPast(credentialId, ids);
        // The position passes the refused receipt at once; it is dropped (its mark goes) once older than the hold time.
        await until('the refused receipt dropped', async () => ((await marksOf(credentialId)).length === 0 ? true : undefined), 10_000);
      } finally {
        clearInterval(tick);
        await sender.stop();
      }
      assert.deepEqual(ids.slice(1).map((id) => got.get(id)), [1, 1, 1, 1], 'every acknowledged receipt once, also those beyond the first round');
      const refusedTimes = got.get(ids[0]!)!;
      assert.ok(refusedTimes >= 2 && refusedTimes <= 4, `the refused receipt sent ${refusedTimes} times in 4 s`);
    });

    test('one receipt refused for its whole hold time holds neither the stored position nor memory: the position passes it and every receipt after it, only the refused one stays (in the database)', async () => {
      // receipt_hold_seconds is the default 3 days: the refused receipt is not dropped during the test.
      const { credentialId, row, ids } = await delivered('poison', 12);
      const poison = ids[2]!;
      const { session, got } = fakeBind((id) => (id === poison ? CommandStatus.ESME_RSYSERR : 0));
      const sender = new ReceiptSender({ db: t.gateway.database.db, credential: row, log: createLogger('silent'), receiver: () => session, batch: 3 });
      const tick = setInterval(() => sender.wake(), 200);
      try {
        // Before: the position stayed below the refused receipt for 3 days, and the ids of every receipt acknowledged after it
        // were kept in memory (the sender's `sent` set) all that time.
        await positionPast(credentialId, ids);
      } finally {
        clearInterval(tick);
        await sender.stop();
      }
      assert.deepEqual(ids.filter((id) => id !== poison).map((id) => got.get(id)), ids.slice(1).map(() => 1), 'every acknowledged receipt once');
      assert.ok(got.get(poison)! >= 2, 'the refused receipt is sent again');
      const marks = await marksOf(credentialId);
      assert.equal(marks.length, 1, `only the refused receipt is kept above the position: ${JSON.stringify(marks)}`);
      assert.equal(marks[0]!.state, 'waiting');
      assert.ok(marks[0]!.refusals >= 2);
    });

    test('after a restart (a new sender from the database) the receipts sent and not acknowledged go again, those acknowledged never', async () => {
      const { credentialId, row, ids } = await delivered('restarted', 6);
      const [refused, unanswered] = [ids[1]!, ids[3]!];
      // Before the restart: one receipt refused, one unanswered, the rest acknowledged, some of them too recent for the position.
      const first = fakeBind((id) => (id === refused ? CommandStatus.ESME_RSYSERR : id === unanswered ? 'silent' : 0));
      const before = new ReceiptSender({ db: t.gateway.database.db, credential: row, log: createLogger('silent'), receiver: () => first.session, batch: 4 });
      const firstTick = setInterval(() => before.wake(), 200);
      try {
        await until('every receipt sent once', async () => (ids.every((id) => first.got.has(id)) ? true : undefined), 10_000);
      } finally {
        clearInterval(firstTick);
        await before.stop();
      }
      // The gateway restarts: nothing of the first sender's memory survives.
      const second = fakeBind(() => 0);
      const after = new ReceiptSender({ db: t.gateway.database.db, credential: row, log: createLogger('silent'), receiver: () => second.session, batch: 4 });
      const tick = setInterval(() => after.wake(), 200);
      try {
        await positionPast(credentialId, ids);
        await until('the refused and the unanswered receipts taken', async () => (second.got.has(refused) && second.got.has(unanswered) ? true : undefined), 10_000);
        await until('nothing left waiting', async () => ((await marksOf(credentialId)).length === 0 ? true : undefined), 10_000);
      } finally {
        clearInterval(tick);
        await after.stop();
      }
      assert.deepEqual(Object.fromEntries(second.got), { [refused]: 1, [unanswered]: 1 }, 'only what was not acknowledged is sent again, once');
    });

    test('a receipt the customer never answers waits with the same growing back-off as a refused one (each sending holds its round for the response timeout); a lost connection does not count', async () => {
      const { credentialId, row, ids } = await delivered('silent', 3);
      const [ignored, cut] = [ids[0]!, ids[1]!];
      let cuts = 0;
      const got = new Map<string, number>();
      const session = {
        request: (pdu: { tlvs: { receiptedMessageId: string } }) => {
          const id = pdu.tlvs.receiptedMessageId;
          got.set(id, (got.get(id) ?? 0) + 1);
          // The customer's application drops this receipt without a word: the session times it out (30 s on a real bind).
          if (id === ignored) return Promise.reject(new SmppTimeoutError('no deliver_sm_resp within 30000 ms'));
          // This one is cut off twice by a lost connection, then taken.
          if (id === cut && cuts++ < 2) return Promise.reject(new SmppSessionClosedError('peer_closed'));
          return Promise.resolve({ command: 'deliver_sm_resp', status: 0 });
        },
      } as unknown as SmppSession;
      const sender = new ReceiptSender({ db: t.gateway.database.db, credential: row, log: createLogger('silent'), receiver: () => session, batch: 10 });
      const tick = setInterval(() => sender.wake(), 100);
      try {
        await positionPast(credentialId, ids);
        await until('the cut receipt taken', async () => (got.get(cut) === 3 ? true : undefined), 5000);
        const mark = (await marksOf(credentialId)).find((m) => m.state === 'waiting');
        await until('the ignored receipt sent a second time', async () => ((got.get(ignored) ?? 0) >= 2 ? true : undefined), 5000);
        assert.ok(mark && mark.refusals >= 1, `the unanswered receipt counts for its back-off: ${JSON.stringify(mark)}`);
      } finally {
        clearInterval(tick);
        await sender.stop();
      }
      // Rounds every 100 ms for 2 s and more (the position waits SETTLE_MS): sent again after 1 s, 2 s, … not every round.
      assert.ok(got.get(ignored)! <= 3, `the unanswered receipt sent ${got.get(ignored)} times`);
      assert.equal(got.get(ids[2]!), 1);
    });

    test('query_sm answers our status; cancel_sm cancels a message not yet sent, not a delivered one', async () => {
      const session = await bind('shop', 'transmitter');
      const later = await submit(session, { destinationAddr: '79161234571', shortMessage: Buffer.from('tomorrow'), scheduleDeliveryTime: '000001000000000R' });
      assert.ok(later.command === 'submit_sm_resp');
      const queried = await session.request({ command: 'query_sm', messageId: later.messageId });
      assert.ok(queried.command === 'query_sm_resp');
      assert.equal(queried.messageState, 1);
      const cancelled = await session.request({ command: 'cancel_sm', messageId: later.messageId });
      assert.equal(cancelled.status, 0);
      assert.equal((await api('GET', `/v1/messages/${later.messageId}`)).body.status, 'cancelled');

      const now = await submit(session, { destinationAddr: '79161234572', shortMessage: Buffer.from('now') });
      assert.ok(now.command === 'submit_sm_resp');
      await waitForStatus(t.gateway, now.messageId, ['delivered']);
      assert.equal((await session.request({ command: 'cancel_sm', messageId: now.messageId })).status, CommandStatus.ESME_RCANCELFAIL);
      const done = await session.request({ command: 'query_sm', messageId: now.messageId });
      assert.ok(done.command === 'query_sm_resp');
      assert.equal(done.messageState, 2);
      assert.equal((await session.request({ command: 'query_sm', messageId: 'msg_nope' })).status, CommandStatus.ESME_RQUERYFAIL);
    });

    test('revoking credentials closes their binds and refuses new ones', async () => {
      await credential('revoked');
      const session = await bind('revoked', 'transmitter');
      const closed = new Promise((resolve) => session.once('close', resolve));
      const list = await api('GET', '/v1/smpp/credentials');
      const id = list.body.data.find((c: { system_id: string }) => c.system_id === 'revoked').id;
      const res = await t.gateway.app.inject({ method: 'DELETE', url: `/v1/smpp/credentials/${id}`, headers: { authorization: `Bearer ${t.apiKey}` } });
      assert.equal(res.statusCode, 204);
      await closed; // within about 5 s
      await assert.rejects(bind('revoked'), (err: unknown) => err instanceof SmppBindError && err.commandStatus === CommandStatus.ESME_RINVSYSID);
    });

    test('a bad destination is refused with 0x0B, and submits beyond the limit get 0x58', async () => {
      await credential('slow', { max_submits_per_second: 2 });
      const session = await bind('slow', 'transmitter');
      const bad = await submit(session, { destinationAddr: '12', shortMessage: Buffer.from('x') });
      assert.equal(bad.status, CommandStatus.ESME_RINVDSTADR);
      const many = await Promise.all(Array.from({ length: 10 }, (_, i) => submit(session, { destinationAddr: `7916123460${i}`, shortMessage: Buffer.from('burst') })));
      const statuses = many.map((r) => r.status);
      assert.ok(statuses.includes(CommandStatus.ESME_RTHROTTLED), statuses.join(','));
      assert.ok(statuses.filter((s) => s === 0).length <= 4, statuses.join(','));
    });

    test('a text holding U+0000 (UCS-2 0x0000) is refused for good with 0x45, not a system error the ESME would retry', async () => {
      await credential('nul');
      const session = await bind('nul', 'transmitter');
      const resp = await submit(session, { destinationAddr: '79161234590', dataCoding: 8, shortMessage: Buffer.from([0x04, 0x10, 0x00, 0x00, 0x04, 0x11]) });
      assert.equal(resp.status, CommandStatus.ESME_RSUBMITFAIL);
      const ok = await submit(session, { destinationAddr: '79161234590', dataCoding: 8, shortMessage: Buffer.from([0x04, 0x10, 0x04, 0x11]) });
      assert.equal(ok.status, 0);
    });

    test('the smpp npm package as a client: bind, a UDH long message, and its receipt', async () => {
      // A login of its own: receipts go to any receiving bind of the login, and other tests hold binds of 'shop'.
      await credential('libclient');
      const lib: LibSession = smpp.connect({ host: '127.0.0.1', port: t.gateway.smppPort! });
      lib.on('error', () => {});
      const receipts: LibPdu[] = [];
      let gotReceipt: () => void = () => {};
      lib.on('deliver_sm', (pdu: LibPdu) => {
        receipts.push(pdu);
        lib.send(pdu.response());
        gotReceipt();
      });
      const call = (command: 'bind_transceiver' | 'submit_sm', options: Record<string, unknown>) => new Promise<LibPdu>((resolve) => lib[command](options, resolve));
      try {
        assert.equal((await call('bind_transceiver', { system_id: 'libclient', password: 'pass1234' })).command_status, 0);
        const parts = ['Part one of a long text, ', 'and part two.'];
        const resps = await Promise.all(
          parts.map((text, i) => call('submit_sm', { destination_addr: '79161234580', dest_addr_ton: 1, registered_delivery: 1, short_message: { udh: Buffer.from([5, 0, 3, 9, 2, i + 1]), message: text } })),
        );
        assert.deepEqual(resps.map((r) => r.command_status), [0, 0]);
        const id = resps[0]!.message_id as string;
        assert.equal(resps[1]!.message_id, id);
        const row = await t.gateway.database.db.selectFrom('messages').select('body').where('id', '=', id).executeTakeFirstOrThrow();
        assert.equal(row.body, parts.join(''));
        await waitForStatus(t.gateway, id, ['delivered']);
        if (!receipts.some((r) => r.receipted_message_id === id)) {
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('no receipt reached the smpp package client')), 10_000);
            gotReceipt = () => receipts.some((r) => r.receipted_message_id === id) && (clearTimeout(timer), resolve());
          });
        }
        const receipt = receipts.find((r) => r.receipted_message_id === id)!;
        assert.equal(receipt.esm_class, 0x04);
        assert.equal(receipt.message_state, 2);
      } finally {
        lib.destroy();
      }
    });
  });
}
