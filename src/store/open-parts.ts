import type { Kysely } from 'kysely';
import type { OpenPart, OpenPartsQuery } from '../connectors/types.ts';
import { SENT_CONDITION } from './migrations/009-sent-expiry.ts';
import type { DB } from './schema.ts';
import { inLists, insertChunks } from './shapes.ts';

/**
 * A connector's parts still waiting for a status, oldest first, in pages
 * (keyset on sent_at, message_id, part_index; index `message_parts_open`).
 * Not tenant data handed to a tenant: the connector serves every account
 * routed to it and asks its provider about each part by the provider's id.
 */
export async function openParts(db: Kysely<DB>, q: OpenPartsQuery): Promise<OpenPart[]> {
  // No join here: the partial index's condition must appear exactly as written (`status = 'sent'`).
  let query = db
    .selectFrom('message_parts')
    .select(['message_id', 'part_index', 'provider_message_id', 'sent_at'])
    .where('connector_id', '=', q.connectorId)
    .where(SENT_CONDITION)
    .where('sent_at', '>=', q.sentFrom)
    .where('sent_at', '<', q.sentBefore);
  const a = q.after;
  if (a) {
    query = query.where((eb) =>
      eb.or([
        eb('sent_at', '>', a.sentAt),
        eb.and([eb('sent_at', '=', a.sentAt), eb('message_id', '>', a.messageId)]),
        eb.and([eb('sent_at', '=', a.sentAt), eb('message_id', '=', a.messageId), eb('part_index', '>', a.partIndex)]),
      ]),
    );
  }
  const rows = await query.orderBy('sent_at').orderBy('message_id').orderBy('part_index').limit(q.limit).execute();
  if (rows.length === 0) return [];
  const ids = [...new Set(rows.map((r) => r.message_id))];
  const recipients = new Map((await db.selectFrom('messages').select(['id', 'recipient']).where('id', 'in', ids).execute()).map((m) => [m.id, m.recipient]));
  return rows.map((r) => ({ messageId: r.message_id, partIndex: r.part_index, providerMessageId: r.provider_message_id, recipient: recipients.get(r.message_id) ?? '', sentAt: r.sent_at }));
}

/** A part of a long text that its provider took on an earlier attempt, while the message waits to send the rest. */
export interface TakenPart {
  /** 1 for the first part */
  part: number;
  providerId: string;
  connectorId: string;
  /** `sent`, or the status its receipt gave since */
  status: string;
  reasonCode: string | null;
  providerCode: string | null;
  concatRef: number | null;
}

/**
 * The parts already taken of these messages (a retry of a long text whose
 * other parts were deferred: SendResult.deferred), by message id; messages
 * without any are left out.
 */
export async function takenParts(db: Kysely<DB>, messages: readonly { id: string; account_id: string }[]): Promise<Map<string, TakenPart[]>> {
  const out = new Map<string, TakenPart[]>();
  const accounts = [...new Set(messages.map((m) => m.account_id))];
  for (const ids of inLists(messages.map((m) => m.id))) {
    const rows = await db
      .selectFrom('message_parts')
      .select(['message_id', 'part_index', 'provider_message_id', 'connector_id', 'status', 'reason_code', 'provider_code', 'concat_ref'])
      .where('message_id', 'in', ids)
      .where('account_id', 'in', accounts)
      .orderBy('part_index')
      .execute();
    for (const r of rows) {
      const list = out.get(r.message_id) ?? [];
      list.push({ part: r.part_index, providerId: r.provider_message_id, connectorId: r.connector_id, status: r.status, reasonCode: r.reason_code, providerCode: r.provider_code, concatRef: r.concat_ref ?? null });
      out.set(r.message_id, list);
    }
  }
  return out;
}

/**
 * Stores the parts a provider took of a message that stays `queued` for the
 * rest (SendResult.deferred): `sent` part rows, so that their receipts match
 * while the message waits, with the concatenation reference for the retry.
 * Parts stored already (an earlier attempt's) are kept as they are.
 */
export async function keepTakenParts(
  tx: Kysely<DB>,
  taken: readonly { messageId: string; accountId: string; connectorId: string; providerIds: readonly string[]; concatRef: number | undefined }[],
  now: number,
): Promise<void> {
  const rows = taken.flatMap((t) =>
    t.providerIds.flatMap((providerId, i) =>
      providerId === ''
        ? []
        : [{ message_id: t.messageId, part_index: i + 1, account_id: t.accountId, connector_id: t.connectorId, provider_message_id: providerId, status: 'sent', reason_code: null, provider_code: null, sent_at: now, done_at: null, concat_ref: t.concatRef ?? null }],
    ),
  );
  await insertChunks(tx, 'message_parts', rows, { onConflictDoNothing: ['message_id', 'part_index'] });
}
