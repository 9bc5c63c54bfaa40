import type { Message, MessageStatus, Page, Reason } from './api.ts';

/**
 * How far along a status is (docs/statuses.md): `accepted → queued → sent →`
 * a final one; `read` after `delivered`. A message only moves forward, so a
 * status of lower rank never replaces a higher one.
 */
const RANK: Readonly<Record<MessageStatus, number>> = {
  accepted: 0,
  queued: 1,
  sent: 2,
  delivered: 3,
  undelivered: 3,
  failed: 3,
  expired: 3,
  rejected: 3,
  cancelled: 3,
  read: 4,
};

/** Whether a message showing `from` may move to `to`: forward only; a final status changes only `delivered → read`. */
export function movesForward(from: MessageStatus, to: MessageStatus): boolean {
  if (RANK[from] >= 3) return from === 'delivered' && to === 'read';
  return RANK[to] > RANK[from];
}

export interface KnownStatus {
  status: MessageStatus;
  reason: Reason | null;
  /** when the message was sent and delivered, from the events that said so (their time is the message's) */
  sent_at?: string;
  delivered_at?: string;
}

/** A status change as the event stream tells it. */
export interface StatusNews {
  status: MessageStatus;
  reason: Reason | null;
  /** the event's time */
  at?: string;
}

type Row = Pick<Message, 'id' | 'status' | 'reason'> & { sent_at?: string | null; delivered_at?: string | null };

/**
 * The latest status the event stream told of, per message. Lists and message
 * pages that arrive after an event (their fetch was in flight when it came)
 * are patched with it, and an event that comes late never sets a row back.
 * The oldest entries are forgotten past `capacity`: by then every page that
 * holds them has been fetched after their events.
 */
export class LatestStatuses {
  readonly #known = new Map<string, KnownStatus>();
  readonly #capacity: number;

  constructor(capacity = 10_000) {
    this.#capacity = capacity;
  }

  /** Remembers a status change; false when it is not news (an older or repeated status). */
  record(id: string, news: StatusNews): boolean {
    const current = this.#known.get(id);
    if (current && !movesForward(current.status, news.status)) return false;
    const next: KnownStatus = { status: news.status, reason: news.reason };
    const sentAt = news.status === 'sent' ? news.at : current?.sent_at;
    const deliveredAt = news.status === 'delivered' ? news.at : current?.delivered_at;
    if (sentAt !== undefined) next.sent_at = sentAt;
    if (deliveredAt !== undefined) next.delivered_at = deliveredAt;
    this.#known.delete(id);
    this.#known.set(id, next);
    if (this.#known.size > this.#capacity) this.#known.delete(this.#known.keys().next().value!);
    return true;
  }

  get(id: string): KnownStatus | undefined {
    return this.#known.get(id);
  }

  /**
   * The row with the latest known status (and the sent and delivery times it
   * lacks) when that is further along than its own; the same object when not.
   */
  patch<T extends Row>(row: T): T {
    const known = this.#known.get(row.id);
    if (!known || !movesForward(row.status, known.status)) return row;
    const patched: T = { ...row, status: known.status, reason: known.reason };
    if (!row.sent_at && known.sent_at !== undefined) patched.sent_at = known.sent_at;
    if (!row.delivered_at && known.delivered_at !== undefined) patched.delivered_at = known.delivered_at;
    return patched;
  }

  /** The page with its rows patched; the same object when no row changed. */
  patchPage<T extends Row>(page: Page<T>): Page<T> {
    let changed = false;
    const data = page.data.map((m) => {
      const patched = this.patch(m);
      if (patched !== m) changed = true;
      return patched;
    });
    return changed ? { ...page, data } : page;
  }
}
