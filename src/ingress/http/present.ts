import { presentContent, type Channel } from '../../connectors/channels.ts';
import { REASONS, isReasonCode } from '../../domain/reasons.ts';
import type { MessageStatus } from '../../domain/statuses.ts';
import type { StatusChange } from '../../events/bus.ts';
import type { TrafficType } from '../../pipeline/accept.ts';
import { segment, type SmsEncoding } from '../../sms/encoding.ts';
import { formatMoney } from '../../store/balance.ts';
import type { InboundMessageRow } from '../../store/inbound.ts';
import { parseSteps, type CascadeRow } from '../../store/cascades.ts';
import type { BatchRow, EventRow, MessageRow, PartRow } from '../../store/messages.ts';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const isoReq = (ms: number): string => new Date(ms).toISOString();

/** The API shape of a message; parts and events only on the single-message read. */
export function presentMessage(row: MessageRow, detail?: { parts: PartRow[]; events: EventRow[]; cascade?: { row: CascadeRow; children: MessageRow[]; childEvents: EventRow[] } | undefined }) {
  const reason = presentReason(row.reason_code, row.provider_code, row.reason_detail);
  const out = {
    id: row.id,
    object: 'message' as const,
    to: row.recipient,
    from: row.sender,
    text: row.body,
    channel: row.channel as Channel,
    ...presentContent(row.content),
    status: row.status as MessageStatus,
    reason,
    encoding: row.encoding as SmsEncoding,
    characters: row.characters,
    parts_count: row.parts_count,
    traffic_type: row.traffic_type as TrafficType,
    group: row.group_tag,
    project: row.project,
    reference: row.reference,
    batch_id: row.batch_id,
    connector: row.connector_id,
    attempts: row.attempts,
    ttl_seconds: row.ttl_seconds,
    send_at: iso(row.send_at),
    expires_at: isoReq(row.expires_at),
    created_at: isoReq(row.created_at),
    queued_at: iso(row.queued_at),
    sent_at: iso(row.sent_at),
    delivered_at: iso(row.delivered_at),
    completed_at: iso(row.completed_at),
    updated_at: isoReq(row.updated_at),
    operator: row.operator,
    region: row.region,
    callback_url: row.callback_url,
    ...(row.price_minor ? { price: formatMoney(Number(row.price_minor)) } : {}),
    ...(row.template_id ? { template_id: row.template_id } : {}),
    // A cascade step's message says whose step it is; other messages look as they always did.
    ...(row.parent_id ? { parent_id: row.parent_id, cascade_step: row.cascade_step ?? 1 } : {}),
  };
  if (!detail) return out;
  const stored = new Map(detail.parts.map((p) => [p.part_index, p]));
  // An SMS is sent in its segments; any other channel's message is one provider request (one part), even with no text (a template).
  const sent = row.channel === 'sms' ? segment(row.body, { encoding: row.encoding as SmsEncoding }).parts : [{ index: 1, text: row.body }];
  const parts = sent.map((p) => {
    const s = stored.get(p.index);
    return {
      index: p.index,
      text: p.text,
      status: s?.status ?? 'pending',
      // a part the provider refused has no id of its ('' in the store)
      provider_message_id: s?.provider_message_id || null,
      reason: s?.reason_code ?? null,
      provider_code: s?.provider_code ?? null,
      sent_at: iso(s?.sent_at ?? null),
      done_at: iso(s?.done_at ?? null),
    };
  });
  const events = [
    { status: 'accepted' as MessageStatus, reason: null, provider_code: null, at: isoReq(row.created_at) },
    ...detail.events.map((e) => ({ status: e.status as MessageStatus, reason: e.reason_code, provider_code: e.provider_code, at: isoReq(e.created_at) })),
  ];
  if (!detail.cascade) return { ...out, parts, events };
  return { ...out, ...presentCascade(row, events, detail.cascade) };
}

/** A cascade's message: its steps, and one timeline of its own events and its steps' (docs/api.md#cascade). */
function presentCascade(
  row: MessageRow,
  own: { status: MessageStatus; reason: string | null; provider_code: string | null; at: string }[],
  c: { row: CascadeRow; children: MessageRow[]; childEvents: EventRow[] },
) {
  const steps = parseSteps(c.row);
  const byStep = new Map(c.children.map((m) => [m.cascade_step ?? 0, m]));
  const child = new Map(c.children.map((m) => [m.id, m]));
  type Entry = { status: MessageStatus; reason: string | null; provider_code: string | null; at: string; message_id: string; step?: number; channel: string; key: string };
  // Within one millisecond: the parent's acceptance, then its steps' acceptance, then the steps' changes, then the
  // parent's own changes, which follow from them (a step delivered decides the parent in the same transaction).
  const timeline: Entry[] = own.map((e, i) => ({ ...e, message_id: row.id, channel: row.channel, key: `${e.at}|${e.status === 'accepted' ? 0 : 3}|${String(i).padStart(4, '0')}` }));
  for (const m of c.children) timeline.push({ status: 'accepted', reason: null, provider_code: null, at: isoReq(m.created_at), message_id: m.id, step: m.cascade_step ?? 0, channel: m.channel, key: `${isoReq(m.created_at)}|1|${m.id}` });
  for (const e of c.childEvents) {
    const m = child.get(e.message_id)!;
    timeline.push({ status: e.status as MessageStatus, reason: e.reason_code, provider_code: e.provider_code, at: isoReq(e.created_at), message_id: m.id, step: m.cascade_step ?? 0, channel: m.channel, key: `${isoReq(e.created_at)}|2|${e.id}` });
  }
  timeline.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const decided = c.row.decided_step === null ? undefined : byStep.get(c.row.decided_step);
  return {
    // The parent itself is never sent: its steps' messages have the parts.
    parts: [],
    cascade: {
      status: c.row.status as 'running' | 'done',
      current_step: c.row.step,
      decided_by: decided ? { step: decided.cascade_step ?? 0, channel: decided.channel, message_id: decided.id } : null,
      steps: steps.map((s, i) => {
        const m = byStep.get(i + 1);
        return { step: i + 1, channel: s.channel, connector: s.connector, until: s.until, timeout_seconds: s.timeout_seconds, message_id: m?.id ?? null, status: (m?.status ?? null) as MessageStatus | null };
      }),
    },
    events: timeline.map(({ key: _key, ...e }) => e),
  };
}

/** The API shape of an inbound (MO) message. */
export function presentInbound(r: InboundMessageRow) {
  return {
    id: r.id,
    from: r.sender,
    to: r.recipient,
    text: r.body,
    complete: r.complete === 1,
    parts_expected: r.parts_expected,
    parts_received: r.parts_received,
    connector_id: r.connector_id,
    received_at: isoReq(r.received_at),
  };
}

/** The API shape of a batch, with its messages counted by current status. */
export function presentBatch(batch: BatchRow, counts: Record<string, number>) {
  return { id: batch.id, object: 'batch' as const, total: batch.total, accepted: batch.accepted, rejected: batch.rejected, counts, created_at: isoReq(batch.created_at) };
}

/** A reason code and the provider's code as the API's reason object; null without a known code. */
function presentReason(code: string | null, providerCode: string | null, detail?: string | null) {
  if (!code || !isReasonCode(code)) return null;
  const reason = { code, description: REASONS[code].description, permanent: REASONS[code].permanent, provider_code: providerCode };
  // The message's reason says in words what the provider or the gateway reported; status events carry the code only.
  return detail === undefined ? reason : { ...reason, detail };
}

/**
 * A status change in the event envelope of webhooks and the stream:
 * `{id, type: "message.<status>", created_at, data: {message_id, status, reason}}`.
 * The history (`GET /v1/messages/{id}/events`) and the stream use this one shape.
 */
export function presentEvent(e: Pick<StatusChange, 'eventId' | 'messageId' | 'status' | 'reasonCode' | 'providerCode' | 'at'>) {
  return {
    id: e.eventId,
    type: `message.${e.status}`,
    created_at: isoReq(e.at),
    data: { object: 'status_change' as const, message_id: e.messageId, status: e.status, reason: presentReason(e.reasonCode, e.providerCode) },
  };
}

/** A stored event row as a status change. */
export function eventFromRow(e: EventRow): StatusChange {
  return { eventId: e.id, accountId: e.account_id, messageId: e.message_id, status: e.status as MessageStatus, reasonCode: e.reason_code, providerCode: e.provider_code, at: e.created_at };
}

/**
 * The `accepted` step, which is not stored: it happens when the message is
 * written. Its id is the message id's body under the event prefix, so it sorts
 * at the message's creation, before every stored event of the message.
 */
export function acceptedEvent(row: MessageRow): StatusChange {
  return { eventId: `evt_${row.id.slice(row.id.indexOf('_') + 1)}`, accountId: row.account_id, messageId: row.id, status: 'accepted', reasonCode: null, providerCode: null, at: row.created_at };
}
