import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { PduReader } from './framing.ts';
import { CommandId, CommandStatus, encodePdu } from './pdu.ts';
import type { AnyPduInit, DecodeResult, Pdu } from './pdu.ts';
import {
  acceptBind,
  bindClient,
  nextSequence,
  SmppBindError,
  SmppProtocolError,
  SmppSession,
  SmppSessionClosedError,
  SmppTimeoutError,
} from './session.ts';
import type { AcceptBindOptions, SmppCloseInfo, SmppSessionOptions, SmppWarning } from './session.ts';

/** The other end written by hand: reads PDUs (or decode errors) in order and writes whatever it is told. */
class RawPeer {
  readonly socket: net.Socket;
  readonly #reader = new PduReader();
  readonly #received: DecodeResult[] = [];
  #waiter: (() => void) | undefined;
  readonly ended: Promise<void>;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#received.push(...this.#reader.push(chunk));
      this.#waiter?.();
    });
    this.ended = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  async nextResult(): Promise<DecodeResult> {
    while (this.#received.length === 0) await new Promise<void>((resolve) => (this.#waiter = resolve));
    return this.#received.shift()!;
  }

  async next(): Promise<Pdu> {
    const result = await this.nextResult();
    assert.ok(result.ok, result.ok ? '' : result.error.reason);
    return result.pdu;
  }

  send(pdu: AnyPduInit): void {
    this.socket.write(encodePdu(pdu));
  }
}

async function listen(t: TestContext, onSocket: (socket: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    onSocket(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  return socket;
}

/** Our session on the client side, a RawPeer on the server side. */
async function sessionAndRawPeer(t: TestContext, options: SmppSessionOptions = {}): Promise<{ session: SmppSession; peer: RawPeer }> {
  let accepted!: (peer: RawPeer) => void;
  const peer = new Promise<RawPeer>((resolve) => (accepted = resolve));
  const port = await listen(t, (socket) => accepted(new RawPeer(socket)));
  const session = new SmppSession(await connect(port), { enquireLinkIntervalMs: 0, ...options });
  t.after(() => session.close());
  return { session, peer: await peer };
}

/** Our session on both ends. */
async function sessionPair(t: TestContext, client: SmppSessionOptions, server: SmppSessionOptions): Promise<{ client: SmppSession; server: SmppSession }> {
  let accepted!: (session: SmppSession) => void;
  const serverSession = new Promise<SmppSession>((resolve) => (accepted = resolve));
  const port = await listen(t, (socket) => accepted(new SmppSession(socket, { enquireLinkIntervalMs: 0, ...server })));
  const clientSession = new SmppSession(await connect(port), { enquireLinkIntervalMs: 0, ...client });
  const s = await serverSession;
  t.after(() => Promise.all([clientSession.close(), s.close()]));
  return { client: clientSession, server: s };
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

test('sequence numbers run 1..0x7FFFFFFF and wrap to 1', () => {
  assert.equal(nextSequence(0), 1);
  assert.equal(nextSequence(41), 42);
  assert.equal(nextSequence(0x7ffffffe), 0x7fffffff);
  assert.equal(nextSequence(0x7fffffff), 1);
});

test('responses reach the requests with their sequence numbers, whatever the order they come in', async (t) => {
  const { session, peer } = await sessionAndRawPeer(t);
  const first = session.request({ command: 'submit_sm', destinationAddr: '7900' });
  const second = session.request({ command: 'submit_sm', destinationAddr: '7901' });
  const [a, b] = [await peer.next(), await peer.next()];
  assert.equal(a.command, 'submit_sm');
  assert.notEqual(a.sequence, b.sequence);
  peer.send({ command: 'submit_sm_resp', sequence: b.sequence, messageId: 'id-b' });
  peer.send({ command: 'submit_sm_resp', sequence: a.sequence, status: CommandStatus.ESME_RTHROTTLED });
  const [ra, rb] = await Promise.all([first, second]);
  assert.ok(ra.command === 'submit_sm_resp' && rb.command === 'submit_sm_resp');
  assert.deepEqual([ra.status, rb.messageId], [CommandStatus.ESME_RTHROTTLED, 'id-b']);
});

test('the window holds back the (window+1)th request until a response frees a slot, in FIFO order', async (t) => {
  const { session, peer } = await sessionAndRawPeer(t, { windowSize: 3 });
  const replies = [0, 1, 2, 3, 4].map((i) => session.request({ command: 'submit_sm', destinationAddr: `790${i}` }));
  assert.deepEqual([session.inFlight, session.queued], [3, 2]);
  const written: Pdu[] = [await peer.next(), await peer.next(), await peer.next()];
  // A PDU outside the window, sent after the queued requests: it arrives next, so none of them was written.
  session.send({ command: 'alert_notification', esmeAddr: 'marker' });
  assert.equal((await peer.next()).command, 'alert_notification');
  peer.send({ command: 'submit_sm_resp', sequence: written[1]!.sequence, messageId: 'm1' });
  const fourth = await peer.next();
  assert.equal(fourth.command === 'submit_sm' && fourth.destinationAddr, '7903');
  assert.deepEqual([session.inFlight, session.queued], [3, 1]);
  for (const pdu of [written[0]!, written[2]!, fourth]) peer.send({ command: 'submit_sm_resp', sequence: pdu.sequence });
  const fifth = await peer.next();
  assert.equal(fifth.command === 'submit_sm' && fifth.destinationAddr, '7904');
  peer.send({ command: 'submit_sm_resp', sequence: fifth.sequence });
  assert.equal((await Promise.all(replies)).length, 5);
  assert.deepEqual([session.inFlight, session.queued], [0, 0]);
});

test('generic_nack resolves the request it answers; an unreadable response rejects it', async (t) => {
  const { session, peer } = await sessionAndRawPeer(t);
  const nacked = session.request({ command: 'replace_sm', messageId: 'r1' });
  const garbled = session.request({ command: 'submit_sm' });
  const [a, b] = [await peer.next(), await peer.next()];
  peer.send({ command: 'generic_nack', sequence: a.sequence, status: CommandStatus.ESME_RINVCMDID });
  const bad = Buffer.concat([encodePdu({ command: 'submit_sm_resp', sequence: b.sequence, messageId: 'x' }), Buffer.from([0x00, 0x1e, 0x00])]);
  bad.writeUInt32BE(bad.length, 0); // ends in a TLV header cut short
  peer.socket.write(bad);
  const resp = await nacked;
  assert.deepEqual([resp.command, resp.status], ['generic_nack', CommandStatus.ESME_RINVCMDID]);
  await assert.rejects(garbled, (err: unknown) => err instanceof SmppProtocolError && err.retryable);
  assert.equal(session.state, 'open');
});

test('a request without a response in time rejects as retryable and frees its slot; its late response is ignored', async (t) => {
  const { session, peer } = await sessionAndRawPeer(t, { windowSize: 1, responseTimeoutMs: 100 });
  const warnings: SmppWarning[] = [];
  session.on('warning', (w) => warnings.push(w));
  const first = session.request({ command: 'query_sm', messageId: 'q1' });
  const second = session.request({ command: 'query_sm', messageId: 'q2' });
  const q1 = await peer.next();
  const err = await first.then(() => assert.fail('resolved'), (e: unknown) => e);
  assert.ok(err instanceof SmppTimeoutError && err.retryable);
  const q2 = await peer.next(); // written only once the slot was freed
  assert.equal(q2.command === 'query_sm' && q2.messageId, 'q2');
  peer.send({ command: 'query_sm_resp', sequence: q1.sequence, messageId: 'late' });
  peer.send({ command: 'query_sm_resp', sequence: q2.sequence, messageId: 'q2', messageState: 2 });
  const r2 = await second;
  assert.equal(r2.command === 'query_sm_resp' && r2.messageState, 2);
  assert.deepEqual(warnings.map((w) => w.kind), ['unexpected_response']);
});

test('close() rejects every request in flight and every queued one as retryable', async (t) => {
  const { session, peer } = await sessionAndRawPeer(t, { windowSize: 2 });
  const requests = Promise.allSettled([1, 2, 3, 4].map(() => session.request({ command: 'submit_sm' })));
  await peer.next();
  await peer.next();
  assert.deepEqual([session.inFlight, session.queued], [2, 2]);
  const closed = once(session, 'close') as Promise<[SmppCloseInfo]>;
  await session.close();
  for (const result of await requests) {
    assert.ok(result.status === 'rejected' && result.reason instanceof SmppSessionClosedError && result.reason.retryable);
    assert.equal(result.reason.reason, 'local');
  }
  assert.equal((await closed)[0].reason, 'local');
  await assert.rejects(session.request({ command: 'enquire_link' }), SmppSessionClosedError);
  await peer.ended;
});

test('losing the socket rejects what is in flight and reports why', async (t) => {
  const { session, peer } = await sessionAndRawPeer(t);
  const request = session.request({ command: 'submit_sm' });
  await peer.next();
  const closed = once(session, 'close') as Promise<[SmppCloseInfo]>;
  peer.socket.destroy();
  await assert.rejects(request, (err: unknown) => err instanceof SmppSessionClosedError && err.reason === 'peer_closed');
  assert.equal((await closed)[0].reason, 'peer_closed');
});

test('keep-alive: enquire_link goes out when the peer is quiet; the peer\'s enquire_link is answered', async (t) => {
  const { session, peer } = await sessionAndRawPeer(t, { enquireLinkIntervalMs: 30, responseTimeoutMs: 1000 });
  for (let i = 0; i < 3; i++) {
    const ping = await peer.next();
    assert.equal(ping.command, 'enquire_link');
    peer.send({ command: 'enquire_link_resp', sequence: ping.sequence });
  }
  peer.send({ command: 'enquire_link', sequence: 777 });
  let pdu = await peer.next();
  while (pdu.command === 'enquire_link') pdu = await peer.next(); // our own pings may come first
  assert.deepEqual([pdu.command, pdu.sequence], ['enquire_link_resp', 777]);
  assert.equal(session.state, 'open');
});

test('a peer that stops answering enquire_link is dropped, and requests in flight reject as retryable', async (t) => {
  const { session, peer } = await sessionAndRawPeer(t, { enquireLinkIntervalMs: 30, responseTimeoutMs: 100 });
  const request = assert.rejects(session.request({ command: 'submit_sm' }, { timeoutMs: 10_000 }), (err: unknown) => err instanceof SmppSessionClosedError && err.retryable);
  const closed = once(session, 'close') as Promise<[SmppCloseInfo]>;
  assert.equal((await closed)[0].reason, 'peer_silent');
  await request;
  await peer.ended;
});

test('a slow handler does not hold up other requests; each answer carries its request\'s sequence', async (t) => {
  const slow = gate();
  const { session, peer } = await sessionAndRawPeer(t, {
    onRequest: async (req) => {
      if (req.command !== 'submit_sm') return;
      if (req.destinationAddr === 'slow') await slow.promise;
      return { command: 'submit_sm_resp', messageId: `id-${req.destinationAddr}` };
    },
  });
  peer.send({ command: 'submit_sm', sequence: 10, destinationAddr: 'slow' });
  peer.send({ command: 'submit_sm', sequence: 11, destinationAddr: 'fast' });
  const fast = await peer.next();
  assert.deepEqual([fast.command, fast.sequence, fast.command === 'submit_sm_resp' && fast.messageId], ['submit_sm_resp', 11, 'id-fast']);
  assert.equal(session.incomingInFlight, 1);
  slow.open();
  const late = await peer.next();
  assert.deepEqual([late.sequence, late.command === 'submit_sm_resp' && late.messageId], [10, 'id-slow']);
});

test('a failing handler, a missing handler and a full incoming window answer with a status the peer retries', async (t) => {
  const hold = gate();
  const { session, peer } = await sessionAndRawPeer(t, {
    maxIncomingInFlight: 1,
    onRequest: async (req) => {
      if (req.command === 'deliver_sm' && req.sourceAddr === 'hold') await hold.promise;
      if (req.command === 'deliver_sm' && req.sourceAddr === 'boom') throw new Error('database down');
      return { command: 'deliver_sm_resp' };
    },
  });
  const warnings: SmppWarning[] = [];
  session.on('warning', (w) => warnings.push(w));
  peer.send({ command: 'deliver_sm', sequence: 1, sourceAddr: 'hold' });
  peer.send({ command: 'deliver_sm', sequence: 2, sourceAddr: 'over the limit' });
  const throttled = await peer.next();
  assert.deepEqual([throttled.command, throttled.sequence, throttled.status], ['deliver_sm_resp', 2, CommandStatus.ESME_RTHROTTLED]);
  hold.open();
  const held = await peer.next();
  assert.deepEqual([held.sequence, held.status], [1, 0]);
  peer.send({ command: 'deliver_sm', sequence: 3, sourceAddr: 'boom' });
  const boom = await peer.next();
  assert.deepEqual([boom.command, boom.sequence, boom.status], ['deliver_sm_resp', 3, CommandStatus.ESME_RSYSERR]);
  session.onRequest(undefined);
  peer.send({ command: 'query_sm', sequence: 4 });
  const unhandled = await peer.next();
  assert.deepEqual([unhandled.command, unhandled.sequence, unhandled.status], ['query_sm_resp', 4, CommandStatus.ESME_RSYSERR]);
  assert.deepEqual(warnings.map((w) => w.kind), ['handler_failed', 'handler_failed']);
});

test('unbind() lets requests in flight finish, then unbinds; the peer answers and both sides close', async (t) => {
  const arrived = gate();
  const storing = gate();
  const { client, server } = await sessionPair(t, {}, {
    onRequest: async (req) => {
      if (req.command !== 'submit_sm') return;
      arrived.open();
      await storing.promise;
      return { command: 'submit_sm_resp', messageId: 'stored' };
    },
  });
  const serverClosed = once(server, 'close') as Promise<[SmppCloseInfo]>;
  const clientClosed = once(client, 'close') as Promise<[SmppCloseInfo]>;
  const submitted = client.request({ command: 'submit_sm' });
  await arrived.promise;
  const unbinding = client.unbind();
  assert.equal(client.state, 'unbinding');
  await assert.rejects(client.request({ command: 'submit_sm' }), SmppSessionClosedError);
  storing.open();
  const resp = await submitted;
  assert.equal(resp.command === 'submit_sm_resp' && resp.messageId, 'stored');
  await unbinding;
  assert.equal((await clientClosed)[0].reason, 'unbind');
  assert.equal((await serverClosed)[0].reason, 'peer_unbind');
});

test('while unbind() waits for the peer\'s request being handled, later requests are refused ESME_RTHROTTLED unhandled; the answer goes out before unbind', async (t) => {
  const arrived = gate();
  const storing = gate();
  const handled: number[] = [];
  const { session, peer } = await sessionAndRawPeer(t, {
    onRequest: async (req) => {
      if (req.command !== 'submit_sm') return;
      handled.push(req.sequence);
      arrived.open();
      await storing.promise;
      return { command: 'submit_sm_resp', messageId: 'stored' };
    },
  });
  const closed = once(session, 'close') as Promise<[SmppCloseInfo]>;
  // 1. A submit is being handled (stored) when unbind() starts.
  peer.send({ command: 'submit_sm', sequence: 1 });
  await arrived.promise;
  const unbinding = session.unbind();
  // 2. One that arrives now is refused at once with a temporary status, and never reaches the handler.
  peer.send({ command: 'submit_sm', sequence: 2 });
  const refused = await peer.next();
  assert.deepEqual([refused.command, refused.sequence, refused.status], ['submit_sm_resp', 2, CommandStatus.ESME_RTHROTTLED]);
  assert.deepEqual(handled, [1]);
  // 3. The first is answered once stored, and only then does unbind go out.
  storing.open();
  const answered = await peer.next();
  assert.ok(answered.command === 'submit_sm_resp' && answered.sequence === 1 && answered.status === 0 && answered.messageId === 'stored');
  const unbind = await peer.next();
  assert.equal(unbind.command, 'unbind');
  peer.send({ command: 'unbind_resp', sequence: unbind.sequence });
  await unbinding;
  assert.equal((await closed)[0].reason, 'unbind');
  assert.deepEqual(handled, [1]);
});

test('a peer\'s unbind is answered with unbind_resp on its sequence, then the connection closes', async (t) => {
  const { session, peer } = await sessionAndRawPeer(t);
  const closed = once(session, 'close') as Promise<[SmppCloseInfo]>;
  const pending = assert.rejects(session.request({ command: 'submit_sm' }), (err: unknown) => err instanceof SmppSessionClosedError && err.retryable);
  await peer.next();
  peer.send({ command: 'unbind', sequence: 99 });
  const resp = await peer.next();
  assert.deepEqual([resp.command, resp.sequence, resp.status], ['unbind_resp', 99, 0]);
  await peer.ended;
  assert.equal((await closed)[0].reason, 'peer_unbind');
  await pending;
});

test('a peer\'s unbind waits for the answers it is owed: submit_sm_resp goes out before unbind_resp', async (t) => {
  const storing = gate();
  const { peer } = await sessionAndRawPeer(t, {
    onRequest: async (req) => {
      await storing.promise;
      return req.command === 'submit_sm' ? { command: 'submit_sm_resp', messageId: 'kept' } : undefined;
    },
  });
  peer.send({ command: 'submit_sm', sequence: 1 });
  peer.send({ command: 'unbind', sequence: 2 });
  peer.send({ command: 'enquire_link', sequence: 3 }); // answered at once, even while unbinding
  assert.deepEqual((await peer.next()).command, 'enquire_link_resp');
  storing.open();
  const [first, second] = [await peer.next(), await peer.next()];
  assert.deepEqual([first.command, first.sequence, second.command, second.sequence], ['submit_sm_resp', 1, 'unbind_resp', 2]);
  await peer.ended;
});

test('garbage gets generic_nack: an unknown command keeps the session, an impossible length closes it', async (t) => {
  const { session, peer } = await sessionAndRawPeer(t);
  const warnings: SmppWarning[] = [];
  session.on('warning', (w) => warnings.push(w));
  const unknown = encodePdu({ command: 'enquire_link', sequence: 5 });
  unknown.writeUInt32BE(0x00000077, 4);
  peer.socket.write(unknown);
  const truncated = encodePdu({ command: 'submit_sm', sequence: 6, destinationAddr: '79001234567' }).subarray(0, 24);
  truncated.writeUInt32BE(24, 0);
  peer.socket.write(truncated);
  let nack = await peer.next();
  assert.deepEqual([nack.command, nack.sequence, nack.status], ['generic_nack', 5, CommandStatus.ESME_RINVCMDID]);
  nack = await peer.next();
  assert.deepEqual([nack.command, nack.sequence, nack.status], ['generic_nack', 6, CommandStatus.ESME_RINVCMDLEN]);
  peer.send({ command: 'enquire_link', sequence: 7 });
  assert.deepEqual((await peer.next()).sequence, 7);

  const closed = once(session, 'close') as Promise<[SmppCloseInfo]>;
  peer.socket.write(Buffer.from('7fffffff' + '00000004' + '00000000' + '00000008', 'hex'));
  nack = await peer.next();
  assert.deepEqual([nack.command, nack.sequence, nack.status], ['generic_nack', 8, CommandStatus.ESME_RINVCMDLEN]);
  assert.equal((await closed)[0].reason, 'protocol_error');
  await peer.ended;
  assert.equal(warnings.length, 3);
});

test('writes respect socket backpressure: requests wait in the queue while the socket is congested', async (t) => {
  const { session, peer } = await sessionAndRawPeer(t, { windowSize: 100 });
  peer.socket.pause();
  const payload = Buffer.alloc(60_000, 0x61);
  const requests = Array.from({ length: 20 }, () => session.request({ command: 'data_sm', tlvs: { messagePayload: payload } }));
  assert.ok(session.inFlight < 20 && session.queued > 0, `in flight ${session.inFlight}, queued ${session.queued}`);
  peer.socket.resume();
  for (let i = 0; i < 20; i++) {
    const pdu = await peer.next();
    peer.send({ command: 'data_sm_resp', sequence: pdu.sequence, messageId: String(i) });
  }
  assert.equal((await Promise.all(requests)).length, 20);
});

test('bindClient binds against acceptBind; the owner\'s handler takes over right after the bind', async (t) => {
  const bound: SmppSession[] = [];
  const options: AcceptBindOptions = {
    systemId: 'depesha',
    authenticate: (bind) => (bind.systemId === 'acme' && bind.password === 'secret' ? CommandStatus.ESME_ROK : CommandStatus.ESME_RINVPASWD),
    onRequest: (req) => (req.command === 'submit_sm' ? { command: 'submit_sm_resp', messageId: 'srv-1' } : undefined),
  };
  const port = await listen(t, (socket) => void acceptBind(socket, options).then((s) => bound.push(s), () => {}));
  const client = await bindClient({ host: '127.0.0.1', port, systemId: 'acme', password: 'secret', mode: 'transceiver', enquireLinkIntervalMs: 0 });
  t.after(() => client.close());
  assert.deepEqual(client.bind, { mode: 'transceiver', systemId: 'acme', smscSystemId: 'depesha', interfaceVersion: 0x34 });
  const resp = await client.request({ command: 'submit_sm', destinationAddr: '79001234567', shortMessage: Buffer.from('hi') });
  assert.equal(resp.command === 'submit_sm_resp' && resp.messageId, 'srv-1');
  assert.deepEqual(bound[0]?.bind, { mode: 'transceiver', systemId: 'acme', smscSystemId: 'depesha', interfaceVersion: 0x34 });
  await client.unbind();
});

test('a refused bind rejects on both sides with the bind_resp status', async (t) => {
  let serverSide!: Promise<unknown>;
  const port = await listen(t, (socket) => {
    serverSide = acceptBind(socket, { authenticate: () => CommandStatus.ESME_RINVPASWD }).then(() => assert.fail('bound'), (e: unknown) => e);
  });
  const err = await bindClient({ host: '127.0.0.1', port, systemId: 'acme', password: 'wrong', mode: 'transmitter' }).then(
    () => assert.fail('bound'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof SmppBindError);
  assert.equal(err.commandStatus, CommandStatus.ESME_RINVPASWD);
  assert.equal(err.retryable, false);
  assert.equal(err.message, 'cannot bind: invalid password (ESME_RINVPASWD, 0x0000000e)');
  const refused = await serverSide;
  assert.ok(refused instanceof SmppBindError && refused.commandStatus === CommandStatus.ESME_RINVPASWD);
});

test('before the bind, other requests are refused with ESME_RINVBNDSTS; no bind in time closes the connection', async (t) => {
  let serverSide!: Promise<unknown>;
  const port = await listen(t, (socket) => {
    serverSide = acceptBind(socket, { authenticate: () => 0, bindTimeoutMs: 200 }).then(() => assert.fail('bound'), (e: unknown) => e);
  });
  const peer = new RawPeer(await connect(port));
  peer.send({ command: 'submit_sm', sequence: 1 });
  const resp = await peer.next();
  assert.deepEqual([resp.command, resp.sequence, resp.status], ['submit_sm_resp', 1, CommandStatus.ESME_RINVBNDSTS]);
  assert.ok((await serverSide) instanceof SmppTimeoutError);
  await peer.ended;
});

test('a refused connection rejects bindClient as retryable', async () => {
  const closedPort = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(p));
    });
  });
  await assert.rejects(
    bindClient({ host: '127.0.0.1', port: closedPort, systemId: 'a', password: 'b', mode: 'receiver' }),
    (err: unknown) => err instanceof SmppSessionClosedError && err.retryable && /ECONNREFUSED/.test(String((err.cause as Error).message)),
  );
});

test('a flood of well-framed PDUs with random bodies and command ids neither crashes nor closes the session', async (t) => {
  const { session, peer } = await sessionAndRawPeer(t, { onRequest: () => undefined });
  session.on('warning', () => {});
  let seed = 12345;
  const random = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  const ids = Object.values(CommandId).filter((id) => id !== CommandId.unbind);
  const chunks: Buffer[] = [];
  for (let i = 0; i < 2000; i++) {
    const body = Buffer.from(Array.from({ length: random(80) }, () => random(256)));
    const pdu = Buffer.alloc(16 + body.length);
    pdu.writeUInt32BE(pdu.length, 0);
    pdu.writeUInt32BE(random(10) === 0 ? random(0xffffffff) : ids[random(ids.length)]!, 4);
    pdu.writeUInt32BE(random(3) === 0 ? random(0x100) : 0, 8);
    pdu.writeUInt32BE(i + 1000, 12);
    body.copy(pdu, 16);
    chunks.push(pdu);
  }
  peer.socket.write(Buffer.concat(chunks));
  peer.send({ command: 'enquire_link', sequence: 1 });
  let pdu = await peer.next();
  while (!(pdu.command === 'enquire_link_resp' && pdu.sequence === 1)) pdu = await peer.next();
  assert.equal(session.state, 'open');
});
