/**
 * Random and mutated PDUs through the stream decoder: whatever a peer sends,
 * the decoder must not throw, hang, or hold more than one PDU under its cap,
 * and whatever it accepts must encode again to the same PDU. The PRNG is
 * seeded; a failure prints the seed, and FUZZ_SEED=<seed> replays it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PduReader } from './framing.ts';
import { CommandId, decodePdu, encodePdu } from './pdu.ts';
import type { AnyPduInit, DecodeResult, PduCommand, Tlvs } from './pdu.ts';

const CASES = 100_000;

/** mulberry32: small, fast, and the same sequence for the same seed everywhere */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  int(max: number): number {
    return Math.floor(this.next() * (max + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length - 1)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(255);
    return b;
  }
  str(max: number): string {
    let s = '';
    const n = this.int(max);
    for (let i = 0; i < n; i++) s += String.fromCharCode(1 + this.int(254));
    return s;
  }
}

const COMMANDS = Object.keys(CommandId) as PduCommand[];

/** A valid PDU of a random command with random field values (unknown fields of a command are ignored by the encoder). */
function randomPdu(g: Gen): AnyPduInit {
  const command = g.pick(COMMANDS);
  const u8 = () => g.int(255);
  const tlvs: Tlvs = {};
  if (g.chance(0.3)) tlvs.sarMsgRefNum = g.int(0xffff);
  if (g.chance(0.3)) tlvs.sarTotalSegments = u8();
  if (g.chance(0.2)) tlvs.receiptedMessageId = g.str(30);
  if (g.chance(0.2)) tlvs.messageState = u8();
  if (g.chance(0.1)) tlvs.networkErrorCode = g.bytes(3);
  if (g.chance(0.1)) tlvs.messagePayload = g.bytes(g.chance(0.1) ? g.int(5000) : g.int(300));
  if (g.chance(0.2)) tlvs.other = [{ tag: 0x1400 + g.int(0xff), value: g.bytes(g.int(10)) }];
  const dest = () => ({ destAddrTon: u8(), destAddrNpi: u8(), destinationAddr: g.str(21) });
  return {
    command,
    sequence: g.int(0xffffffff),
    status: g.chance(0.8) ? 0 : g.int(0xff),
    systemId: g.str(16), password: g.str(9), systemType: g.str(13), interfaceVersion: u8(), addrTon: u8(), addrNpi: u8(), addressRange: g.str(41),
    serviceType: g.str(6), sourceAddrTon: u8(), sourceAddrNpi: u8(), sourceAddr: g.str(21), ...dest(),
    esmClass: u8(), protocolId: u8(), priorityFlag: u8(), scheduleDeliveryTime: g.str(17), validityPeriod: g.str(17),
    registeredDelivery: u8(), replaceIfPresentFlag: u8(), dataCoding: u8(), smDefaultMsgId: u8(), shortMessage: g.bytes(g.int(255)),
    messageId: g.str(65), finalDate: g.str(17), messageState: u8(), errorCode: u8(), esmeAddrTon: u8(), esmeAddrNpi: u8(), esmeAddr: g.str(65),
    destAddresses: Array.from({ length: g.int(4) }, () => (g.chance(0.5) ? dest() : { dlName: g.str(21) })),
    unsuccessSmes: Array.from({ length: g.int(4) }, () => ({ ...dest(), errorStatusCode: g.int(0xffffffff) })),
    tlvs,
  } as AnyPduInit;
}

/** A valid encoding, damaged in one of the ways a broken or hostile peer would. */
function mutate(g: Gen, bytes: Buffer, other: Buffer): Buffer {
  const b = Buffer.from(bytes);
  switch (g.int(8)) {
    case 0: // bit flips
      for (let i = g.int(4); i >= 0; i--) b[g.int(b.length - 1)]! ^= 1 << g.int(7);
      return b;
    case 1: // truncation, with command_length kept or fixed up
      return fixLength(g, b.subarray(0, g.int(b.length)));
    case 2: // command_length anything
      b.writeUInt32BE(g.pick([0, 1, 15, 16, 17, b.length - 1, b.length + 1, 0xffffffff, g.int(0xffffffff), g.int(200)]), 0);
      return b;
    case 3: // splice of two PDUs
      return fixLength(g, Buffer.concat([b.subarray(0, g.int(b.length)), other.subarray(g.int(other.length))]));
    case 4: // random octets appended (TLV stream damage)
      return fixLength(g, Buffer.concat([b, g.bytes(g.int(12))]));
    case 5: // a random body byte set to NUL or 0xFF (C-strings, counts, sm_length)
      if (b.length > 16) b[16 + g.int(b.length - 17)] = g.chance(0.5) ? 0 : 0xff;
      return b;
    case 6: // any command_id
      b.writeUInt32BE(g.chance(0.5) ? g.pick(Object.values(CommandId)) : g.int(0xffffffff), 4);
      return b;
    case 7: // pure noise
      return g.bytes(g.int(64));
    default:
      return b;
  }
}

function fixLength(g: Gen, b: Buffer): Buffer {
  if (b.length >= 4 && g.chance(0.7)) b.writeUInt32BE(b.length, 0);
  return b;
}

function checkResult(result: DecodeResult): void {
  if (!result.ok) {
    const { status, sequence, commandId, fatal } = result.error;
    assert.ok(Number.isInteger(status) && Number.isInteger(sequence) && Number.isInteger(commandId) && typeof fatal === 'boolean');
    // the decoder's catch-all turns its own bugs into errors; none may show up
    assert.ok(!result.error.reason.includes('decoder failure'), result.error.reason);
    return;
  }
  // whatever was accepted must encode again and read back the same
  const again = decodePdu(encodePdu(result.pdu));
  assert.ok(again.ok, 're-encoded PDU does not decode');
  assert.deepEqual(again.pdu, result.pdu);
}

test(`${CASES} random and mutated PDUs: no throw, no hang, bounded buffering, lossless round trips`, { timeout: 60_000 }, (t) => {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 32);
  const g = new Gen(seed);
  const started = performance.now();
  let decoded = 0;
  let errors = 0;
  try {
    let previous = encodePdu(randomPdu(g));
    let reader = new PduReader({ maxPduBytes: g.pick([256, 4096, 68 * 1024]) });
    for (let i = 0; i < CASES; i++) {
      const valid = encodePdu(randomPdu(g));
      if (g.chance(0.1)) {
        // untouched: bytes → PDU → the very same bytes
        const result = decodePdu(valid);
        assert.ok(result.ok, result.ok ? '' : result.error.reason);
        assert.ok(encodePdu(result.pdu).equals(valid), `not byte-identical: ${result.pdu.command}`);
      }
      const input = g.chance(0.1) ? valid : mutate(g, valid, previous);
      previous = valid;
      for (let off = 0; off < input.length; ) {
        const size = g.chance(0.5) ? input.length : 1 + g.int(g.chance(0.5) ? 8 : 200);
        for (const result of reader.push(input.subarray(off, off + size))) {
          checkResult(result);
          if (result.ok) decoded++;
          else errors++;
        }
        off += size;
        assert.ok(reader.bufferedBytes < reader.maxPduBytes, `buffered ${reader.bufferedBytes} ≥ cap ${reader.maxPduBytes}`);
      }
      // A lost stream (or, now and then, a new connection) starts a fresh reader.
      if (reader.failed || g.chance(0.05)) reader = new PduReader({ maxPduBytes: g.pick([256, 4096, 68 * 1024]) });
    }
  } catch (err) {
    throw new Error(`fuzz failed, replay with FUZZ_SEED=${seed}: ${(err as Error).message}`, { cause: err });
  }
  const ms = Math.round(performance.now() - started);
  t.diagnostic(`seed ${seed}, ${CASES} cases in ${ms} ms, ${decoded} PDUs decoded, ${errors} errors`);
  assert.ok(decoded > CASES / 20 && errors > CASES / 20, 'the mutations should produce both good and bad PDUs');
});
