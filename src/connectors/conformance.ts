import assert from 'node:assert/strict';
import { test } from 'node:test';
import { segment } from '../sms/encoding.ts';
import { ConnectorError, type Connector, type OutboundMessage, type Receipt } from './types.ts';

export interface ConformanceOptions {
  /** a fresh, not yet started connector */
  make(): Connector;
  /** a number the connector (or its fake provider) accepts and delivers */
  deliverableNumber: string;
  /** how to make the provider answer with a permanent refusal, if it can */
  refusedNumber?: string;
  /** a text the provider takes, when it takes only some (Telegram Gateway: a code); it must need three SMS parts */
  text?: string;
}

function outbound(to: string, text: string, attempt = 1): OutboundMessage {
  const s = segment(text);
  return { id: `msg_CONFORMANCE${Math.random().toString(36).slice(2, 14).toUpperCase()}`, accountId: 'acc_TEST', attempt, to, from: null, text, encoding: s.encoding, parts: s.parts, trafficType: 'service', validUntil: Date.now() + 60_000 };
}

/**
 * The shared suite every connector passes: a manifest the cabinet can build a
 * form from, one provider id per part, typed errors, receipts that reach the
 * pipeline and map to our statuses, and junk reports ignored.
 */
export function connectorConformance(name: string, options: ConformanceOptions): void {
  test(`${name}: manifest describes the type, channels and fields`, () => {
    const c = options.make();
    assert.match(c.manifest.type, /^[a-z][a-z0-9_-]*$/);
    assert.ok(c.manifest.name.length > 0);
    assert.ok(c.manifest.channels.length > 0);
    for (const f of c.manifest.fields) {
      assert.match(f.name, /^[a-z][a-z0-9_]*$/);
      assert.ok(f.label && f.description, `${f.name} needs a label and a description`);
      if (f.type === 'enum') assert.ok(f.options && f.options.length > 0, `${f.name} needs options`);
    }
  });

  test(`${name}: a multipart send returns one provider id per part, and every part gets a receipt`, async () => {
    const c = options.make();
    const receipts: Receipt[] = [];
    let resolveAll: () => void;
    const all = new Promise<void>((r) => (resolveAll = r));
    // A connector that hands over the whole text gets one id (repeated per part) and one receipt.
    const expected = c.manifest.wholeMessage ? 1 : 3;
    await c.start({
      inbound: async () => {},
      async receipt(r) {
        receipts.push(r);
        if (receipts.length === expected) resolveAll();
      },
    });
    try {
      const message = outbound(options.deliverableNumber, options.text ?? 'Проверка связи. '.repeat(10));
      assert.equal(message.parts.length, 3);
      const result = await c.send(message);
      assert.equal(result.providerIds.length, 3);
      assert.equal(new Set(result.providerIds).size, expected);
      await all;
      assert.deepEqual(new Set(receipts.map((r) => r.providerMessageId)), new Set(result.providerIds));
      for (const r of receipts) {
        assert.equal(r.connectorId, c.id);
        assert.equal(r.status, 'delivered');
      }
    } finally {
      await c.stop();
    }
  });

  if (options.refusedNumber) {
    const refused = options.refusedNumber;
    test(`${name}: a refusal is a typed ConnectorError that says whether a retry can help`, async () => {
      const c = options.make();
      await c.start({ receipt: async () => {}, inbound: async () => {} });
      try {
        await assert.rejects(c.send(outbound(refused, options.text ?? 'x')), (err: unknown) => err instanceof ConnectorError && err.retryable === false && typeof err.reason === 'string');
      } finally {
        await c.stop();
      }
    });
  }

  test(`${name}: reports that are not its own are ignored`, () => {
    const c = options.make();
    for (const junk of [null, undefined, 42, '', 'garbage', {}, []]) assert.equal(c.parseReceipt(junk), null);
  });
}
