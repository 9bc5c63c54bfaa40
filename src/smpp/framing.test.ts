import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_MAX_PDU_BYTES, PduReader } from './framing.ts';
import { CommandStatus, encodePdu } from './pdu.ts';
import type { DecodeResult } from './pdu.ts';

const stream = Buffer.concat([
  encodePdu({ command: 'bind_transceiver', sequence: 1, systemId: 'acme', password: 'pw' }),
  encodePdu({ command: 'submit_sm', sequence: 2, destinationAddr: '79001234567', shortMessage: Buffer.from('hello') }),
  encodePdu({ command: 'data_sm', sequence: 3, tlvs: { messagePayload: Buffer.alloc(60_000, 0x61) } }),
  encodePdu({ command: 'enquire_link', sequence: 4 }),
]);

function sequences(results: DecodeResult[]): number[] {
  return results.map((r) => (r.ok ? r.pdu.sequence : -1));
}

test('PDUs come out whole however the stream is cut', () => {
  for (const size of [1, 3, 16, 17, 1000, stream.length]) {
    const reader = new PduReader();
    const results: DecodeResult[] = [];
    for (let off = 0; off < stream.length; off += size) results.push(...reader.push(stream.subarray(off, off + size)));
    assert.deepEqual(sequences(results), [1, 2, 3, 4], `chunks of ${size}`);
    assert.equal(reader.bufferedBytes, 0);
  }
});

test('a partial PDU is held until the rest arrives, and no more than that is held', () => {
  const reader = new PduReader();
  const big = stream.subarray(0, stream.length - 16 - 1000); // ends 1000 octets short of the data_sm
  assert.deepEqual(sequences(reader.push(big)), [1, 2]);
  assert.ok(reader.bufferedBytes > 59_000 && reader.bufferedBytes < DEFAULT_MAX_PDU_BYTES);
  assert.deepEqual(sequences(reader.push(stream.subarray(big.length))), [3, 4]);
});

test('command_length below 16 is fatal: generic_nack ESME_RINVCMDLEN, and nothing more is read', () => {
  const reader = new PduReader();
  const bad = Buffer.from('0000000c' + '00000015' + '00000000' + '00000009', 'hex');
  const results = reader.push(Buffer.concat([bad, stream]));
  assert.equal(results.length, 1);
  assert.ok(!results[0]!.ok);
  assert.deepEqual({ ...results[0]!.error, reason: '' }, { fatal: true, status: CommandStatus.ESME_RINVCMDLEN, sequence: 9, commandId: 0x15, reason: '' });
  assert.ok(reader.failed);
  assert.deepEqual(reader.push(stream), []);
  assert.equal(reader.bufferedBytes, 0);
});

test('command_length above the cap fails as soon as its 4 octets arrive, before any body is buffered', () => {
  const reader = new PduReader({ maxPduBytes: 1024 });
  assert.deepEqual(reader.push(Buffer.from([0x00, 0x00])), []);
  const results = reader.push(Buffer.from([0x04, 0x01]));
  assert.equal(results.length, 1);
  assert.ok(!results[0]!.ok && results[0]!.error.fatal);
  assert.equal(reader.bufferedBytes, 0);
});

test('a PDU that does not parse is skipped alone; the stream goes on', () => {
  const reader = new PduReader();
  const unknown = encodePdu({ command: 'enquire_link', sequence: 7 });
  unknown.writeUInt32BE(0x00000099, 4);
  const results = reader.push(Buffer.concat([unknown, stream]));
  assert.deepEqual(sequences(results), [-1, 1, 2, 3, 4]);
  assert.ok(!results[0]!.ok);
  assert.deepEqual([results[0]!.error.status, results[0]!.error.sequence, results[0]!.error.fatal], [CommandStatus.ESME_RINVCMDID, 7, false]);
});
