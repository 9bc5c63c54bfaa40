import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { CommandStatus } from './pdu.ts';
import type { PduOf } from './pdu.ts';
import { parseReceipt } from './receipt.ts';
import { bindClient, SmppBindError } from './session.ts';
import type { BindMode, IncomingRequest, SmppSession } from './session.ts';
import { SmscSimulator } from './simulator.ts';
import type { SimulatorOptions } from './simulator.ts';

type DeliverSm = PduOf<'deliver_sm'>;

async function startSim(t: TestContext, options: SimulatorOptions = {}): Promise<SmscSimulator> {
  const sim = new SmscSimulator(options);
  await sim.start();
  t.after(() => sim.stop());
  return sim;
}

/** A bound client that collects the deliver_sm the simulator sends it (and acknowledges them). */
async function client(t: TestContext, sim: SmscSimulator, mode: BindMode, login = { systemId: 'esme', password: 'secret' }) {
  const received: DeliverSm[] = [];
  let waiter: (() => void) | undefined;
  const session = await bindClient({
    host: '127.0.0.1',
    port: sim.port,
    ...login,
    mode,
    enquireLinkIntervalMs: 0,
    onRequest: (request: IncomingRequest) => {
      if (request.command !== 'deliver_sm') return { command: 'generic_nack', status: CommandStatus.ESME_RINVCMDID };
      received.push(request);
      waiter?.();
      return { command: 'deliver_sm_resp', messageId: '' };
    },
  });
  t.after(() => session.close());
  /** Resolves once `count` deliver_sm have arrived. */
  const receive = async (count: number): Promise<DeliverSm[]> => {
    while (received.length < count) await new Promise<void>((resolve) => (waiter = resolve));
    return received.slice(0, count);
  };
  return { session, received, receive };
}

function submit(session: SmppSession, to: string, registeredDelivery = 1) {
  return session.request({ command: 'submit_sm', sourceAddr: 'Shop', destinationAddr: to, registeredDelivery, shortMessage: Buffer.from('hello') });
}

test('a bind with a wrong password is refused with ESME_RINVPASWD, an unknown system_id with ESME_RINVSYSID', async (t) => {
  const sim = await startSim(t, { accounts: { esme: 'secret' } });
  await assert.rejects(client(t, sim, 'transceiver', { systemId: 'esme', password: 'wrong' }), (err: unknown) => {
    assert.ok(err instanceof SmppBindError);
    assert.equal(err.commandStatus, 0x0e);
    assert.equal(err.retryable, false);
    return true;
  });
  await assert.rejects(client(t, sim, 'transceiver', { systemId: 'nobody', password: 'secret' }), (err: unknown) => err instanceof SmppBindError && err.commandStatus === CommandStatus.ESME_RINVSYSID);
  const { session } = await client(t, sim, 'transceiver');
  assert.equal(session.bind?.smscSystemId, 'depesha-sim');
  assert.equal(sim.stats.binds, 1);
});

test('a submit gets a message id, and its receipt with that id arrives on the transceiver bind', async (t) => {
  const sim = await startSim(t, { receiptDelayMs: 10 });
  const { session, receive } = await client(t, sim, 'transceiver');
  const resp = await submit(session, '79161234567');
  assert.equal(resp.status, CommandStatus.ESME_ROK);
  assert.equal(resp.command, 'submit_sm_resp');
  const messageId = resp.command === 'submit_sm_resp' ? resp.messageId : '';
  assert.match(messageId, /^[0-9A-F]{8}$/);
  assert.equal(sim.submits.length, 1);
  assert.equal(sim.submits[0]!.messageId, messageId);
  assert.equal(sim.submits[0]!.destinationAddr, '79161234567');

  const [receipt] = await receive(1);
  const parsed = parseReceipt(receipt!);
  assert.ok(parsed);
  assert.equal(parsed.messageId, messageId);
  assert.equal(parsed.state, 'delivered');
  assert.equal(receipt!.sourceAddr, '79161234567'); // from the handset back to the sender
  assert.equal(receipt!.destinationAddr, 'Shop');
  assert.equal(sim.stats.receipts, 1);
});

test('a submit without registered delivery gets no receipt', async (t) => {
  const sim = await startSim(t, { receiptDelayMs: 0 });
  const { session, receive, received } = await client(t, sim, 'transceiver');
  await submit(session, '79161234567', 0);
  // A second submit asks for one: by the time it has come, one for the first would have come before it.
  await submit(session, '79161234568', 1);
  const [receipt] = await receive(1);
  assert.equal(receipt!.sourceAddr, '79161234568');
  assert.equal(received.length, 1);
  assert.equal(sim.stats.receipts, 1);
});

test('with a transmitter-only bind the receipt is held until a receiver of the same system_id binds', async (t) => {
  const sim = await startSim(t, { receiptDelayMs: 0 });
  // 1. Submit over a transmitter: nobody can take the receipt yet.
  const tx = await client(t, sim, 'transmitter');
  const resp = await submit(tx.session, '79161234567');
  assert.equal(resp.status, 0);
  // 2. Another system_id's transceiver submits too and gets its own receipt; the held one is not given to it.
  const other = await client(t, sim, 'transceiver', { systemId: 'other', password: 'x' });
  await submit(other.session, '79160000001');
  const [own] = await other.receive(1);
  assert.equal(own!.sourceAddr, '79160000001');
  assert.equal(sim.stats.receipts, 1);
  // 3. A receiver of the first system_id binds and the held receipt is sent to it.
  const rx = await client(t, sim, 'receiver');
  const [receipt] = await rx.receive(1);
  assert.equal(parseReceipt(receipt!)?.messageId, resp.command === 'submit_sm_resp' ? resp.messageId : undefined);
  assert.equal(tx.received.length, 0);
  assert.equal(other.received.length, 1);
});

test('throttleRate 1 answers every submit ESME_RTHROTTLED (0x58) and records nothing', async (t) => {
  const sim = await startSim(t, { throttleRate: 1 });
  const { session } = await client(t, sim, 'transceiver');
  const resps = await Promise.all([submit(session, '79161234567'), submit(session, '79161234568')]);
  assert.deepEqual(
    resps.map((r) => r.status),
    [0x58, 0x58],
  );
  assert.equal(sim.stats.refused, 2);
  assert.equal(sim.stats.accepted, 0);
  assert.equal(sim.submits.length, 0);
  sim.set({ throttleRate: 0 });
  assert.equal((await submit(session, '79161234569')).status, 0);
});

test('decimal ids: the same number written in decimal in submit_sm_resp and in the receipt', async (t) => {
  const sim = await startSim(t, { receiptDelayMs: 0, submitIdFormat: 'decimal', receiptIdFormat: 'decimal' });
  const { session, receive } = await client(t, sim, 'transceiver');
  const resp = await submit(session, '79161234567');
  const messageId = resp.command === 'submit_sm_resp' ? resp.messageId : '';
  assert.match(messageId, /^\d+$/);
  const [receipt] = await receive(1);
  assert.equal(parseReceipt(receipt!)?.messageId, messageId);
});

test('sendMo delivers the parts of a long message in the order given, with a concatenation UDH', async (t) => {
  const sim = await startSim(t);
  const { receive } = await client(t, sim, 'receiver');
  await sim.sendMo({ from: '79161234567', to: '1234', text: '', partsText: ['first ', 'second ', 'third'], order: [3, 1, 2], ref: 42 });
  const parts = await receive(3);
  assert.deepEqual(
    parts.map((p) => [...p.shortMessage.subarray(0, 6)]),
    [
      [5, 0, 3, 42, 3, 3],
      [5, 0, 3, 42, 3, 1],
      [5, 0, 3, 42, 3, 2],
    ],
  );
  assert.deepEqual(
    parts.map((p) => p.shortMessage.subarray(6).toString('latin1')),
    ['third', 'first ', 'second '],
  );
  assert.ok(parts.every((p) => p.esmClass === 0x40 && p.sourceAddr === '79161234567' && p.destinationAddr === '1234'));
});

test('sendMo without a receiving bind fails', async (t) => {
  const sim = await startSim(t);
  await client(t, sim, 'transmitter');
  await assert.rejects(sim.sendMo({ from: '79161234567', to: '1234', text: 'hi' }), /no receiving bind/);
});
