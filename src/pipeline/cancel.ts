import type { ExpressionBuilder, Kysely } from 'kysely';
import type { ReasonCode } from '../domain/reasons.ts';
import type { MessageStatus } from '../domain/statuses.ts';
import type { DB } from '../store/schema.ts';
import { inLists } from '../store/shapes.ts';
import type { EventInput } from './transitions.ts';

/**
 * What a cancel did: `cancelled`, or why not: the message is not in this
 * account (`not_found`), or it is too far along (`not_cancellable`, with the
 * status it is in and whether a sender holds it).
 */
export type CancelResult =
  | { outcome: 'cancelled' }
  | { outcome: 'not_found' }
  | { outcome: 'not_cancellable'; status: MessageStatus; leased: boolean };

/** A message no sender holds yet: `accepted`, or `queued` without a lease (waiting for a retry). */
export const unheld = (eb: ExpressionBuilder<DB, 'messages'>) => eb.or([eb('status', '=', 'accepted'), eb.and([eb('status', '=', 'queued'), eb('lease_until', 'is', null)])]);

/**
 * Moves those of the account's messages that no sender holds yet, and none
 * of whose parts went out, to `cancelled` with `reason`, in the caller's
 * transaction, and returns their events (each with its row: a priced
 * message's reserve is refunded from it). The others are left as they are.
 */
export async function cancelUnsent(tx: Kysely<DB>, accountId: string, messageIds: readonly string[], reason: ReasonCode, now: number): Promise<EventInput[]> {
  const events: EventInput[] = [];
  for (const ids of inLists(messageIds)) {
    const moved = await tx
      .updateTable('messages')
      .set({ status: 'cancelled', reason_code: reason, provider_code: null, reason_detail: null, completed_at: now, updated_at: now })
      .where('account_id', '=', accountId)
      .where('id', 'in', ids)
      .where(unheld)
      // Some parts of a long text are out already (it waits to send the rest, SendResult.deferred): too late to cancel.
      .where((eb) => eb.not(eb.exists(eb.selectFrom('message_parts').select('message_parts.part_index').whereRef('message_parts.message_id', '=', 'messages.id'))))
      // A cascade's parent only while its running step's message could be cancelled too: not once a sender holds that
      // step or some of its parts are out, or the parent would say cancelled while the step reaches the handset.
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('cascades')
              .innerJoin('messages as step', 'step.id', 'cascades.child_id')
              .select('cascades.id')
              .whereRef('cascades.id', '=', 'messages.id')
              .where('cascades.status', '=', 'running')
              .where((s) =>
                s.or([
                  s('step.status', 'not in', ['accepted', 'queued']),
                  s('step.lease_until', 'is not', null),
                  s.exists(s.selectFrom('message_parts').select('message_parts.part_index').whereRef('message_parts.message_id', '=', 'step.id')),
                ]),
              ),
          ),
        ),
      )
      .returningAll()
      .execute();
    for (const row of moved) events.push({ accountId, messageId: row.id, status: 'cancelled', reason: { code: reason }, at: now, row });
  }
  return events;
}

/**
 * accepted | queued without a lease → cancelled (`cancelled_by_client`), in the
 * caller's transaction: a message not yet handed to a sender (waiting for its
 * `send_at`, for dispatch, or for a retry). A message a sender holds may be on
 * its way to the operator already, so it cannot be cancelled; nor can one
 * that is sent or finished. Runs in the delivery thread, through its write
 * batcher, so its event id falls in line with every other event's.
 */
export async function cancelMessage(tx: Kysely<DB>, accountId: string, messageId: string, now: number): Promise<{ result: CancelResult; events: EventInput[] }> {
  const events = await cancelUnsent(tx, accountId, [messageId], 'cancelled_by_client', now);
  if (events.length > 0) return { result: { outcome: 'cancelled' }, events };
  const row = await tx.selectFrom('messages').select(['status', 'lease_until']).where('account_id', '=', accountId).where('id', '=', messageId).executeTakeFirst();
  if (!row) return { result: { outcome: 'not_found' }, events: [] };
  return { result: { outcome: 'not_cancellable', status: row.status as MessageStatus, leased: row.lease_until !== null }, events: [] };
}
