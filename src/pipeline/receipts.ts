import { isReasonCode, type FailureReason } from '../domain/reasons.ts';
import type { MessageStatus } from '../domain/statuses.ts';
import type { EventBus, StatusChange } from '../events/bus.ts';
import type { EventOutbox } from '../events/webhooks/outbox.ts';
import type { Logger } from '../log.ts';
import type { Receipt } from '../connectors/types.ts';
import type { WriteBatcher } from '../store/write-batcher.ts';
import { inLists, insertChunks } from '../store/shapes.ts';
import { newId } from '../domain/ids.ts';
import { failedByPartRecord, failedPart, finishMany, insertEvents, markRead, markSent, type EventInput, type SentRecord } from './transitions.ts';
import { takenParts } from '../store/open-parts.ts';
import type { Kysely } from 'kysely';
import type { DB } from '../store/schema.ts';

/** Part statuses that count as delivered (a read part was delivered). */
const REACHED: ReadonlySet<string> = new Set(['delivered', 'read']);

interface Pending {
  receipt: Receipt;
  resolve: () => void;
  reject: (err: Error) => void;
  /** when this receipt first failed to match a part */
  unmatchedSince?: number;
  /** its row in unmatched_receipts, once kept there (and acknowledged) */
  keptAs?: string;
}

const RECEIPT_STATUS: Record<Receipt['status'], MessageStatus> = {
  delivered: 'delivered',
  read: 'read',
  undelivered: 'undelivered',
  expired: 'expired',
  rejected: 'rejected',
};

export interface ReceiptProcessorOptions {
  /** how long a receipt that matches no part is retried (its submit may not be recorded yet), default 30 s */
  unmatchedGraceMs?: number;
  /** how long it is retried before it is kept as unmatched and acknowledged, default 2 s */
  unmatchedHoldMs?: number;
  /** where status events become webhook deliveries, in the same transaction */
  outbox?: EventOutbox | undefined;
}

/**
 * Applies delivery receipts in batches: updates the part, then the message by
 * the multipart policy (delivered when every part is delivered; failed as
 * soon as one part fails), and resolves each receipt once it is committed.
 */
export class ReceiptProcessor {
  readonly #batcher: WriteBatcher;
  readonly #bus: EventBus;
  readonly #log: Logger;
  readonly #graceMs: number;
  readonly #holdMs: number;
  readonly #outbox: EventOutbox | undefined;
  #pending: Pending[] = [];
  #retryLater: Pending[] = [];
  #flushScheduled = false;
  #running: Promise<void> | null = null;
  #retryTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(batcher: WriteBatcher, bus: EventBus, log: Logger, options: ReceiptProcessorOptions = {}) {
    this.#batcher = batcher;
    this.#bus = bus;
    this.#log = log;
    this.#graceMs = options.unmatchedGraceMs ?? 30_000;
    this.#holdMs = Math.min(this.#graceMs, options.unmatchedHoldMs ?? 2_000);
    this.#outbox = options.outbox;
  }

  /** Resolves when the receipt is durably applied, or durably kept as unmatched. */
  submit(receipt: Receipt): Promise<void> {
    if (this.#stopped) return Promise.reject(new Error('receipt processor stopped'));
    return new Promise((resolve, reject) => {
      this.#pending.push({ receipt, resolve, reject });
      this.#schedule();
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    while (this.#running) await this.#running;
    for (const p of [...this.#pending, ...this.#retryLater]) p.reject(new Error('receipt processor stopped'));
    this.#pending = [];
    this.#retryLater = [];
  }

  #schedule(): void {
    if (this.#flushScheduled || this.#running) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#running = this.#flush().finally(() => {
        this.#running = null;
        if (this.#pending.length > 0) this.#schedule();
      });
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#pending.splice(0, 2000);
    if (batch.length === 0) return;
    try {
      const { events, unmatched } = await this.#apply(batch);
      this.#bus.publishStatus(events);
      const now = Date.now();
      for (const p of batch) if (!unmatched.has(p)) p.resolve();
      // An unmatched receipt usually means its send is not committed yet: it is retried unacknowledged
      // for a short hold, then kept in unmatched_receipts and acknowledged, so the provider's window does
      // not wait on it; matching is still tried until the grace period ends.
      const keep: Pending[] = [];
      for (const p of unmatched) {
        p.unmatchedSince ??= now;
        const waited = now - p.unmatchedSince;
        if (p.keptAs === undefined && waited >= this.#holdMs) keep.push(p);
        if (waited < this.#graceMs) this.#retryLater.push(p);
        else this.#log.warn({ connector: p.receipt.connectorId, providerMessageId: p.receipt.providerMessageId, status: p.receipt.status }, 'receipt matches no sent part; kept in unmatched_receipts');
      }
      if (keep.length > 0) await this.#keepUnmatched(keep, now);
      if (this.#retryLater.length > 0 && !this.#retryTimer) {
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.#pending.push(...this.#retryLater.splice(0));
          this.#schedule();
        }, 250);
      }
    } catch (err) {
      this.#log.error({ err, count: batch.length }, 'applying receipts failed; the connectors will deliver them again');
      for (const p of batch) p.reject(err as Error);
    }
  }

  /** Stores receipts that matched nothing where operators can see them, then acknowledges them. */
  async #keepUnmatched(receipts: Pending[], now: number): Promise<void> {
    await this.#batcher.run(async (tx) => {
      const rows = receipts.map((p) => ({
        id: (p.keptAs = newId('urc', now)),
        connector_id: p.receipt.connectorId,
        provider_message_id: p.receipt.providerMessageId,
        status: p.receipt.status,
        provider_code: p.receipt.reason?.providerCode ?? null,
        raw: p.receipt.raw ?? null,
        received_at: now,
      }));
      await insertChunks(tx, 'unmatched_receipts', rows);
    });
    for (const p of receipts) p.resolve();
  }

  async #apply(batch: Pending[]): Promise<{ events: StatusChange[]; unmatched: Set<Pending> }> {
    const now = Date.now();
    return this.#batcher.run(async (tx) => {
      const byConnector = new Map<string, Pending[]>();
      for (const p of batch) {
        const list = byConnector.get(p.receipt.connectorId) ?? [];
        list.push(p);
        byConnector.set(p.receipt.connectorId, list);
      }
      const unmatched = new Set<Pending>();
      const touched = new Map<string, string>(); // message id → account id
      for (const [connectorId, list] of byConnector) {
        const parts: { message_id: string; part_index: number; account_id: string; provider_message_id: string }[] = [];
        // '' is no provider's id: the parts a provider refused (message_parts with status rejected) are stored with it.
        for (const ids of inLists(list.map((p) => p.receipt.providerMessageId).filter((id) => id !== ''))) {
          parts.push(
            ...(await tx
              .selectFrom('message_parts')
              .select(['message_id', 'part_index', 'account_id', 'provider_message_id'])
              .where('connector_id', '=', connectorId)
              .where('provider_message_id', 'in', ids)
              .execute()),
          );
        }
        // Several parts share one provider id when a connector hands the provider the whole text (manifest.wholeMessage).
        const byProviderId = new Map<string, typeof parts>();
        for (const part of parts) byProviderId.set(part.provider_message_id, [...(byProviderId.get(part.provider_message_id) ?? []), part]);
        // Receipts that set the same values are applied in one statement.
        const groups = new Map<string, { receipt: Receipt; keys: { message_id: string; part_index: number }[] }>();
        for (const p of list) {
          const matched = byProviderId.get(p.receipt.providerMessageId);
          if (!matched) {
            unmatched.add(p);
            continue;
          }
          const r = p.receipt;
          const groupKey = JSON.stringify([r.status, r.reason?.code ?? null, r.reason?.providerCode ?? null, r.at]);
          const group = groups.get(groupKey) ?? { receipt: r, keys: [] };
          for (const part of matched) {
            group.keys.push({ message_id: part.message_id, part_index: part.part_index });
            touched.set(part.message_id, part.account_id);
          }
          groups.set(groupKey, group);
        }
        for (const { receipt: r, keys } of groups.values()) {
          for (const slice of inLists(keys, 256)) {
            await tx
              .updateTable('message_parts')
              .set({ status: RECEIPT_STATUS[r.status], reason_code: r.reason?.code ?? null, provider_code: r.reason?.providerCode ?? null, done_at: r.at })
              // A part with its final status keeps it: a duplicate receipt, or one after the wait for it ended (no_receipt).
              // Only `read` follows `delivered` (and may come first: providers post statuses out of order).
              .where('status', 'in', r.status === 'read' ? ['sent', 'delivered'] : ['sent'])
              .where((eb) => eb.or(slice.map((k) => eb.and([eb('message_id', '=', k.message_id), eb('part_index', '=', k.part_index)]))))
              .execute();
          }
        }
      }
      const out: EventInput[] = [];
      if (touched.size > 0) {
        const allParts: { message_id: string; status: string; reason_code: string | null; provider_code: string | null; parts_count: number }[] = [];
        for (const ids of inLists([...touched.keys()])) {
          allParts.push(
            ...(await tx
              .selectFrom('message_parts')
              .innerJoin('messages', 'messages.id', 'message_parts.message_id')
              .select(['message_parts.message_id', 'message_parts.status', 'message_parts.reason_code', 'message_parts.provider_code', 'messages.parts_count'])
              .where('message_parts.message_id', 'in', ids)
              .execute()),
          );
        }
        const byMessage = new Map<string, typeof allParts>();
        for (const p of allParts) {
          const list = byMessage.get(p.message_id) ?? [];
          list.push(p);
          byMessage.set(p.message_id, list);
        }
        const delivered: { id: string; accountId: string }[] = [];
        const read: { id: string; accountId: string }[] = [];
        const failures = new Map<string, { status: MessageStatus; reason: FailureReason | undefined; messages: { id: string; accountId: string }[] }>();
        for (const [messageId, parts] of byMessage) {
          const accountId = touched.get(messageId)!;
          const failed = parts.find((p) => p.status !== 'sent' && !REACHED.has(p.status));
          if (failed) {
            const reason = failed.reason_code && isReasonCode(failed.reason_code) ? { code: failed.reason_code, providerCode: failed.provider_code ?? undefined } : undefined;
            const key = JSON.stringify([failed.status, failed.reason_code, failed.provider_code]);
            const group = failures.get(key) ?? { status: failed.status as MessageStatus, reason, messages: [] as { id: string; accountId: string }[] };
            group.messages.push({ id: messageId, accountId });
            failures.set(key, group);
          } else if (parts.length >= (parts[0]?.parts_count ?? 1) && parts.every((p) => REACHED.has(p.status))) {
            (parts.some((p) => p.status === 'read') ? read : delivered).push({ id: messageId, accountId });
          }
        }
        // A read message is delivered first (if its delivery was not recorded yet), then read: two events, in that order.
        out.push(...(await finishMany(tx, [...delivered, ...read], ['sent'], 'delivered', undefined, now)));
        out.push(...(await markRead(tx, read, now)));
        const ended = new Set<string>();
        for (const g of failures.values()) {
          for (const e of await finishMany(tx, g.messages, ['sent'], g.status, g.reason, now)) {
            ended.add(e.messageId);
            out.push(e);
          }
        }
        // A long text waiting to send its other parts (SendResult.deferred) one of whose parts out failed: the rest is not sent.
        const waiting = [...failures.values()].flatMap((g) => g.messages).filter((m) => !ended.has(m.id));
        if (waiting.length > 0) out.push(...(await endWaitingByFailedPart(tx, waiting, now)));
      }
      // Receipts kept as unmatched earlier and matched now leave that list.
      const kept = batch.filter((p) => p.keptAs !== undefined && !unmatched.has(p)).map((p) => p.keptAs!);
      for (const ids of inLists(kept)) await tx.deleteFrom('unmatched_receipts').where('id', 'in', ids).execute();
      return { events: await insertEvents(tx, out, this.#outbox), unmatched };
    });
  }
}

/**
 * Long texts that wait in `queued` to send their other parts while some are
 * out (SendResult.deferred), one of which a receipt just failed for good: the
 * handset cannot join the text any more, so the rest is not sent. Those no
 * sender holds (no lease) end now: `sent` with the parts out (charged) and at
 * once final by that part (docs/statuses.md, Multipart messages). The lease is
 * taken first, as a claim would, so a sender claiming at the same moment
 * (another node) cannot send the rest. One that a sender holds is ended by
 * that sender (markSent looks at the parts of a resumed send).
 */
async function endWaitingByFailedPart(tx: Kysely<DB>, messages: readonly { id: string; accountId: string }[], now: number): Promise<EventInput[]> {
  const rows = [];
  for (const ids of inLists(messages.map((m) => m.id))) {
    rows.push(...(await tx.updateTable('messages').set({ lease_until: now, updated_at: now }).where('id', 'in', ids).where('status', '=', 'queued').where('lease_until', 'is', null).returningAll().execute()));
  }
  if (rows.length === 0) return [];
  const taken = await takenParts(tx, rows);
  const records: SentRecord[] = [];
  for (const row of rows) {
    const parts = taken.get(row.id);
    const failed = failedPart(parts);
    if (parts && failed) records.push(failedByPartRecord(row, parts[0]!.connectorId, parts, failed));
  }
  return markSent(tx, records, now);
}
