import assert from 'node:assert/strict';
import { test } from 'node:test';
import { segment } from '../sms/encoding.ts';
import { ConnectorError, type Connector, type OpenPart, type OpenPartsQuery, type OutboundMessage, type Receipt } from './types.ts';

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
 * What the pipeline's store answers a connector that polls for statuses: the
 * parts it sent that no receipt has settled yet, in (sent_at, message_id,
 * part_index) order.
 */
class OpenPartsOfSuite {
  readonly #open: OpenPart[] = [];

  sent(message: OutboundMessage, providerIds: string[], sentAt = Date.now()): void {
    providerIds.forEach((providerMessageId, partIndex) => this.#open.push({ messageId: message.id, partIndex, providerMessageId, recipient: message.to, sentAt }));
  }

  settled(r: Receipt): void {
    for (let i = this.#open.length - 1; i >= 0; i--) if (this.#open[i]!.providerMessageId === r.providerMessageId) this.#open.splice(i, 1);
  }

  async query(q: OpenPartsQuery): Promise<OpenPart[]> {
    const key = (p: { sentAt: number; messageId: string; partIndex: number }) => [p.sentAt, p.messageId, p.partIndex] as const;
    const after = (p: OpenPart) => {
      if (!q.after) return true;
      const [a, b] = [key(p), key(q.after)];
      return a[0] !== b[0] ? a[0] > b[0] : a[1] !== b[1] ? a[1] > b[1] : a[2] > b[2];
    };
    return this.#open.filter((p) => p.sentAt >= q.sentFrom && p.sentAt < q.sentBefore && after(p)).slice(0, q.limit);
  }
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
    // A connector that polls for statuses finds what it sent through openParts, as from the store.
    const open = new OpenPartsOfSuite();
    await c.start({
      inbound: async () => {},
      async receipt(r) {
        open.settled(r);
        receipts.push(r);
        if (receipts.length === expected) resolveAll();
      },
      openParts: (q) => open.query(q),
    });
    try {
      const message = outbound(options.deliverableNumber, options.text ?? 'Проверка связи. '.repeat(10));
      assert.equal(message.parts.length, 3);
      const result = await c.send(message);
      open.sent(message, result.providerIds);
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
