import type { Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import type { FailureReason } from '../domain/reasons.ts';
import type { MessageStatus } from '../domain/statuses.ts';
import type { StatusChange } from '../events/bus.ts';
import type { EventOutbox } from '../events/webhooks/outbox.ts';
import type { RefusedPart } from '../connectors/types.ts';
import type { MessageRow } from '../store/messages.ts';
import { SENT_CONDITION } from '../store/migrations/009-sent-expiry.ts';
import { settleInTx } from '../store/balance.ts';
import type { DB } from '../store/schema.ts';
import { inLists, insertChunks } from '../store/shapes.ts';

/**
 * The pipeline's named state changes. Each one states which status it leaves
 * (`WHERE status IN (…)`) and reports what actually moved, so a duplicate,
 * late or concurrent change never moves a message backwards or twice.
 * These act on messages by id for the pipeline itself; nothing here serves a
 * tenant's request, which always goes through the account-scoped repositories.
 */


/**
 * What a transition returns of each message it moved: the columns settling
 * (store/balance.ts), the webhook outbox and the cascade engine decide on.
 * Not the whole row: materialising every column of every moved row was a
 * fifth of the delivery thread's time in bulk loads; the outbox reads the
 * whole row only for the events a subscription or a callback_url wants.
 */
export const TRANSITION_COLUMNS = ['id', 'account_id', 'status', 'batch_id', 'callback_url', 'price_minor', 'parts_count', 'sent_at', 'cascade_step', 'parent_id', 'reason_code', 'mailing_id'] as const;
export type TransitionRow = Pick<MessageRow, (typeof TRANSITION_COLUMNS)[number]>;

export interface EventInput {
  accountId: string;
  messageId: string;
  status: MessageStatus;
  reason?: FailureReason | undefined;
  at: number;
  /** the message after the change, when the transition returned it (the whole row from a claim, TRANSITION_COLUMNS from the others) */
  row?: TransitionRow | undefined;
  /** on `sent`: how many of its parts the provider refused (not charged: store/balance.ts settleInTx) */
  refusedParts?: number | undefined;
}

/**
 * Appends events to `message_events`; with an `outbox`, their webhook
 * deliveries go into the same transaction, so no event is committed without
 * them; so do the charges and refunds of priced messages (a sent message is
 * charged, one that ends unsent is refunded: store/balance.ts settleInTx).
 * Returns them as status changes, each with its event id.
 */
export async function insertEvents(tx: Kysely<DB>, events: EventInput[], outbox?: EventOutbox): Promise<StatusChange[]> {
  await settleInTx(tx, events);
  const changes: StatusChange[] = events.map((e) => ({
    eventId: newId('evt', e.at),
    accountId: e.accountId,
    messageId: e.messageId,
    status: e.status,
    reasonCode: e.reason?.code ?? null,
    providerCode: e.reason?.providerCode ?? null,
    at: e.at,
  }));
  await insertChunks(
    tx,
    'message_events',
    changes.map((c) => ({
      id: c.eventId,
      account_id: c.accountId,
      message_id: c.messageId,
      status: c.status,
      reason_code: c.reasonCode,
      provider_code: c.providerCode,
      created_at: c.at,
    })),
  );
  if (outbox && events.length > 0) await outbox.messageEvents(tx, events.map((e, i) => ({ id: changes[i]!.eventId, accountId: e.accountId, messageId: e.messageId, status: e.status, at: e.at, row: e.row })));
  return changes;
}

/**
 * accepted|queued → queued, for messages that are due: takes them for this
 * sender until `leaseUntil` (a crashed sender's messages become due again then).
 * Returns the rows it took, with `attempts` already counting this attempt, and
 * the events to record for those queued for the first time.
 */
export async function claimDue(tx: Kysely<DB>, ids: string[], now: number, leaseUntil: number): Promise<{ rows: MessageRow[]; events: EventInput[] }> {
  const rows: MessageRow[] = [];
  for (const part of inLists(ids)) {
    const claimed = await tx
      .updateTable('messages')
      .set((eb) => ({
        status: 'queued',
        queued_at: eb.fn.coalesce('queued_at', eb.val(now)),
        due_at: leaseUntil,
        lease_until: leaseUntil,
        attempts: eb('attempts', '+', 1),
        updated_at: now,
      }))
      .where('id', 'in', part)
      .where('status', 'in', ['accepted', 'queued'])
      .where('due_at', '<=', now)
      .returningAll()
      .execute();
    rows.push(...claimed);
  }
  // First claimed now (queued_at was empty): a claim handed back unsent gives its attempt back, so attempts cannot tell.
  const firstTime = rows.filter((r) => Number(r.queued_at) === now);
  return { rows, events: firstTime.map((r) => ({ accountId: r.account_id, messageId: r.id, status: 'queued' as const, at: now, row: r })) };
}

export interface SentRecord {
  row: MessageRow;
  connectorId: string;
  /** one per part, '' for a refused one */
  providerIds: string[];
  /** parts the provider refused while it took the others (SendResult.refused) */
  refused?: RefusedPart[] | undefined;
  /** what the message ends as when parts are refused, default `rejected` (`expired`: its validity ended before the rest went out) */
  endsAs?: 'rejected' | 'expired' | undefined;
}

/**
 * queued → sent, with one part row per provider id. A message the provider
 * took only in part (some parts refused: SentRecord.refused) is sent and, in
 * the same transaction, rejected with the first refused part's reason, as the
 * multipart policy ends a message one of whose parts failed; its refused
 * parts are stored `rejected` with their reasons, and the `sent` event says
 * how many there are, so that only the parts taken are charged.
 */
export async function markSent(tx: Kysely<DB>, sent: SentRecord[], now: number): Promise<EventInput[]> {
  if (sent.length === 0) return [];
  const moved: { record: SentRecord; row: TransitionRow }[] = [];
  const byConnector = new Map<string, SentRecord[]>();
  for (const s of sent) {
    const list = byConnector.get(s.connectorId) ?? [];
    list.push(s);
    byConnector.set(s.connectorId, list);
  }
  // One statement per connector and chunk; RETURNING says which really moved.
  for (const [connectorId, list] of byConnector) {
    const byId = new Map(list.map((s) => [s.row.id, s]));
    for (const ids of inLists([...byId.keys()])) {
      const movedIds = await tx
        .updateTable('messages')
        .set({ status: 'sent', sent_at: now, connector_id: connectorId, lease_until: null, reason_code: null, provider_code: null, reason_detail: null, updated_at: now })
        .where('id', 'in', ids)
        .where('status', '=', 'queued')
        .returning(TRANSITION_COLUMNS)
        .execute();
      for (const r of movedIds) moved.push({ record: byId.get(r.id)!, row: r });
    }
  }
  const parts = moved.flatMap(({ record: s }) => {
    const refused = new Map(s.refused?.map((r) => [r.part, r.reason]));
    return s.providerIds.map((providerId, i) => {
      const reason = refused.get(i + 1);
      return {
        message_id: s.row.id,
        part_index: i + 1,
        account_id: s.row.account_id,
        connector_id: s.connectorId,
        provider_message_id: reason ? '' : providerId,
        status: reason ? (s.endsAs ?? 'rejected') : 'sent',
        reason_code: reason?.code ?? null,
        provider_code: reason?.providerCode ?? null,
        sent_at: now,
        done_at: reason ? now : null,
      };
    });
  });
  // A resubmit after a crash may meet part rows of the first try: keep those.
  await insertChunks(tx, 'message_parts', parts, { onConflictDoNothing: ['message_id', 'part_index'] });
  const events: EventInput[] = [];
  for (const { record, row } of moved) {
    const refused = record.refused?.length ?? 0;
    events.push({ accountId: row.account_id, messageId: row.id, status: 'sent', at: now, row, ...(refused > 0 ? { refusedParts: refused } : {}) });
  }
  for (const { record, row } of moved) {
    const first = record.refused?.[0];
    if (first) events.push(...(await finish(tx, { id: row.id, accountId: row.account_id }, ['sent'], record.endsAs ?? 'rejected', first.reason, now)));
  }
  return events;
}

/**
 * queued stays queued, due again at `dueAt`: a temporary failure waiting for
 * its retry, or (with `failedConnectors`) a refusal that the route's next
 * connector gets a chance at.
 */
export async function scheduleRetry(tx: Kysely<DB>, row: MessageRow, dueAt: number, reason: FailureReason, now: number, failedConnectors?: string[]): Promise<EventInput[]> {
  const result = await tx
    .updateTable('messages')
    .set({
      due_at: dueAt,
      lease_until: null,
      reason_code: reason.code,
      provider_code: reason.providerCode ?? null,
      reason_detail: reason.detail ?? null,
      updated_at: now,
      ...(failedConnectors ? { failed_connectors: failedConnectors.join(',') } : {}),
    })
    .where('id', '=', row.id)
    .where('status', '=', 'queued')
    .returning(TRANSITION_COLUMNS)
    .executeTakeFirst();
  return result ? [{ accountId: row.account_id, messageId: row.id, status: 'queued', reason, at: now, row: result }] : [];
}

const FINAL_TIME_COLUMN: Partial<Record<MessageStatus, 'delivered_at'>> = { delivered: 'delivered_at' };

/** from → a final status with a reason (rejected, failed, expired, undelivered, delivered). */
export async function finish(
  tx: Kysely<DB>,
  message: { id: string; accountId: string },
  from: MessageStatus[],
  status: MessageStatus,
  reason: FailureReason | undefined,
  now: number,
): Promise<EventInput[]> {
  return finishMany(tx, [message], from, status, reason, now);
}

/** The same final status and reason for many messages, in one statement per chunk. */
export async function finishMany(
  tx: Kysely<DB>,
  messages: { id: string; accountId: string }[],
  from: MessageStatus[],
  status: MessageStatus,
  reason: FailureReason | undefined,
  now: number,
): Promise<EventInput[]> {
  const timeColumn = FINAL_TIME_COLUMN[status];
  const events: EventInput[] = [];
  for (const ids of inLists([...new Set(messages.map((m) => m.id))])) {
    const moved = await tx
      .updateTable('messages')
      .set({
        status,
        reason_code: reason?.code ?? null,
        provider_code: reason?.providerCode ?? null,
        reason_detail: reason?.detail ?? null,
        completed_at: now,
        lease_until: null,
        updated_at: now,
        ...(timeColumn ? { [timeColumn]: now } : {}),
      })
      .where('id', 'in', ids)
      .where('status', 'in', from)
      .returning(TRANSITION_COLUMNS)
      .execute();
    for (const m of moved) events.push({ accountId: m.account_id, messageId: m.id, status, reason, at: now, row: m });
  }
  return events;
}

/**
 * delivered → read: the recipient opened the message (a messenger, or an
 * aggregator, that reports reading). The one change a final status allows.
 */
export async function markRead(tx: Kysely<DB>, messages: { id: string; accountId: string }[], now: number): Promise<EventInput[]> {
  const events: EventInput[] = [];
  for (const ids of inLists([...new Set(messages.map((m) => m.id))])) {
    const moved = await tx.updateTable('messages').set({ status: 'read', updated_at: now }).where('id', 'in', ids).where('status', '=', 'delivered').returning(TRANSITION_COLUMNS).execute();
    for (const m of moved) events.push({ accountId: m.account_id, messageId: m.id, status: 'read', at: now, row: m });
  }
  return events;
}

/**
 * sent → expired with `no_receipt`, for at most `limit` messages whose validity
 * ended before `endedBefore` (the end of validity plus the grace for late
 * receipts): the receipt is not coming. Their parts still waiting (`sent`) are
 * closed with the same reason; parts with a receipt keep theirs.
 */
export async function expireSent(tx: Kysely<DB>, endedBefore: number, limit: number, now: number): Promise<EventInput[]> {
  const waiting = await tx
    .selectFrom('messages')
    .select(['id', 'account_id'])
    .where(SENT_CONDITION) // as in the partial index messages_sent_expiry, word for word
    .where('expires_at', '<', endedBefore)
    .orderBy('expires_at')
    .limit(limit)
    .execute();
  if (waiting.length === 0) return [];
  const reason: FailureReason = { code: 'no_receipt' };
  const events = await finishMany(tx, waiting.map((m) => ({ id: m.id, accountId: m.account_id })), ['sent'], 'expired', reason, now);
  for (const ids of inLists(events.map((e) => e.messageId))) {
    await tx
      .updateTable('message_parts')
      .set({ status: 'expired', reason_code: reason.code, provider_code: null, done_at: now })
      .where('message_id', 'in', ids)
      .where('status', '=', 'sent')
      .execute();
  }
  return events;
}
