import type { Subscription } from '../../store/webhooks.ts';

/** Event types a subscription may ask for (`<resource>.<event>`). */
export const WEBHOOK_EVENT_TYPES = [
  'message.queued',
  'message.sent',
  'message.delivered',
  'message.read',
  'message.undelivered',
  'message.failed',
  'message.expired',
  'message.rejected',
  'message.cancelled',
  'inbound_message.received',
  'batch.completed',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * The subscriptions, held in memory by the delivery thread: the outbox asks
 * them, for every committed event, where it must go, without a query (an
 * account without subscriptions costs nothing). Reloaded whenever the API
 * changes a subscription.
 */
export class Subscriptions {
  #byAccount = new Map<string, Subscription[]>();
  #byId = new Map<string, Subscription>();

  replace(all: readonly Subscription[]): void {
    this.#byAccount = new Map();
    this.#byId = new Map();
    for (const s of all) {
      this.#byId.set(s.id, s);
      const list = this.#byAccount.get(s.accountId) ?? [];
      list.push(s);
      this.#byAccount.set(s.accountId, list);
    }
  }

  get(id: string): Subscription | undefined {
    return this.#byId.get(id);
  }

  /** the enabled subscriptions of the account that want this event type */
  matching(accountId: string, type: string): Subscription[] {
    const list = this.#byAccount.get(accountId);
    if (!list) return [];
    return list.filter((s) => s.enabled && s.eventTypes.has(type));
  }

  /** ids of subscriptions that must not be sent to now */
  disabledIds(): string[] {
    return [...this.#byId.values()].filter((s) => !s.enabled).map((s) => s.id);
  }
}
