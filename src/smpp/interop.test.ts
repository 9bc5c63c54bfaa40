/**
 * Our codec and session against an independent implementation, the `smpp`
 * npm package: our client bound to its server, its client bound to ours,
 * exchanging submit_sm and deliver_sm with a UDH, with message_payload and
 * with receipt TLVs. Two implementations that agree byte for byte on these
 * are unlikely to share a misreading of the spec.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import smpp from 'smpp';
import type { DecodedMessage, PDU as LibPdu, Session as LibSession } from 'smpp';
import { CommandStatus } from './pdu.ts';
import type { PduOf } from './pdu.ts';
import { acceptBind, bindClient, SmppBindError } from './session.ts';
import type { SmppCloseInfo, SmppSession } from './session.ts';

const UDH = Buffer.from([0x05, 0x00, 0x03, 0x2a, 0x02, 0x01]); // concatenated, ref 0x2a, part 1 of 2
const ucs2 = (text: string) => Buffer.from(text, 'utf16le').swap16();
const RECEIPT_TEXT = 'id:lib-1 sub:001 dlvrd:001 submit date:2501011200 done date:2501011201 stat:DELIVRD err:000 text:Hello';
// no '_' or '@': data_coding 0 is GSM 03.38, where those octets are other characters
const PAYLOAD = Buffer.from('A long text that travels in the payload TLV instead of the short message. '.repeat(5));

/** One request of the package's session, as a promise of its response. */
function libCall(session: LibSession, command: 'bind_transceiver' | 'submit_sm' | 'deliver_sm' | 'enquire_link' | 'unbind', options: Record<string, unknown> = {}): Promise<LibPdu> {
  return new Promise((resolve) => session[command](options, resolve));
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function listening(t: TestContext, server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

test('our client against the smpp package\'s server: bind, submit_sm with UDH and message_payload, receipts, unbind', async (t) => {
  const submits: LibPdu[] = [];
  const deliverResps: LibPdu[] = [];
  const libSessions: LibSession[] = [];
  const server = smpp.createServer((s) => {
    libSessions.push(s);
    s.on('error', () => {});
    s.on('bind_transceiver', (pdu: LibPdu) => {
      if (pdu.password !== 'secret') return s.send(pdu.response({ command_status: CommandStatus.ESME_RINVPASWD }));
      s.send(pdu.response({ system_id: 'libsmsc' }));
    });
    s.on('submit_sm', (pdu: LibPdu) => {
      submits.push(pdu);
      s.send(pdu.response({ message_id: `lib-${submits.length}` }));
      if (submits.length < 3) return;
      // 3. the SMSC reports on the first message and forwards an MO in message_payload
      s.deliver_sm(
        {
          source_addr: '79001234567', destination_addr: 'Depesha', esm_class: 0x04, data_coding: 0, short_message: Buffer.from(RECEIPT_TEXT),
          receipted_message_id: 'lib-1', message_state: 2, network_error_code: Buffer.from([3, 0, 0]),
        },
        (resp) => deliverResps.push(resp),
      );
      s.deliver_sm({ source_addr: '79001234567', destination_addr: '1234', data_coding: 0, message_payload: PAYLOAD }, (resp) => {
        deliverResps.push(resp);
        allDelivered.resolve();
      });
    });
    s.on('enquire_link', (pdu: LibPdu) => s.send(pdu.response()));
    s.on('unbind', (pdu: LibPdu) => {
      s.send(pdu.response());
      s.close();
    });
  });
  t.after(() => libSessions.forEach((s) => s.destroy()));
  const allDelivered = deferred<void>();
  const port = await listening(t, server);

  // 1. a wrong password is refused with the status the server gave
  const refused = await bindClient({ host: '127.0.0.1', port, systemId: 'acme', password: 'nope', mode: 'transceiver' }).catch((e: unknown) => e);
  assert.ok(refused instanceof SmppBindError && refused.commandStatus === CommandStatus.ESME_RINVPASWD, String(refused));

  // 2. bind, with a handler that records what the SMSC delivers
  const delivered: PduOf<'deliver_sm'>[] = [];
  const client = await bindClient({
    host: '127.0.0.1', port, systemId: 'acme', password: 'secret', mode: 'transceiver', enquireLinkIntervalMs: 0,
    onRequest: (req) => {
      if (req.command !== 'deliver_sm') return;
      delivered.push(req);
      return { command: 'deliver_sm_resp' };
    },
  });
  t.after(() => client.close());
  assert.equal(client.bind?.smscSystemId, 'libsmsc');

  const responses = await Promise.all([
    client.request({ command: 'submit_sm', sourceAddr: 'Depesha', destAddrTon: 1, destAddrNpi: 1, destinationAddr: '79001234567', registeredDelivery: 1, shortMessage: Buffer.from('Hello') }),
    client.request({ command: 'submit_sm', destinationAddr: '79001234567', esmClass: 0x40, dataCoding: 8, shortMessage: Buffer.concat([UDH, ucs2('Привет')]) }),
    client.request({ command: 'submit_sm', destinationAddr: '79001234567', tlvs: { messagePayload: PAYLOAD, userMessageReference: 0x77 } }),
  ]);
  assert.deepEqual(responses.map((r) => [r.command, r.status, r.command === 'submit_sm_resp' && r.messageId]), [
    ['submit_sm_resp', 0, 'lib-1'],
    ['submit_sm_resp', 0, 'lib-2'],
    ['submit_sm_resp', 0, 'lib-3'],
  ]);
  const [plain, withUdh, withPayload] = submits as [LibPdu, LibPdu, LibPdu];
  assert.deepEqual([plain.source_addr, plain.dest_addr_ton, plain.destination_addr, plain.registered_delivery], ['Depesha', 1, '79001234567', 1]);
  assert.equal((plain.short_message as DecodedMessage).message, 'Hello');
  assert.equal(withUdh.esm_class, 0x40);
  assert.deepEqual((withUdh.short_message as DecodedMessage).udh, [UDH.subarray(1)]);
  assert.equal((withUdh.short_message as DecodedMessage).message, 'Привет');
  assert.equal((withPayload.message_payload as DecodedMessage).message, PAYLOAD.toString());
  assert.equal(withPayload.user_message_reference, 0x77);

  // 4. both deliver_sm arrived, were read and answered on their sequence numbers
  await allDelivered.promise;
  assert.deepEqual(deliverResps.map((r) => [r.command, r.command_status]), [['deliver_sm_resp', 0], ['deliver_sm_resp', 0]]);
  const [receipt, mo] = delivered as [PduOf<'deliver_sm'>, PduOf<'deliver_sm'>];
  assert.equal(receipt.esmClass, 0x04);
  assert.equal(receipt.shortMessage.toString(), RECEIPT_TEXT);
  assert.deepEqual(receipt.tlvs, { receiptedMessageId: 'lib-1', messageState: 2, networkErrorCode: Buffer.from([3, 0, 0]) });
  assert.deepEqual([mo.shortMessage.length, mo.tlvs.messagePayload], [0, PAYLOAD]);

  // 5. unbind: the server answers and closes
  const closed = once(client, 'close') as Promise<[SmppCloseInfo]>;
  await client.unbind();
  assert.equal((await closed)[0].reason, 'unbind');
});

test('the smpp package\'s client against our server: bind, submits, a receipt back, enquire_link, unbind', async (t) => {
  const submits: PduOf<'submit_sm'>[] = [];
  const sessions: SmppSession[] = [];
  const bound = deferred<SmppSession>();
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    acceptBind(socket, {
      systemId: 'depesha',
      enquireLinkIntervalMs: 0,
      authenticate: (bind) => (bind.systemId === 'acme' && bind.password === 'secret' ? CommandStatus.ESME_ROK : CommandStatus.ESME_RINVPASWD),
      onRequest: (req) => {
        if (req.command !== 'submit_sm') return;
        submits.push(req);
        return { command: 'submit_sm_resp', messageId: `dep-${submits.length}` };
      },
    }).then((s) => {
      sessions.push(s);
      bound.resolve(s);
    }, () => {});
  });
  t.after(() => sessions.forEach((s) => void s.close()));
  const port = await listening(t, server);

  const connectLib = async () => {
    const lib = smpp.connect({ host: '127.0.0.1', port });
    lib.on('error', () => {});
    await once(lib, 'connect');
    return lib;
  };

  // 1. a wrong password gets ESME_RINVPASWD
  const rejected = await connectLib();
  const refusal = await libCall(rejected, 'bind_transceiver', { system_id: 'acme', password: 'nope' });
  assert.equal(refusal.command_status, CommandStatus.ESME_RINVPASWD);
  rejected.destroy();

  // 2. the right one binds
  const lib = await connectLib();
  t.after(() => lib.destroy());
  const bindResp = await libCall(lib, 'bind_transceiver', { system_id: 'acme', password: 'secret' });
  assert.deepEqual([bindResp.command, bindResp.command_status, bindResp.system_id], ['bind_transceiver_resp', 0, 'depesha']);
  const ours = await bound.promise;
  assert.deepEqual(ours.bind, { mode: 'transceiver', systemId: 'acme', smscSystemId: 'depesha', interfaceVersion: 0x50 }); // the package binds as 5.0

  // 3. submit_sm with a UDH in UCS-2, and one in message_payload
  const r1 = await libCall(lib, 'submit_sm', {
    source_addr: 'Shop', destination_addr: '79001234567', data_coding: 8, registered_delivery: 1, short_message: { udh: UDH, message: 'Привет' },
  });
  const r2 = await libCall(lib, 'submit_sm', { destination_addr: '79001234567', data_coding: 0, message_payload: PAYLOAD });
  assert.deepEqual([r1.command_status, r1.message_id, r2.command_status, r2.message_id], [0, 'dep-1', 0, 'dep-2']);
  const [udhSubmit, payloadSubmit] = submits as [PduOf<'submit_sm'>, PduOf<'submit_sm'>];
  assert.deepEqual([udhSubmit.sourceAddr, udhSubmit.destinationAddr, udhSubmit.dataCoding, udhSubmit.registeredDelivery], ['Shop', '79001234567', 8, 1]);
  assert.equal(udhSubmit.esmClass & 0x40, 0x40);
  assert.deepEqual(udhSubmit.shortMessage, Buffer.concat([UDH, ucs2('Привет')]));
  assert.deepEqual([payloadSubmit.shortMessage.length, payloadSubmit.tlvs.messagePayload], [0, PAYLOAD]);

  // 4. a receipt from us: the package reads our TLVs and answers deliver_sm_resp
  const receiptSeen = deferred<LibPdu>();
  lib.on('deliver_sm', (pdu: LibPdu) => {
    receiptSeen.resolve(pdu);
    lib.send(pdu.response());
  });
  const resp = await ours.request({
    command: 'deliver_sm', sourceAddr: '79001234567', destinationAddr: 'Shop', esmClass: 0x04, shortMessage: Buffer.from(RECEIPT_TEXT.replace('lib-1', 'dep-1')),
    tlvs: { receiptedMessageId: 'dep-1', messageState: 2, networkErrorCode: Buffer.from([3, 0, 0]) },
  });
  assert.deepEqual([resp.command, resp.status], ['deliver_sm_resp', 0]);
  const receipt = await receiptSeen.promise;
  assert.deepEqual([receipt.receipted_message_id, receipt.message_state, receipt.esm_class], ['dep-1', 2, 0x04]);
  assert.deepEqual(receipt.network_error_code, Buffer.from([3, 0, 0]));
  assert.match(String((receipt.short_message as DecodedMessage).message), /^id:dep-1 .* stat:DELIVRD /);

  // 5. enquire_link is answered by the session, unbind closes it
  const pong = await libCall(lib, 'enquire_link');
  assert.deepEqual([pong.command, pong.command_status], ['enquire_link_resp', 0]);
  const closed = once(ours, 'close') as Promise<[SmppCloseInfo]>;
  const unbindResp = await libCall(lib, 'unbind');
  assert.equal(unbindResp.command, 'unbind_resp');
  assert.equal((await closed)[0].reason, 'peer_unbind');
});
