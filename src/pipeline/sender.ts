import type { FailureReason } from '../domain/reasons.ts';
import type { EventBus } from '../events/bus.ts';
import type { EventOutbox } from '../events/webhooks/outbox.ts';
import type { Logger } from '../log.ts';
import { ConnectorError, type Connector, type OutboundMessage } from '../connectors/types.ts';
import { segment, type SmsEncoding } from '../sms/encoding.ts';
import type { MessageRow } from '../store/messages.ts';
import type { WriteBatcher } from '../store/write-batcher.ts';
import type { Router } from './router.ts';
import { claimDue, finish, insertEvents, markSent, scheduleRetry, type EventInput, type SentRecord } from './transitions.ts';

export interface SenderOptions {
  /** how long a claimed message belongs to this sender before others may take it, default 60 s */
  leaseMs?: number;
  retry: { initialDelayMs: number; maxDelayMs: number };
  /** where status events become webhook deliveries, in the same transaction */
  outbox?: EventOutbox | undefined;
}

type Outcome =
  | { kind: 'sent'; record: SentRecord }
  | { kind: 'retry'; row: MessageRow; reason: FailureReason }
  | { kind: 'final'; row: MessageRow; status: 'rejected' | 'failed' | 'expired'; reason: FailureReason };

/** Exponential back-off with full jitter between half and all of the step. */
export function retryDelayMs(attempt: number, retry: { initialDelayMs: number; maxDelayMs: number }, random = Math.random): number {
  const step = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}

/**
 * Takes batches of due message ids: claims them, sends each through its
 * connector, and records every outcome in one transaction per batch.
 */
export class Sender {
  readonly #batcher: WriteBatcher;
  readonly #router: Router;
  readonly #bus: EventBus;
  readonly #log: Logger;
  readonly #leaseMs: number;
  readonly #retry: SenderOptions['retry'];
  readonly #outbox: EventOutbox | undefined;

  constructor(batcher: WriteBatcher, router: Router, bus: EventBus, log: Logger, options: SenderOptions) {
    this.#batcher = batcher;
    this.#router = router;
    this.#bus = bus;
    this.#log = log;
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#retry = options.retry;
    this.#outbox = options.outbox;
  }

  async process(ids: string[]): Promise<void> {
    try {
      await this.#process(ids);
    } catch (err) {
      this.#log.error({ err, count: ids.length }, 'sender batch failed; its messages will be picked up again when due');
      throw err;
    }
  }

  async #process(ids: string[]): Promise<void> {
    const claimedAt = Date.now();
    const { rows, changes } = await this.#batcher.run(async (tx) => {
      const claimed = await claimDue(tx, ids, claimedAt, claimedAt + this.#leaseMs);
      return { rows: claimed.rows, changes: await insertEvents(tx, claimed.events, this.#outbox) };
    });
    this.#bus.publishStatus(changes);
    if (rows.length === 0) return;
    const outcomes = await Promise.all(rows.map((row) => this.#sendOne(row, claimedAt)));

    const now = Date.now();
    const events = await this.#batcher.run(async (tx) => {
      const out: EventInput[] = [];
      out.push(...(await markSent(tx, outcomes.flatMap((o) => (o.kind === 'sent' ? [o.record] : [])), now)));
      for (const o of outcomes) {
        if (o.kind === 'retry') {
          const dueAt = Math.min(now + retryDelayMs(o.row.attempts, this.#retry), o.row.expires_at);
          out.push(...(await scheduleRetry(tx, o.row, dueAt, o.reason, now)));
        } else if (o.kind === 'final') {
          out.push(...(await finish(tx, { id: o.row.id, accountId: o.row.account_id }, ['queued'], o.status, o.reason, now)));
        }
      }
      return insertEvents(tx, out, this.#outbox);
    });
    this.#bus.publishStatus(events);
  }

  async #sendOne(row: MessageRow, now: number): Promise<Outcome> {
    if (row.expires_at <= now) {
      return { kind: 'final', row, status: 'expired', reason: { code: 'validity_expired', providerCode: row.provider_code ?? undefined } };
    }
    const connector = this.#router.pick(row);
    if (!connector) return { kind: 'final', row, status: 'failed', reason: { code: 'no_route', detail: `no connector serves channel ${row.channel}` } };
    const message: OutboundMessage = {
      id: row.id,
      accountId: row.account_id,
      attempt: row.attempts,
      to: row.recipient,
      from: row.sender,
      text: row.body,
      encoding: row.encoding as SmsEncoding,
      parts: segment(row.body, { encoding: row.encoding as SmsEncoding }).parts,
      trafficType: row.traffic_type,
      validUntil: row.expires_at,
    };
    try {
      const result = await connector.send(message);
      return { kind: 'sent', record: { row, connectorId: connector.id, providerIds: result.providerIds } };
    } catch (err) {
      if (err instanceof ConnectorError) {
        const reason: FailureReason = { code: err.reason, providerCode: err.providerCode, detail: err.message };
        return err.retryable ? { kind: 'retry', row, reason } : { kind: 'final', row, status: 'rejected', reason };
      }
      // A bug or an unexpected failure in a connector: retry rather than lose the message.
      this.#log.error({ err, messageId: row.id, connector: connector.id }, 'connector threw an untyped error');
      return { kind: 'retry', row, reason: { code: 'operator_error', detail: 'unexpected connector error' } };
    }
  }
}
