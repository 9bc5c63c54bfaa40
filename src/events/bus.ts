import { EventEmitter } from 'node:events';
import type { MessageStatus } from '../domain/statuses.ts';

/** A message moved to a new status (after the change is committed). */
export interface StatusChange {
  /** the `message_events` row that records this change (`evt_…`): ids grow in commit order on SQLite */
  eventId: string;
  accountId: string;
  messageId: string;
  status: MessageStatus;
  reasonCode: string | null;
  /** the provider's raw code that came with the reason, if any */
  providerCode: string | null;
  at: number;
}

/**
 * The in-process event bus: the pipeline publishes committed status changes,
 * subscribers (metrics, the SMPP server's receipt feeds, the live stream of
 * `events/live.ts`; webhooks later) react. A slow or
 * failing subscriber never affects the pipeline.
 */
export class EventBus {
  readonly #emitter = new EventEmitter({ captureRejections: false });

  constructor() {
    this.#emitter.setMaxListeners(100);
  }

  publishStatus(changes: StatusChange[]): void {
    if (changes.length === 0) return;
    for (const listener of this.#emitter.listeners('status')) {
      try {
        (listener as (c: StatusChange[]) => void)(changes);
      } catch {
        // A subscriber's bug must not break delivery.
      }
    }
  }

  onStatus(listener: (changes: StatusChange[]) => void): () => void {
    this.#emitter.on('status', listener);
    return () => this.#emitter.off('status', listener);
  }
}
