import type { Kysely } from 'kysely';
import type { StatusChange } from '../events/bus.ts';
import type { DB } from '../store/schema.ts';
import { insertEvents } from './transitions.ts';

/**
 * Cancels a message that has not been handed to a sender: `accepted`, or
 * `queued` while it waits for a retry (no lease). A message a sender holds may
 * be on its way to the operator already, so it cannot be cancelled. Returns
 * the status change, or null when the message is not there or too far along.
 */
export async function cancelMessage(db: Kysely<DB>, accountId: string, messageId: string, now = Date.now()): Promise<StatusChange[] | null> {
  return db.transaction().execute(async (tx) => {
    const moved = await tx
      .updateTable('messages')
      .set({ status: 'cancelled', reason_code: 'cancelled_by_client', provider_code: null, reason_detail: null, completed_at: now, updated_at: now })
      .where('account_id', '=', accountId)
      .where('id', '=', messageId)
      .where((eb) => eb.or([eb('status', '=', 'accepted'), eb.and([eb('status', '=', 'queued'), eb('lease_until', 'is', null)])]))
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) !== 1) return null;
    return insertEvents(tx, [{ accountId, messageId, status: 'cancelled', reason: { code: 'cancelled_by_client' }, at: now }]);
  });
}
