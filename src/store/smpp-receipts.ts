import type { Kysely } from 'kysely';
import type { DB } from './schema.ts';
import { fixedChunks, inLists } from './shapes.ts';

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

/** A receipt sent and not acknowledged, as kept in `smpp_receipt_marks`. */
export interface WaitingMark {
  eventId: string;
  /** refusals and response timeouts so far (a bind closed before the answer does not count) */
  refusals: number;
  /** not sent again before this time */
  dueAt: number;
  /** the receipt's own time (its event's): dropped once older than receipt_hold_seconds */
  at: number;
}

/** What one round of sending settled, recorded at once (SmppReceiptsRepository.record). */
export interface ReceiptRound {
  /** receipts the customer acknowledged */
  acked: string[];
  /** receipts sent and not acknowledged: sent again by themselves */
  waiting: WaitingMark[];
  /** waiting receipts given up (older than receipt_hold_seconds) */
  dropped: string[];
  /** the stored position the round read from */
  from: string;
  /** the stored position moves up to here: every event up to it is acknowledged, waiting, dropped or wants no receipt */
  position: string | undefined;
}

const FINAL = ['delivered', 'undelivered', 'expired', 'rejected', 'failed', 'cancelled'];

/**
 * The receipts owed to SMPP customers, read from `message_events` after each
 * credential's stored position. Nothing is copied into a queue: the events
 * are the durable log, so a receipt survives restarts and waits, in order,
 * while the customer has no receiving bind. What was sent above the position
 * (waiting for an acknowledgement, or acknowledged and not yet passed) is kept
 * in `smpp_receipt_marks`, so the position need not wait for it.
 */
export class SmppReceiptsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  #receipts(accountId: string, credentialId: string) {
    return this.#db
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
      .where('s.credential_id', '=', credentialId)
      .where('e.status', 'in', FINAL);
  }

  /**
   * The next events of a credential after its stored position (`from`),
   * oldest first: `looked` is every final event looked at, `receipts` those
   * that want a receipt (registered_delivery 1, or 2 and not delivered), and
   * `marks` what was already sent of them (acknowledged, or waiting).
   */
  async next(
    accountId: string,
    credentialId: string,
    limit: number,
  ): Promise<{ receipts: PendingReceipt[]; looked: string[]; from: string | undefined; marks: Map<string, 'waiting' | 'acked'> }> {
    const cursor = await this.#db.selectFrom('smpp_receipt_cursors').select('last_event_id').where('credential_id', '=', credentialId).executeTakeFirst();
    if (!cursor) return { receipts: [], looked: [], from: undefined, marks: new Map() };
    const from = cursor.last_event_id;
    const rows = await this.#receipts(accountId, credentialId).where('e.id', '>', from).orderBy('e.id').limit(limit).execute();
    const receipts = rows
      .filter((r) => r.registeredDelivery === 1 || (r.registeredDelivery === 2 && r.status !== 'delivered'))
      .map(({ registeredDelivery: _, ...r }) => r);
    const last = rows.at(-1)?.eventId;
    const marks =
      last === undefined
        ? []
        : await this.#db
            .selectFrom('smpp_receipt_marks')
            .select(['event_id', 'state'])
            .where('credential_id', '=', credentialId)
            .where('event_id', '>', from)
            .where('event_id', '<=', last)
            .execute();
    return { receipts, looked: rows.map((r) => r.eventId), from, marks: new Map(marks.map((m) => [m.event_id, m.state])) };
  }

  /**
   * Waiting receipts due to be sent again (`due`, with their receipts, oldest
   * first) and those to give up, older than `oldest` (`expired`), at most
   * `limit` of each.
   */
  async waiting(
    accountId: string,
    credentialId: string,
    now: number,
    oldest: number,
    limit: number,
  ): Promise<{ due: { receipt: PendingReceipt; mark: WaitingMark }[]; expired: WaitingMark[] }> {
    const waiting = this.#db
      .selectFrom('smpp_receipt_marks')
      .select(['event_id', 'refusals', 'due_at', 'receipt_at'])
      .where('credential_id', '=', credentialId)
      .where('state', '=', 'waiting');
    const mark = (r: { event_id: string; refusals: number; due_at: number; receipt_at: number }): WaitingMark => ({ eventId: r.event_id, refusals: r.refusals, dueAt: Number(r.due_at), at: Number(r.receipt_at) });
    // Two reads, each a range of its own index that stops at `limit`: neither scans every waiting receipt of a
    // customer that refuses them all.
    const expired = (await waiting.where('receipt_at', '<', oldest).orderBy('receipt_at').limit(limit).execute()).map(mark);
    const dueMarks = (await waiting.where('due_at', '<=', now).where('receipt_at', '>=', oldest).orderBy('due_at').limit(limit).execute())
      .map(mark)
      .sort((a, b) => (a.eventId < b.eventId ? -1 : 1));
    if (dueMarks.length === 0) return { due: [], expired };
    const found = new Map<string, PendingReceipt>();
    for (const list of inLists(dueMarks.map((m) => m.eventId))) {
      for (const { registeredDelivery: _, ...r } of await this.#receipts(accountId, credentialId).where('e.id', 'in', list).execute()) found.set(r.eventId, r);
    }
    const due: { receipt: PendingReceipt; mark: WaitingMark }[] = [];
    for (const mark of dueMarks) {
      const receipt = found.get(mark.eventId);
      // Its message is gone (deleted with its account): nothing to send, the mark goes.
      if (receipt) due.push({ receipt, mark });
      else expired.push(mark);
    }
    return { due, expired };
  }

  /**
   * Records a round in one transaction: the acknowledged receipts are done
   * (marked `acked` only while above the new position), the waiting ones are
   * kept with their next time, the dropped ones go, and the position moves
   * (never back), taking with it the acknowledged marks it passes.
   */
  async record(credentialId: string, round: ReceiptRound, now = Date.now()): Promise<void> {
    const { acked, waiting, dropped, from, position } = round;
    // An acknowledged receipt above the position is marked until the position passes it (one below it, sent again, is done).
    const to = position !== undefined && position > from ? position : from;
    const above = acked.filter((id) => id > to);
    if (acked.length === 0 && waiting.length === 0 && dropped.length === 0 && position === undefined) return;
    await this.#db.transaction().execute(async (tx) => {
      const done = [...acked, ...dropped];
      for (const list of inLists(done)) await tx.deleteFrom('smpp_receipt_marks').where('credential_id', '=', credentialId).where('event_id', 'in', list).execute();
      const rows = [
        ...waiting.map((w) => ({ credential_id: credentialId, event_id: w.eventId, state: 'waiting' as const, refusals: w.refusals, due_at: w.dueAt, receipt_at: w.at })),
        ...above.map((id) => ({ credential_id: credentialId, event_id: id, state: 'acked' as const, refusals: 0, due_at: 0, receipt_at: 0 })),
      ];
      for (const chunk of fixedChunks(rows))
        await tx
          .insertInto('smpp_receipt_marks')
          .values(chunk)
          .onConflict((oc) => oc.columns(['credential_id', 'event_id']).doUpdateSet((eb) => ({ state: eb.ref('excluded.state'), refusals: eb.ref('excluded.refusals'), due_at: eb.ref('excluded.due_at') })))
          .execute();
      if (position === undefined) return;
      await tx
        .updateTable('smpp_receipt_cursors')
        .set({ last_event_id: position, updated_at: now })
        .where('credential_id', '=', credentialId)
        .where('last_event_id', '<', position)
        .execute();
      await tx.deleteFrom('smpp_receipt_marks').where('credential_id', '=', credentialId).where('state', '=', 'acked').where('event_id', '<=', position).execute();
    });
  }
}
