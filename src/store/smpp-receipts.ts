import type { Kysely } from 'kysely';
import type { DB } from './schema.ts';

/** A final status of a message a customer submitted over SMPP, to be sent to them as a receipt. */
export interface PendingReceipt {
  eventId: string;
  messageId: string;
  status: string;
  reasonCode: string | null;
  providerCode: string | null;
  at: number;
  /** the addresses of the submit, echoed (swapped) in the receipt */
  sourceAddr: string;
  destinationAddr: string;
  /** when the message was accepted (the receipt's `submit date`) */
  submittedAt: number;
  body: string;
}

const FINAL = ['delivered', 'undelivered', 'expired', 'rejected', 'failed', 'cancelled'];

/**
 * The receipts owed to SMPP customers, read from `message_events` after each
 * credential's stored position. Nothing is copied into a queue: the events
 * are the durable log, so a receipt survives restarts and waits, in order,
 * while the customer has no receiving bind.
 */
export class SmppReceiptsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /**
   * The next receipts of a credential, oldest first. Events that want no
   * receipt (registered_delivery 0, or 2 and delivered) are skipped; `last`
   * is the last event looked at, so the position can move past them. Read
   * after `after` when given (a reader ahead of the stored position), else
   * after the stored position, which `from` returns.
   */
  async next(
    accountId: string,
    credentialId: string,
    limit: number,
    after?: string,
  ): Promise<{ receipts: PendingReceipt[]; last: string | undefined; looked: string[]; from: string | undefined }> {
    const cursor = await this.#db.selectFrom('smpp_receipt_cursors').select('last_event_id').where('credential_id', '=', credentialId).executeTakeFirst();
    if (!cursor) return { receipts: [], last: undefined, looked: [], from: undefined };
    const from = after !== undefined && after > cursor.last_event_id ? after : cursor.last_event_id;
    const rows = await this.#db
      .selectFrom('message_events as e')
      .innerJoin('smpp_submits as s', 's.message_id', 'e.message_id')
      .innerJoin('messages as m', 'm.id', 'e.message_id')
      .select([
        'e.id as eventId',
        'e.message_id as messageId',
        'e.status as status',
        'e.reason_code as reasonCode',
        'e.provider_code as providerCode',
        'e.created_at as at',
        's.source_addr as sourceAddr',
        's.destination_addr as destinationAddr',
        's.registered_delivery as registeredDelivery',
        'm.created_at as submittedAt',
        'm.body as body',
      ])
      .where('e.account_id', '=', accountId)
      .where('e.id', '>', from)
      .where('s.credential_id', '=', credentialId)
      .where('e.status', 'in', FINAL)
      .orderBy('e.id')
      .limit(limit)
      .execute();
    const receipts = rows
      .filter((r) => r.registeredDelivery === 1 || (r.registeredDelivery === 2 && r.status !== 'delivered'))
      .map(({ registeredDelivery: _, ...r }) => r);
    return { receipts, last: rows.at(-1)?.eventId, looked: rows.map((r) => r.eventId), from: cursor.last_event_id };
  }

  /** Moves the credential's position: every receipt up to this event is sent (or skipped). */
  async advance(credentialId: string, eventId: string, now = Date.now()): Promise<void> {
    await this.#db
      .updateTable('smpp_receipt_cursors')
      .set({ last_event_id: eventId, updated_at: now })
      .where('credential_id', '=', credentialId)
      .where('last_event_id', '<', eventId)
      .execute();
  }
}
