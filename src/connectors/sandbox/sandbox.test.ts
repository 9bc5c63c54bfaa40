import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { segment } from '../../sms/encoding.ts';
import { connectorConformance } from '../conformance.ts';
import { ConnectorError, type OutboundMessage, type Receipt } from '../types.ts';
import { parseSandboxOutcomes, SANDBOX_OUTCOMES_PATTERN, SandboxConnector } from './sandbox.ts';

describe('sandbox connector conformance', () => {
  connectorConformance('sandbox', {
    make: () => new SandboxConnector({ id: 'sandbox', sendLatencyMs: 0, receiptDelayMs: 1 }),
    deliverableNumber: '+79161234567',
    refusedNumber: '+79161230002',
  });
});

function message(to: string, attempt = 1, id = 'msg_01TESTTESTTESTTESTTESTTEST'): OutboundMessage {
  const s = segment('hello');
  return { id, accountId: 'acc_X', attempt, to, from: null, text: 'hello', encoding: s.encoding, parts: s.parts, trafficType: 'service', validUntil: Date.now() + 60_000 };
}

describe('sandbox connector', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sandbox-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('0001 is throttled (retryable) on the first attempt and accepted on the next', async () => {
    const c = new SandboxConnector({ id: 's', sendLatencyMs: 0, receiptDelayMs: 1000 });
    await c.start({ receipt: async () => {}, inbound: async () => {} });
    await assert.rejects(c.send(message('+79161230001', 1)), (err: unknown) => err instanceof ConnectorError && err.retryable && err.reason === 'operator_throttled' && err.providerCode === '0x00000058');
    assert.equal((await c.send(message('+79161230001', 2))).providerIds.length, 1);
    await c.stop();
  });

  test('part_throttled_once defers part 2 of a long text on the first attempt; the retry sends it alone and keeps the ids given', async () => {
    const receipts: Receipt[] = [];
    const c = new SandboxConnector({ id: 's', sendLatencyMs: 0, receiptDelayMs: 0, outcomes: '9=part_throttled_once' });
    await c.start({ receipt: async (r) => void receipts.push(r), inbound: async () => {} });
    const s = segment('Three parts. '.repeat(30));
    const long = (attempt: number, resume?: OutboundMessage['resume']): OutboundMessage => ({ ...message('+79161234569', attempt), text: 'Three parts. '.repeat(30), parts: s.parts, resume });
    const first = await c.send(long(1));
    assert.equal(first.providerIds[1], '');
    assert.deepEqual(first.deferred?.map((d) => [d.part, d.reason.code, d.reason.providerCode]), [[2, 'operator_throttled', '0x00000058']]);
    // Receipts of parts 1 and 3 are acknowledged before the retry, as they are in the gateway.
    await new Promise<void>((resolve) => {
      const check = setInterval(() => receipts.length >= 2 && (clearInterval(check), resolve()), 5);
    });
    const taken = new Map([
      [1, first.providerIds[0]!],
      [3, first.providerIds[2]!],
    ]);
    const retry = await c.send(long(2, { taken }));
    assert.equal(retry.deferred, undefined);
    assert.deepEqual([retry.providerIds[0], retry.providerIds[2]], [first.providerIds[0], first.providerIds[2]]);
    assert.ok(retry.providerIds[1] && !first.providerIds.includes(retry.providerIds[1]));
    await new Promise<void>((resolve) => {
      const check = setInterval(() => receipts.length >= 3 && (clearInterval(check), resolve()), 5);
    });
    await c.stop();
    assert.deepEqual(receipts.map((r) => r.providerMessageId).sort(), [...retry.providerIds].sort(), 'one receipt per part, none twice');
    // A one-part text with that outcome is throttled whole, as throttled_once.
    await assert.rejects(c.send(message('+79161234569', 1, 'msg_01TESTTESTTESTTESTTESTTES9')), (err: unknown) => err instanceof ConnectorError && err.retryable && err.reason === 'operator_throttled');
  });

  test('outcomes are configurable by number ending: the longest ending wins, a table replaces the default one', async () => {
    const receipts: Receipt[] = [];
    const c = new SandboxConnector({ id: 's', sendLatencyMs: 0, receiptDelayMs: 0, outcomes: '9=undelivered, 99=delivered,1234=rejected,5=expired' });
    await c.start({ receipt: async (r) => void receipts.push(r), inbound: async () => {} });
    await assert.rejects(c.send(message('+79161231234')), (err: unknown) => err instanceof ConnectorError && !err.retryable && err.reason === 'invalid_destination');
    const sent = new Map<string, string>();
    for (const [i, to] of ['+79161234569', '+79161234599', '+79161234565', '+79161230000'].entries()) sent.set((await c.send(message(to, 1, `msg_01TESTTESTTESTTESTTESTTES${i}`))).providerIds[0]!, to);
    await new Promise<void>((resolve) => {
      const check = setInterval(() => receipts.length >= 4 && (clearInterval(check), resolve()), 5);
    });
    await c.stop();
    const byNumber = Object.fromEntries(receipts.map((r) => [sent.get(r.providerMessageId), r.status]));
    // 0000 is delivered: the default table does not apply once one is given.
    assert.deepEqual(byNumber, { '+79161234569': 'undelivered', '+79161234599': 'delivered', '+79161234565': 'expired', '+79161230000': 'delivered' });
  });

  test('an outcome table is DIGITS=OUTCOME pairs; the schema pattern and the parser agree', () => {
    const pattern = new RegExp(SANDBOX_OUTCOMES_PATTERN);
    for (const good of ['', '0000=undelivered', ' 1 = throttled_once , 22=rejected', '0003=expired,4=delivered', '5=part_throttled_once']) {
      assert.ok(pattern.test(good), good);
      assert.doesNotThrow(() => parseSandboxOutcomes(good));
    }
    for (const bad of ['0000', '0000=lost', 'abc=delivered', '0000=delivered,', '=delivered']) {
      assert.ok(!pattern.test(bad), bad);
      assert.throws(() => parseSandboxOutcomes(bad), RangeError, bad);
    }
    assert.deepEqual(parseSandboxOutcomes('9=rejected,0009=expired').map((r) => r.suffix), ['0009', '9']);
  });

  test('receipts map the operator words to our statuses and reasons', () => {
    const c = new SandboxConnector({ id: 's' });
    assert.deepEqual(
      { ...c.parseReceipt('id:ab12 stat:UNDELIV err:001'), at: 0 },
      { connectorId: 's', providerMessageId: 'ab12', status: 'undelivered', reason: { code: 'subscriber_unknown', providerCode: 'stat:UNDELIV err:001' }, at: 0 },
    );
    assert.equal(c.parseReceipt('id:ab12 stat:EXPIRED err:000')?.status, 'expired');
    assert.equal(c.parseReceipt('id:ab12 stat:DELIVRD err:000')?.status, 'delivered');
    assert.equal(c.parseReceipt('id:ab12 stat:WHATEVER err:000'), null);
  });

  test('with a journal, a resubmit is not sent twice and an unacknowledged receipt comes again after a restart', async () => {
    const journal = path.join(dir, 'journal.jsonl');
    let firstAttempt: () => void;
    const attempted = new Promise<void>((r) => (firstAttempt = r));
    const first = new SandboxConnector({ id: 's', sendLatencyMs: 0, receiptDelayMs: 0, journalPath: journal });
    await first.start({
      inbound: async () => {},
      async receipt() {
        firstAttempt();
        throw new Error('database down'); // our side could not record it, so it is not acknowledged
      },
    });
    const sent = await first.send(message('+79161234567'));
    await attempted;
    await first.stop(); // the "crash"

    let gotReceipt: (r: Receipt) => void;
    const redelivered = new Promise<Receipt>((r) => (gotReceipt = r));
    const second = new SandboxConnector({ id: 's', sendLatencyMs: 0, receiptDelayMs: 0, journalPath: journal });
    await second.start({ receipt: async (r) => gotReceipt(r), inbound: async () => {} });
    const again = await second.send(message('+79161234567', 2));
    assert.deepEqual(again.providerIds, sent.providerIds, 'the resubmit got the first submit id back');
    const receipt = await redelivered;
    assert.equal(receipt.providerMessageId, sent.providerIds[0]);
    assert.equal(receipt.status, 'delivered');
    await second.stop();
    const lines = readFileSync(journal, 'utf8').trim().split('\n');
    assert.equal(lines.filter((l) => l.includes('"t":"s"')).length, 1, 'one send in the journal');
  });
});
