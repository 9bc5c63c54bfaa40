import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CommandStatus } from '../src/smpp/pdu.ts';
import { SmscSimulator } from '../src/smpp/simulator.ts';
import { apiCaller, dialects, startTestGateway, until, waitForStatus, type TestGateway } from './helpers.ts';

/**
 * A long SMS one part of which is refused for now (throttled) while the
 * others are taken: the retry sends that part alone, with its part number and
 * the same concatenation reference, so the handset gets every part once and
 * joins them; the parts taken keep their ids, so their receipts match.
 */
for (const dialect of await dialects()) {
  describe(`multipart retries on ${dialect.name}`, { skip: dialect.skip }, () => {
    let sim: SmscSimulator;
    let t: TestGateway;
    let call: ReturnType<typeof apiCaller>;
    /** every submit_sm to a number, accepted or not: [part, status answered] */
    const wire = new Map<string, [number, string][]>();
    const throttledOnce = new Set<string>();
    const FINAL = ['delivered', 'undelivered', 'failed', 'rejected', 'expired'];
    type Part = { index: number; status: string; provider_message_id: string | null };

    before(async () => {
      sim = new SmscSimulator({
        receiptDelayMs: 20,
        // …90: part 2 of a long text is throttled the first time it comes; …91: too, and then refused for good.
        refuse: (to, part) => {
          const seq = part?.seq ?? 1;
          const special = (to === '79161234590' || to === '79161234591') && seq === 2;
          const throttle = special && !throttledOnce.has(to);
          if (throttle) throttledOnce.add(to);
          const refuse = special && !throttle && to === '79161234591';
          wire.set(to, [...(wire.get(to) ?? []), [seq, throttle ? 'throttled' : refuse ? 'refused' : 'ok']]);
          return throttle ? CommandStatus.ESME_RTHROTTLED : refuse ? CommandStatus.ESME_RSUBMITFAIL : undefined;
        },
      });
      const port = await sim.start();
      t = await startTestGateway(dialect.name, {}, {
        configFile: {
          connectors: [
            { id: 'operator', type: 'smpp', host: '127.0.0.1', port, system_id: 'depesha', password: 'secret1', window: 20, reconnect_min_ms: 20, reconnect_max_ms: 200 },
            { id: 'sandbox', type: 'sandbox', send_latency_ms: 0, receipt_delay_ms: 20, outcomes: '5559=part_throttled_once' },
          ],
          routes: [{ prefixes: ['7916555'], connector: 'sandbox' }, { connector: 'operator' }],
        },
      });
      call = apiCaller(t);
      await until('operator bound', async () => ((await call('GET', '/v1/connectors')).body.data as { id: string; status: string }[]).find((c) => c.id === 'operator' && c.status === 'up'), 10_000);
    });
    after(async () => {
      await t?.close();
      await sim?.stop();
    });

    /** A priced account with 10.00 on it, sending at 1.50 a part. */
    async function pricedAccount() {
      const a = await t.makeAccount(`Priced ${Math.random()}`);
      assert.equal((await call('POST', '/v1/balance/entries', { account_id: a.accountId, kind: 'top_up', amount: '10.00' })).status, 201);
      assert.equal((await call('PUT', '/v1/prices', { account_id: a.accountId, channel: 'sms', price: '1.50' })).status, 200);
      return a;
    }

    async function ledger(id: string, key: string) {
      return ((await call('GET', '/v1/balance/entries', undefined, key)).body.data as { kind: string; amount: string; message_id: string | null }[])
        .reverse()
        .filter((e) => e.message_id === id)
        .map((e) => [e.kind, e.amount]);
    }

    /** Waits for the message to end, then for the receipts of all its parts, and returns it. */
    async function finished(id: string, key: string) {
      assert.equal(await waitForStatus(t.gateway, id, FINAL), 'delivered');
      return until('every part delivered', async () => {
        const m = (await call('GET', `/v1/messages/${id}`, undefined, key)).body;
        return (m.parts as Part[]).every((p) => p.status === 'delivered') ? m : undefined;
      }, 10_000);
    }

    test('SMPP: part 2 of 3 throttled once is sent again alone, same reference and part number; delivered, charged for 3 parts once', async () => {
      const a = await pricedAccount();
      const sent = await call('POST', '/v1/messages', { to: '+79161234590', text: 'Three parts. '.repeat(30) }, a.apiKey);
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      assert.equal(sent.body.parts_count, 3);
      const id = sent.body.id as string;
      const message = await finished(id, a.apiKey);

      // On the wire: parts 1..3 once each, and part 2 once more after its throttle; nothing else.
      const submits = wire.get('79161234590')!;
      assert.equal(submits.length, 4, JSON.stringify(submits));
      assert.deepEqual(submits.slice(0, 3).map(([seq, answer]) => [seq, answer]).sort(), [[1, 'ok'], [2, 'throttled'], [3, 'ok']]);
      assert.deepEqual(submits[3], [2, 'ok']);
      // Accepted: one of each part, all under one reference and the same total, as the handset joins them.
      const accepted = sim.submits.filter((s) => s.destinationAddr === '79161234590');
      assert.deepEqual(accepted.map((s) => s.concat?.seq).sort(), [1, 2, 3]);
      assert.equal(new Set(accepted.map((s) => s.concat?.ref)).size, 1, JSON.stringify(accepted.map((s) => s.concat)));
      assert.ok(accepted.every((s) => s.concat?.total === 3));
      // Each part's id is the one the SMSC gave its accepted submit (hex here), and each got its receipt.
      const ids = (message.parts as Part[]).map((p) => p.provider_message_id);
      assert.deepEqual(ids, [1, 2, 3].map((seq) => accepted.find((s) => s.concat?.seq === seq)!.messageId));
      assert.equal(sim.receipts.filter((r) => r.submit.destinationAddr === '79161234590').length, 3);

      const events = message.events as { status: string; reason: string | null; provider_code: string | null }[];
      assert.deepEqual(events.map((e) => [e.status, e.reason]), [
        ['accepted', null],
        ['queued', null],
        ['queued', 'operator_throttled'],
        ['sent', null],
        ['delivered', null],
      ]);
      assert.equal(events[2]!.provider_code, '0x00000058');
      assert.deepEqual(await ledger(id, a.apiKey), [
        ['reserve', '-4.50'],
        ['charge', '-4.50'],
      ]);
    });

    test('SMPP: part 2 of 3 throttled, then refused for good on its retry: sent and rejected, parts 1 and 3 charged, part 2 refunded', async () => {
      const a = await pricedAccount();
      const sent = await call('POST', '/v1/messages', { to: '+79161234591', text: 'Three parts. '.repeat(30) }, a.apiKey);
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      const id = sent.body.id as string;
      assert.equal(await waitForStatus(t.gateway, id, FINAL), 'rejected');
      const message = await until('the receipts of the parts taken', async () => {
        const m = (await call('GET', `/v1/messages/${id}`, undefined, a.apiKey)).body;
        return (m.parts as Part[]).filter((p) => p.status === 'delivered').length === 2 ? m : undefined;
      }, 10_000);
      const submits = wire.get('79161234591')!;
      assert.equal(submits.length, 4, JSON.stringify(submits));
      assert.deepEqual(submits[3], [2, 'refused']);
      assert.deepEqual((message.parts as Part[]).map((p) => [p.index, p.status, p.provider_message_id === null]), [
        [1, 'delivered', false],
        [2, 'rejected', true],
        [3, 'delivered', false],
      ]);
      assert.equal(message.reason.code, 'operator_rejected');
      assert.equal(message.reason.provider_code, '0x00000045');
      assert.deepEqual((message.events as { status: string }[]).map((e) => e.status), ['accepted', 'queued', 'queued', 'sent', 'rejected']);
      assert.deepEqual(await ledger(id, a.apiKey), [
        ['reserve', '-4.50'],
        ['charge', '-3.00'],
        ['refund', '1.50'],
      ]);
    });

    test('sandbox: part 2 of 3 throttled once is submitted again alone; every part submitted once, delivered, charged for 3 parts', async () => {
      const a = await pricedAccount();
      const sent = await call('POST', '/v1/messages', { to: '+79165555559', text: 'Three parts. '.repeat(30) }, a.apiKey);
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      const id = sent.body.id as string;
      const message = await finished(id, a.apiKey);
      assert.equal(message.connector_id ?? 'sandbox', 'sandbox');

      // The sandbox operator's journal holds each submit it took: one per part, none twice.
      const journal = readFileSync(path.join(t.config.dataDir, 'sandbox-journal.jsonl'), 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { t: string; key?: string; providerId: string })
        .filter((e) => e.t === 's' && e.key?.startsWith(`${id}:`));
      assert.deepEqual(journal.map((e) => e.key).sort(), [`${id}:1`, `${id}:2`, `${id}:3`]);
      assert.deepEqual((message.parts as Part[]).map((p) => p.provider_message_id), [1, 2, 3].map((n) => journal.find((e) => e.key === `${id}:${n}`)!.providerId));
      assert.deepEqual((message.events as { status: string; reason: string | null }[]).map((e) => [e.status, e.reason]), [
        ['accepted', null],
        ['queued', null],
        ['queued', 'operator_throttled'],
        ['sent', null],
        ['delivered', null],
      ]);
      assert.deepEqual(await ledger(id, a.apiKey), [
        ['reserve', '-4.50'],
        ['charge', '-4.50'],
      ]);
    });
  });
}
