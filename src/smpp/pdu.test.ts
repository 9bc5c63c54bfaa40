import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CommandId,
  CommandStatus,
  commandName,
  decodePdu,
  describeStatus,
  encodePdu,
  getTlv,
  isTemporaryStatus,
  statusName,
  TlvTag,
  tlvList,
} from './pdu.ts';
import type { AnyPduInit, Pdu, PduCommand } from './pdu.ts';

const source = { sourceAddrTon: 5, sourceAddrNpi: 0, sourceAddr: 'Depesha' };
const dest = { destAddrTon: 1, destAddrNpi: 1, destinationAddr: '79001234567' };
const bind = { systemId: 'acme', password: 'secret', systemType: 'VMA', interfaceVersion: 0x34, addrTon: 1, addrNpi: 1, addressRange: '^7900' };
const message = {
  esmClass: 0x40,
  protocolId: 0,
  priorityFlag: 1,
  scheduleDeliveryTime: '',
  validityPeriod: '000001000000000R',
  registeredDelivery: 1,
  replaceIfPresentFlag: 0,
  dataCoding: 8,
  smDefaultMsgId: 0,
  shortMessage: Buffer.from('050003a70201', 'hex'),
};

/** One PDU of every command, with every field set to something other than its default. */
const SAMPLES: { [C in PduCommand]: Extract<Pdu, { command: C }> } = {
  bind_receiver: { command: 'bind_receiver', sequence: 1, status: 0, tlvs: {}, ...bind },
  bind_receiver_resp: { command: 'bind_receiver_resp', sequence: 1, status: 0, tlvs: { scInterfaceVersion: 0x34 }, systemId: 'SMSC' },
  bind_transmitter: { command: 'bind_transmitter', sequence: 2, status: 0, tlvs: {}, ...bind },
  bind_transmitter_resp: { command: 'bind_transmitter_resp', sequence: 2, status: 0x0e, tlvs: {}, systemId: 'SMSC' },
  bind_transceiver: { command: 'bind_transceiver', sequence: 3, status: 0, tlvs: {}, ...bind },
  bind_transceiver_resp: { command: 'bind_transceiver_resp', sequence: 3, status: 0, tlvs: {}, systemId: 'SMSC' },
  outbind: { command: 'outbind', sequence: 4, status: 0, tlvs: {}, systemId: 'acme', password: 'secret' },
  unbind: { command: 'unbind', sequence: 5, status: 0, tlvs: {} },
  unbind_resp: { command: 'unbind_resp', sequence: 5, status: 0, tlvs: {} },
  generic_nack: { command: 'generic_nack', sequence: 6, status: 0x03, tlvs: {} },
  submit_sm: {
    command: 'submit_sm', sequence: 7, status: 0, serviceType: 'CMT', ...source, ...dest, ...message,
    tlvs: { sarMsgRefNum: 0x1234, sarTotalSegments: 3, sarSegmentSeqnum: 2, userMessageReference: 77, sourcePort: 1000, destinationPort: 2948, moreMessagesToSend: 1 },
  },
  submit_sm_resp: { command: 'submit_sm_resp', sequence: 7, status: 0, tlvs: {}, messageId: '5f3a9c' },
  submit_multi: {
    command: 'submit_multi', sequence: 8, status: 0, tlvs: {}, serviceType: '', ...source, ...message,
    destAddresses: [{ destAddrTon: 1, destAddrNpi: 1, destinationAddr: '79001112233' }, { dlName: 'friends' }],
  },
  submit_multi_resp: {
    command: 'submit_multi_resp', sequence: 8, status: 0, tlvs: {}, messageId: 'm1',
    unsuccessSmes: [{ destAddrTon: 1, destAddrNpi: 1, destinationAddr: '79001112233', errorStatusCode: 0x0b }],
  },
  deliver_sm: {
    command: 'deliver_sm', sequence: 9, status: 0, serviceType: '', ...source, ...dest, ...message, esmClass: 0x04,
    tlvs: { receiptedMessageId: '5f3a9c', messageState: 2, networkErrorCode: Buffer.from([3, 0, 1]) },
  },
  deliver_sm_resp: { command: 'deliver_sm_resp', sequence: 9, status: 0, tlvs: {}, messageId: '' },
  data_sm: {
    command: 'data_sm', sequence: 10, status: 0, serviceType: 'WAP', ...source, ...dest, esmClass: 0, registeredDelivery: 1, dataCoding: 4,
    tlvs: { messagePayload: Buffer.alloc(1000, 0x41) },
  },
  data_sm_resp: { command: 'data_sm_resp', sequence: 10, status: 0, tlvs: {}, messageId: 'd1' },
  query_sm: { command: 'query_sm', sequence: 11, status: 0, tlvs: {}, messageId: 'q1', ...source },
  query_sm_resp: { command: 'query_sm_resp', sequence: 11, status: 0, tlvs: {}, messageId: 'q1', finalDate: '250101120000000+', messageState: 2, errorCode: 0 },
  cancel_sm: { command: 'cancel_sm', sequence: 12, status: 0, tlvs: {}, serviceType: '', messageId: 'c1', ...source, ...dest },
  cancel_sm_resp: { command: 'cancel_sm_resp', sequence: 12, status: 0, tlvs: {} },
  replace_sm: {
    command: 'replace_sm', sequence: 13, status: 0, tlvs: {}, messageId: 'r1', ...source, scheduleDeliveryTime: '',
    validityPeriod: '000002000000000R', registeredDelivery: 1, smDefaultMsgId: 0, shortMessage: Buffer.from('new text'),
  },
  replace_sm_resp: { command: 'replace_sm_resp', sequence: 13, status: 0, tlvs: {} },
  enquire_link: { command: 'enquire_link', sequence: 0x7fffffff, status: 0, tlvs: {} },
  enquire_link_resp: { command: 'enquire_link_resp', sequence: 0x7fffffff, status: 0, tlvs: {} },
  alert_notification: {
    command: 'alert_notification', sequence: 14, status: 0, ...source, esmeAddrTon: 1, esmeAddrNpi: 1, esmeAddr: '79005556677',
    tlvs: { other: [{ tag: TlvTag.ms_availability_status, value: Buffer.from([0]) }] },
  },
};

function roundTrip(pdu: AnyPduInit): Pdu {
  const result = decodePdu(encodePdu(pdu));
  assert.ok(result.ok, result.ok ? '' : result.error.reason);
  return result.pdu;
}

test('every SMPP 3.4 PDU encodes and decodes back to itself', () => {
  for (const sample of Object.values(SAMPLES)) {
    assert.deepEqual(roundTrip(sample), sample, sample.command);
    assert.equal(commandName(CommandId[sample.command]), sample.command);
  }
});

test('submit_sm is laid out field by field as in the spec', () => {
  const bytes = encodePdu({
    command: 'submit_sm', sequence: 2, sourceAddrTon: 5, sourceAddr: 'A', destAddrTon: 1, destAddrNpi: 1, destinationAddr: '79',
    registeredDelivery: 1, dataCoding: 8, shortMessage: Buffer.from([0x04, 0x1f]), tlvs: { sarMsgRefNum: 0x0102 },
  });
  const expected = Buffer.concat([
    Buffer.from('0000002c00000004' + '00000000' + '00000002', 'hex'), // length 44, submit_sm, status, sequence
    Buffer.from([0]), // service_type ''
    Buffer.from([5, 0, 0x41, 0]), // source TON, NPI, 'A'
    Buffer.from([1, 1, 0x37, 0x39, 0]), // dest TON, NPI, '79'
    Buffer.from([0, 0, 0, 0, 0, 1, 0, 8, 0]), // esm_class … sm_default_msg_id, with two empty C-strings
    Buffer.from([2, 0x04, 0x1f]), // sm_length, short_message
    Buffer.from('020c00020102', 'hex'), // sar_msg_ref_num
  ]);
  assert.equal(bytes.toString('hex'), expected.toString('hex'));
});

test('fields left out take their defaults; a bind says interface version 3.4', () => {
  const pdu = roundTrip({ command: 'bind_transceiver', systemId: 'x' });
  assert.deepEqual(pdu, { ...SAMPLES.bind_transceiver, sequence: 0, systemId: 'x', password: '', systemType: '', addrTon: 0, addrNpi: 0, addressRange: '' });
  assert.equal(encodePdu({ command: 'enquire_link', sequence: 9 }).length, 16);
});

/** A PDU from its parts, for bodies encodePdu would not write. */
function rawPdu(commandId: number, sequence: number, status: number, body: Buffer): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32BE(16 + body.length, 0);
  header.writeUInt32BE(commandId, 4);
  header.writeUInt32BE(status, 8);
  header.writeUInt32BE(sequence, 12);
  return Buffer.concat([header, body]);
}

test('unknown TLVs are kept and written back as they came; named ones with a wrong length too', () => {
  // deliver_sm_resp with message_id '' and then TLVs, as SMPP 5.0 peers send it: an unknown
  // 0x1400, a message_state of 2 octets, a receipted_message_id without its NUL
  const body = Buffer.from('00' + '1400000300aabb' + '04270002000a' + '001e00023132', 'hex');
  const result = decodePdu(rawPdu(CommandId.deliver_sm_resp, 3, 0, body));
  assert.ok(result.ok);
  assert.deepEqual(result.pdu.tlvs, {
    receiptedMessageId: '12',
    other: [
      { tag: 0x1400, value: Buffer.from('00aabb', 'hex') },
      { tag: 0x0427, value: Buffer.from('000a', 'hex') },
    ],
  });
  assert.deepEqual(getTlv(result.pdu.tlvs, 0x1400), Buffer.from('00aabb', 'hex'));
  assert.deepEqual(getTlv(result.pdu.tlvs, TlvTag.receipted_message_id), Buffer.from('313200', 'hex'));
  assert.equal(tlvList(result.pdu.tlvs).length, 3);
  assert.deepEqual(roundTrip(result.pdu), result.pdu);
});

test('a refused response without a body, or without its last NUL, still reads', () => {
  const bare = rawPdu(CommandId.submit_sm_resp, 9, 0x45, Buffer.alloc(0));
  assert.deepEqual(decodePdu(bare), { ok: true, pdu: { command: 'submit_sm_resp', sequence: 9, status: 0x45, messageId: '', tlvs: {} } });
  const result = decodePdu(rawPdu(CommandId.submit_sm_resp, 9, 0, Buffer.from('abc')));
  assert.ok(result.ok && result.pdu.command === 'submit_sm_resp');
  assert.equal(result.pdu.messageId, 'abc');
});

/** A valid submit_sm with its body cut or patched. */
function brokenSubmit(patch: (bytes: Buffer) => Buffer): Buffer {
  const bytes = patch(encodePdu({ ...SAMPLES.submit_sm, sequence: 42, tlvs: {} }));
  bytes.writeUInt32BE(bytes.length, 0);
  return bytes;
}

test('a request that does not parse is an error carrying its sequence number and the status to nack with', () => {
  const cases: [string, Buffer, number][] = [
    ['C-string cut off', brokenSubmit((b) => b.subarray(0, 20)), CommandStatus.ESME_RINVCMDLEN],
    ['field past the end', brokenSubmit((b) => b.subarray(0, 16 + 4 + 8 + 13)), CommandStatus.ESME_RINVCMDLEN],
    ['sm_length past the end', brokenSubmit((b) => b.subarray(0, b.length - 2)), CommandStatus.ESME_RINVMSGLEN],
    ['TLV header cut off', brokenSubmit((b) => Buffer.concat([b, Buffer.from([0x02, 0x0c, 0x00])])), CommandStatus.ESME_RINVOPTPARSTREAM],
    ['TLV value past the end', brokenSubmit((b) => Buffer.concat([b, Buffer.from('020c000501', 'hex')])), CommandStatus.ESME_RINVOPTPARSTREAM],
    ['unknown command_id', brokenSubmit((b) => (b.writeUInt32BE(0x0000_0777, 4), b)), CommandStatus.ESME_RINVCMDID],
  ];
  for (const [name, bytes, status] of cases) {
    const result = decodePdu(bytes);
    assert.ok(!result.ok, name);
    assert.equal(result.error.status, status, `${name}: ${result.error.reason}`);
    assert.equal(result.error.sequence, 42, name);
    assert.equal(result.error.fatal, false, name);
  }
  const badFlag = encodePdu({ command: 'submit_multi', sequence: 5, destAddresses: [{ dlName: 'x' }] });
  badFlag[16 + 1 + 3] = 3; // dest_flag after service_type and the source address
  const result = decodePdu(badFlag);
  assert.ok(!result.ok);
  assert.equal(result.error.status, CommandStatus.ESME_RINVDESTFLAG);
});

test('values that cannot be encoded throw a RangeError that names the field', () => {
  assert.throws(() => encodePdu({ command: 'submit_sm', destinationAddr: '7900\0' }), /submit_sm\.destinationAddr/);
  assert.throws(() => encodePdu({ command: 'submit_sm', sourceAddr: 'Депеша' }), RangeError);
  assert.throws(() => encodePdu({ command: 'submit_sm', shortMessage: Buffer.alloc(256) }), /messagePayload/);
  assert.throws(() => encodePdu({ command: 'submit_sm', dataCoding: 256 }), /dataCoding/);
  assert.throws(() => encodePdu({ command: 'submit_sm', tlvs: { networkErrorCode: Buffer.alloc(2) } }), /networkErrorCode/);
  assert.throws(() => encodePdu({ command: 'data_sm', tlvs: { messagePayload: Buffer.alloc(65_536) } }), /65535/);
  assert.throws(() => encodePdu({ command: 'enquire_link', sequence: -1 }), /sequence/);
});

test('command_status names, descriptions and which ones are worth a retry', () => {
  assert.equal(CommandStatus.ESME_RINVPASWD, 0x0e);
  assert.equal(statusName(0x58), 'ESME_RTHROTTLED');
  assert.equal(statusName(0x401), '0x00000401');
  assert.equal(describeStatus(0x0e), 'invalid password (ESME_RINVPASWD, 0x0000000e)');
  assert.deepEqual([0x08, 0x14, 0x58, 0x64, 0x00, 0x0b, 0x45, 0xff].map(isTemporaryStatus), [true, true, true, true, false, false, false, false]);
});
