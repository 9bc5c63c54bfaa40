import type { Kysely } from 'kysely';
import type { MessageStatus } from '../domain/statuses.ts';
import type { DB } from '../store/schema.ts';
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

/**
 * accepted | queued without a lease → cancelled (`cancelled_by_client`), in the
 * caller's transaction: a message not yet handed to a sender (waiting for its
 * `send_at`, for dispatch, or for a retry). A message a sender holds may be on
 * its way to the operator already, so it cannot be cancelled; nor can one
 * that is sent or finished. Runs in the delivery thread, through its write
 * batcher, so its event id falls in line with every other event's.
 */
export async function cancelMessage(tx: Kysely<DB>, accountId: string, messageId: string, now: number): Promise<{ result: CancelResult; events: EventInput[] }> {
  const moved = await tx
    .updateTable('messages')
    .set({ status: 'cancelled', reason_code: 'cancelled_by_client', provider_code: null, reason_detail: null, completed_at: now, updated_at: now })
    .where('account_id', '=', accountId)
    .where('id', '=', messageId)
    .where((eb) => eb.or([eb('status', '=', 'accepted'), eb.and([eb('status', '=', 'queued'), eb('lease_until', 'is', null)])]))
    .returningAll()
    .executeTakeFirst();
  if (moved) {
    // The row goes with the event: a priced message's reserve is refunded from it.
    return { result: { outcome: 'cancelled' }, events: [{ accountId, messageId, status: 'cancelled', reason: { code: 'cancelled_by_client' }, at: now, row: moved }] };
  }
  const row = await tx.selectFrom('messages').select(['status', 'lease_until']).where('account_id', '=', accountId).where('id', '=', messageId).executeTakeFirst();
  if (!row) return { result: { outcome: 'not_found' }, events: [] };
  return { result: { outcome: 'not_cancellable', status: row.status as MessageStatus, leased: row.lease_until !== null }, events: [] };
}
