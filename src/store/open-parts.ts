import type { Kysely } from 'kysely';
import type { OpenPart, OpenPartsQuery } from '../connectors/types.ts';
import { SENT_CONDITION } from './migrations/009-sent-expiry.ts';
import type { DB } from './schema.ts';

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
