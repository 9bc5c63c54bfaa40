import type { Kysely } from 'kysely';
import { newId } from '../../domain/ids.ts';
import { OPEN_STATUSES, STATUS_INFO, type MessageStatus } from '../../domain/statuses.ts';
import { presentBatch, presentInbound, presentMessage } from '../../ingress/http/present.ts';
import type { Dialect } from '../../store/db.ts';
import type { InboundMessageRow } from '../../store/inbound.ts';
import type { MessageRow } from '../../store/messages.ts';
import type { TransitionRow } from '../../pipeline/transitions.ts';
import type { DB } from '../../store/schema.ts';
import { inLists } from '../../store/shapes.ts';
import { WebhookOutbox, type DeliveryRow } from '../../store/webhooks.ts';
import type { Subscriptions } from './subscriptions.ts';

/** A committed message event as the outbox needs it: its id and, when the transition has it, the row after the change. */
export interface OutboxMessageEvent {
  id: string;
  accountId: string;
  messageId: string;
  status: MessageStatus;
  at: number;
  /** the message after the change as far as the transition returned it (pipeline/transitions.ts TRANSITION_COLUMNS, or the whole row) */
  row?: TransitionRow | undefined;
}

/** Where events become deliveries: the pipeline calls it inside the transaction that commits the events. */
export interface EventOutbox {
  messageEvents(tx: Kysely<DB>, events: readonly OutboxMessageEvent[]): Promise<void>;
  inboundMessage(tx: Kysely<DB>, row: InboundMessageRow): Promise<void>;
}

/**
 * Called inside the transaction, before the insert, with the new deliveries:
 * returns those the sender takes straight after the commit (it leases them;
 * see `WebhookSender.admit`). The others are read back after the commit.
 */
export type DeliveryHandoff = (rows: DeliveryRow[]) => readonly DeliveryRow[];

const CALLBACK_PREFIX = 'callback:';

/** The endpoint key of a message's `callback_url`. */
export function callbackEndpoint(url: string): string {
  return CALLBACK_PREFIX + url;
}

/**
 * The transactional outbox: for every event it writes one delivery row per
 * endpoint that wants it (the account's matching enabled subscriptions, and
 * the message's `callback_url`), in the transaction of the event itself, so
 * an event is never committed without its deliveries. The rows of a whole
 * batch of events go into shared multi-row inserts. An event nobody wants
 * costs no statement.
 */
export class WebhookOutboxWriter implements EventOutbox {
  readonly #subscriptions: Subscriptions;
  readonly #dialect: Dialect;
  readonly #written: (endpoints: string[]) => void;
  readonly #handoff: DeliveryHandoff | undefined;

  /**
   * `written` is called (inside the transaction) with the endpoints of the
   * deliveries it added that `handoff` did not take: the sender looks after
   * the commit.
   */
  constructor(subscriptions: Subscriptions, dialect: Dialect, written: (endpoints: string[]) => void, handoff?: DeliveryHandoff) {
    this.#subscriptions = subscriptions;
    this.#dialect = dialect;
    this.#written = written;
    this.#handoff = handoff;
  }

  async messageEvents(tx: Kysely<DB>, events: readonly OutboxMessageEvent[]): Promise<void> {
    const wanted = events.filter((e) => this.#subscriptions.matching(e.accountId, `message.${e.status}`).length > 0 || e.row?.callback_url);
    // A payload needs the whole row: what a transition did not return (a cancel returns none, the others only
    // TRANSITION_COLUMNS) is read here, in the same transaction, and only for the events someone wants.
    const missing = wanted.filter((e) => !(e.row && isWhole(e.row))).map((e) => e.messageId);
    const fetched = new Map<string, MessageRow>();
    for (const ids of inLists([...new Set(missing)])) for (const r of await tx.selectFrom('messages').selectAll().where('id', 'in', ids).execute()) fetched.set(r.id, r);

    const rows: DeliveryRow[] = [];
    const batches = new Map<string, string>(); // batch id → account id
    for (const e of wanted) {
      const row = e.row && isWhole(e.row) ? e.row : fetched.get(e.messageId);
      if (!row) continue;
      const type = `message.${e.status}`;
      const payload = JSON.stringify({ id: e.id, type, created_at: new Date(e.at).toISOString(), data: presentMessage(row) });
      for (const s of this.#subscriptions.matching(e.accountId, type)) rows.push(delivery(e.accountId, s.id, null, s.id, row.id, e.id, type, payload, e.at));
      if (row.callback_url) rows.push(delivery(e.accountId, null, row.callback_url, callbackEndpoint(row.callback_url), row.id, e.id, type, payload, e.at));
    }
    for (const e of events) {
      if (!STATUS_INFO[e.status].final) continue;
      const batchId = e.row?.batch_id ?? fetched.get(e.messageId)?.batch_id;
      if (batchId && this.#subscriptions.matching(e.accountId, 'batch.completed').length > 0) batches.set(batchId, e.accountId);
    }
    for (const [batchId, accountId] of batches) rows.push(...(await this.#batchCompleted(tx, batchId, accountId)));
    if (rows.length === 0) return;
    await this.#insert(tx, rows);
  }

  async #insert(tx: Kysely<DB>, rows: DeliveryRow[]): Promise<void> {
    const taken = new Set(this.#handoff?.(rows));
    await WebhookOutbox.insert(tx, rows);
    const left = new Set<string>();
    for (const r of rows) if (!taken.has(r)) left.add(r.endpoint);
    if (left.size > 0) this.#written([...left]);
  }

  async inboundMessage(tx: Kysely<DB>, row: InboundMessageRow): Promise<void> {
    if (row.account_id === null) return;
    const subscribers = this.#subscriptions.matching(row.account_id, 'inbound_message.received');
    if (subscribers.length === 0) return;
    const id = newId('evt', row.received_at);
    const payload = JSON.stringify({ id, type: 'inbound_message.received', created_at: new Date(row.received_at).toISOString(), data: presentInbound(row) });
    await this.#insert(tx, subscribers.map((s) => delivery(row.account_id!, s.id, null, s.id, row.id, id, 'inbound_message.received', payload, row.received_at)));
  }

  /** `batch.completed` once the batch's last open message has reached a final status in this transaction. */
  async #batchCompleted(tx: Kysely<DB>, batchId: string, accountId: string): Promise<DeliveryRow[]> {
    // On PostgreSQL two transactions may finish a batch's last two messages at once; the row lock
    // makes the second wait and then see the first, so exactly one of them finds no open message.
    let q = tx.selectFrom('batches').selectAll().where('id', '=', batchId);
    if (this.#dialect === 'postgres') q = q.forUpdate();
    const batch = await q.executeTakeFirst();
    if (!batch) return [];
    const counts = await tx
      .selectFrom('messages')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('batch_id', '=', batchId)
      .groupBy('status')
      .execute();
    const byStatus = Object.fromEntries(counts.map((c) => [c.status, Number(c.n)]));
    if (OPEN_STATUSES.some((s) => (byStatus[s] ?? 0) > 0)) return [];
    const now = Date.now();
    const id = newId('evt', now);
    const payload = JSON.stringify({ id, type: 'batch.completed', created_at: new Date(now).toISOString(), data: presentBatch(batch, byStatus) });
    return this.#subscriptions.matching(accountId, 'batch.completed').map((s) => delivery(accountId, s.id, null, s.id, batchId, id, 'batch.completed', payload, now));
  }
}

function delivery(accountId: string, webhookId: string | null, callbackUrl: string | null, endpoint: string, orderKey: string, eventId: string, type: string, payload: string, at: number): DeliveryRow {
  return {
    id: newId('whd', at),
    account_id: accountId,
    webhook_id: webhookId,
    callback_url: callbackUrl,
    endpoint,
    order_key: orderKey,
    event_id: eventId,
    event_type: type,
    payload,
    status: 'pending',
    attempts: 0,
    next_attempt_at: at,
    lease_until: null,
    created_at: at,
    delivered_at: null,
  };
}

/** A claim returns the whole row; the other transitions only TRANSITION_COLUMNS. */
function isWhole(row: TransitionRow): row is MessageRow {
  return 'body' in row;
}
