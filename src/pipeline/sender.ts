import { LINK_FAILURE_REASONS, REROUTABLE_REASONS, type FailureReason } from '../domain/reasons.ts';
import type { EventBus } from '../events/bus.ts';
import type { EventOutbox } from '../events/webhooks/outbox.ts';
import type { Logger } from '../log.ts';
import { parseContent } from '../connectors/channels.ts';
import { ConnectorError, type Channel, type Connector, type OutboundMessage } from '../connectors/types.ts';
import { segment, type SmsEncoding } from '../sms/encoding.ts';
import type { Kysely } from 'kysely';
import type { MessageRow } from '../store/messages.ts';
import { keepTakenParts, takenParts, type TakenPart } from '../store/open-parts.ts';
import type { DB } from '../store/schema.ts';
import type { WriteBatcher } from '../store/write-batcher.ts';
import type { RouteInput, RoutingTable } from './router.ts';
import type { Rotation } from './rotation.ts';
import { claimDue, failedByPartRecord, failedPart, finish, insertEvents, markSent, resumedRecord, scheduleRetry, type EventInput, type SentRecord } from './transitions.ts';

export interface SenderOptions {
  /** how long a claimed message belongs to this sender before others may take it, default 60 s */
  leaseMs?: number;
  retry: { initialDelayMs: number; maxDelayMs: number };
  /** where status events become webhook deliveries, in the same transaction */
  outbox?: EventOutbox | undefined;
  /** waits until the connector may take this many more submits (the cluster-wide rate); absent: only the connector's own limiter */
  pace?: ((connectorId: string, submits: number) => Promise<void>) | undefined;
  /** hands ids to other worker nodes (in a cluster, for connectors whose binds are elsewhere) */
  handBack?: ((ids: string[]) => void) | undefined;
}

/** What the sender needs to choose a connector: the routes, who is in rotation, and the loaded connectors. */
export interface Routing {
  table: RoutingTable;
  rotation: Rotation;
  connector(id: string): Connector | undefined;
}

type Outcome =
  | { kind: 'sent'; record: SentRecord }
  | { kind: 'retry'; row: MessageRow; reason: FailureReason }
  /** the provider took some parts of a long text and deferred the others: keep those taken, retry the rest after a back-off */
  | { kind: 'partial'; row: MessageRow; connectorId: string; providerIds: string[]; concatRef: number | undefined; reason: FailureReason }
  /** refused for a reason the route's next connector may not have: try that one at once */
  | { kind: 'reroute'; row: MessageRow; reason: FailureReason; failed: string[] }
  | { kind: 'final'; row: MessageRow; status: 'rejected' | 'failed' | 'expired'; reason: FailureReason }
  /** not sent because the sender is stopping: handed back, due at once for another sender */
  | { kind: 'release'; row: MessageRow }
  /** its connector's binds are on other worker nodes: handed back for one of them */
  | { kind: 'elsewhere'; row: MessageRow };

/** a claimed message is submitted only while this much of its lease is left: the outcome must be recorded before it runs out */
const LEASE_MARGIN_MS = 1000;

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
  readonly #routing: Routing;
  readonly #bus: EventBus;
  readonly #log: Logger;
  readonly #leaseMs: number;
  readonly #retry: SenderOptions['retry'];
  readonly #outbox: EventOutbox | undefined;
  readonly #pace: SenderOptions['pace'];
  readonly #handBack: SenderOptions['handBack'];
  #stopping = false;
  /** resolves when `stopping()` is called: a send waiting for the cluster's rate stops waiting */
  readonly #stopped: Promise<void>;
  #stop: () => void = () => {};

  constructor(batcher: WriteBatcher, routing: Routing, bus: EventBus, log: Logger, options: SenderOptions) {
    this.#batcher = batcher;
    this.#routing = routing;
    this.#bus = bus;
    this.#log = log;
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#retry = options.retry;
    this.#outbox = options.outbox;
    this.#pace = options.pace;
    this.#handBack = options.handBack;
    this.#stopped = new Promise((resolve) => (this.#stop = resolve));
  }

  /**
   * From now on claimed messages not yet submitted are handed back instead of
   * sent (graceful shutdown), those waiting for a slot of the cluster's rate
   * at once: a stop waits only for the submits already on their way.
   */
  stopping(): void {
    this.#stopping = true;
    this.#stop();
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
    if (rows.length > 0) await this.#deliver(rows, claimedAt);
  }

  /**
   * Sends messages claimed for this sender elsewhere (written as claimed at
   * accept: AcceptJob.claim) and records every outcome, as for a claimed batch.
   */
  async deliver(rows: MessageRow[], claimedAt: number): Promise<void> {
    try {
      await this.#deliver(rows, claimedAt);
    } catch (err) {
      this.#log.error({ err, count: rows.length }, 'sender batch failed; its messages will be picked up again when their lease ends');
      throw err;
    }
  }

  async #deliver(rows: MessageRow[], claimedAt: number): Promise<void> {
    // Only a retry of a long text can have parts out already (an earlier attempt's SendResult.deferred).
    const resumable = rows.filter((r) => r.attempts > 1 && r.parts_count > 1);
    const taken = resumable.length > 0 ? await this.#batcher.run((tx) => takenParts(tx, resumable)) : new Map<string, TakenPart[]>();
    const outcomes = await Promise.all(rows.map((row) => this.#sendOne(row, claimedAt, taken.get(row.id))));

    const now = Date.now();
    const events = await this.#batcher.run(async (tx) => {
      const out: EventInput[] = [];
      out.push(...(await markSent(tx, outcomes.flatMap((o) => (o.kind === 'sent' ? [o.record] : [])), now)));
      await releaseClaims(tx, outcomes.flatMap((o) => (o.kind === 'release' || o.kind === 'elsewhere' ? [o.row] : [])), now);
      const partial = outcomes.flatMap((o) => (o.kind === 'partial' ? [o] : []));
      if (partial.length > 0) await keepTakenParts(tx, partial.map((o) => ({ messageId: o.row.id, accountId: o.row.account_id, connectorId: o.connectorId, providerIds: o.providerIds, concatRef: o.concatRef })), now);
      for (const o of outcomes) {
        if (o.kind === 'retry' || o.kind === 'partial') {
          const dueAt = Math.min(now + retryDelayMs(o.row.attempts, this.#retry), o.row.expires_at);
          out.push(...(await scheduleRetry(tx, o.row, dueAt, o.reason, now)));
        } else if (o.kind === 'reroute') {
          out.push(...(await scheduleRetry(tx, o.row, now, o.reason, now, o.failed)));
        } else if (o.kind === 'final') {
          out.push(...(await finish(tx, { id: o.row.id, accountId: o.row.account_id }, ['queued'], o.status, o.reason, now)));
        }
      }
      return insertEvents(tx, out, this.#outbox);
    });
    this.#bus.publishStatus(events);
    const elsewhere = outcomes.flatMap((o) => (o.kind === 'elsewhere' ? [o.row.id] : []));
    if (elsewhere.length > 0) this.#handBack?.(elsewhere);
  }

  /** `taken`: the parts of a long text its connector took on an earlier attempt; only the others are sent, by that connector */
  async #sendOne(row: MessageRow, now: number, taken?: TakenPart[]): Promise<Outcome> {
    const pinned = taken?.[0]?.connectorId;
    // A part out already failed for good (its receipt came while the rest waited): the handset cannot join the text,
    // so the rest is not sent; the message ends by that part (docs/statuses.md, Multipart messages).
    const lost = failedPart(taken);
    if (pinned && lost) return { kind: 'sent', record: failedByPartRecord(row, pinned, taken!, lost) };
    if (row.expires_at <= now) {
      const reason: FailureReason = { code: 'validity_expired', providerCode: row.provider_code ?? undefined };
      // Some parts went out: sent (they are charged) and expired at once, the rest never sent.
      if (pinned) return { kind: 'sent', record: { ...resumedRecord(row, pinned, taken!, row.parts_count, reason), endsAs: 'expired' } };
      return { kind: 'final', row, status: 'expired', reason };
    }
    // A message that names its connector before it is sent goes by that one only: a cascade step's (pipeline/cascade.ts),
    // or the provider a seed-001 send named among its route's connectors (ingress/http/compat/api-v1.ts);
    // and the rest of a long text goes by the connector that took its first parts (the handset joins them by its reference).
    const choice = pinned
      ? { routeId: 'resumed', connectors: [pinned] }
      : row.connector_id
        ? { routeId: row.cascade_step ? 'cascade' : 'named', connectors: [row.connector_id] }
        : this.#routing.table.resolve(routeInput(row));
    if (!choice) return { kind: 'final', row, status: 'failed', reason: { code: 'no_route', detail: `no route takes ${row.channel} to this number` } };
    const failed = row.failed_connectors ? row.failed_connectors.split(',') : [];
    const candidates = pinned ? choice.connectors : choice.connectors.filter((id) => !failed.includes(id));
    const pick = this.#routing.rotation.pick(candidates, (id) => this.#routing.connector(id)?.state().status, now);
    if ('blocked' in pick) return { kind: 'retry', row, reason: { code: 'operator_unavailable', detail: `route ${choice.routeId}: ${pick.blocked}` } };
    const connector = this.#routing.connector(pick.connectorId)!;
    // The cluster runs this connector's binds on other workers (cluster/binds.ts): one of them sends it.
    if (connector.hasBinds === false && this.#handBack) return { kind: 'elsewhere', row };
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
      channel: row.channel as Channel,
      content: parseContent(row.content),
      ...(taken ? { resume: { taken: new Map(taken.map((t) => [t.part, t.providerId])), concatRef: taken[0]!.concatRef ?? undefined } } : {}),
    };
    const rotation = this.#routing.rotation;
    if (this.#pace && !this.#stopping) {
      // A slot may be seconds away (a backlog at a low rate): a stop does not wait for it, the slot goes unused.
      const paced = this.#pace(connector.id, Math.max(1, message.parts.length - (taken?.length ?? 0)));
      paced.catch(() => {}); // failing after the stop: nothing waits for it any more
      await Promise.race([paced, this.#stopped]);
    }
    // Stopping, or the lease ran out while waiting for the rate (another sender may have claimed it since): not sent here.
    if (this.#stopping || Date.now() >= row.lease_until! - LEASE_MARGIN_MS) return { kind: 'release', row };
    try {
      const result = await connector.send(message);
      rotation.success(connector.id);
      const known = message.resume?.taken;
      const providerIds = known ? result.providerIds.map((id, i) => known.get(i + 1) ?? id) : result.providerIds;
      const deferred = result.deferred ?? [];
      if (deferred.length > 0 && !result.refused?.length) {
        return { kind: 'partial', row, connectorId: connector.id, providerIds, concatRef: result.concatRef ?? message.resume?.concatRef, reason: deferred[0]!.reason };
      }
      // Deferred parts beside parts refused for good: the message cannot be completed, so none is retried.
      const refused = deferred.length > 0 ? [...result.refused!, ...deferred].sort((a, b) => a.part - b.part) : result.refused;
      return { kind: 'sent', record: { row, connectorId: connector.id, providerIds, refused, resumed: taken !== undefined } };
    } catch (err) {
      if (err instanceof ConnectorError) {
        const reason: FailureReason = { code: err.reason, providerCode: err.providerCode, detail: err.message };
        if (err.retryable) {
          if (LINK_FAILURE_REASONS.has(err.reason)) rotation.failure(connector.id, `${err.reason}: ${err.message}`);
          return { kind: 'retry', row, reason };
        }
        // The rest of a long text refused for good: the parts out are charged, the message is rejected; no reroute.
        if (pinned) return { kind: 'sent', record: resumedRecord(row, pinned, taken!, message.parts.length, reason) };
        if (REROUTABLE_REASONS.has(err.reason) && candidates.some((id) => id !== connector.id)) return { kind: 'reroute', row, reason, failed: [...failed, connector.id] };
        return { kind: 'final', row, status: 'rejected', reason };
      }
      // A bug or an unexpected failure in a connector: retry rather than lose the message.
      this.#log.error({ err, messageId: row.id, connector: connector.id }, 'connector threw an untyped error');
      rotation.failure(connector.id, 'unexpected connector error');
      return { kind: 'retry', row, reason: { code: 'operator_error', detail: 'unexpected connector error' } };
    }
  }
}

/**
 * queued (claimed, not submitted) → queued and due now without a lease, so
 * another sender takes it at once instead of after the lease. Only while this
 * sender's claim still holds (the same lease), never after another's. The
 * claim's attempt is given back: nothing was submitted.
 */
async function releaseClaims(tx: Kysely<DB>, rows: readonly MessageRow[], now: number): Promise<void> {
  for (const row of rows) {
    await tx
      .updateTable('messages')
      .set((eb) => ({ due_at: now, lease_until: null, attempts: eb('attempts', '-', 1), updated_at: now }))
      .where('id', '=', row.id)
      .where('status', '=', 'queued')
      .where('lease_until', '=', row.lease_until)
      .execute();
  }
}

/** What routing looks at in a stored message. */
function routeInput(row: MessageRow): RouteInput {
  return {
    accountId: row.account_id,
    channel: row.channel,
    recipient: row.recipient,
    project: row.project,
    trafficType: row.traffic_type,
    operator: row.operator,
    templated: row.template_id != null,
  };
}
