import type { InboundMessage } from '../connectors/types.ts';
import type { EventOutbox } from '../events/webhooks/outbox.ts';
import { newId } from '../domain/ids.ts';
import type { Logger } from '../log.ts';
import { normalizePhone } from '../sms/phone.ts';
import type { WriteBatcher } from '../store/write-batcher.ts';

/**
 * Stores inbound (MO) messages under the account that owns the number they
 * were sent to. A number nobody owns still keeps its message (account null),
 * so nothing a subscriber sent is lost to a missing assignment.
 */
export class InboundProcessor {
  readonly #batcher: WriteBatcher;
  readonly #log: Logger;
  readonly #region: string;
  readonly #webhooks: { outbox: EventOutbox; committed: () => void } | undefined;

  /**
   * `region`: for sender numbers written without a country code; `webhooks`:
   * the outbox that turns each message into deliveries in its transaction, and
   * what to call once that has committed.
   */
  constructor(batcher: WriteBatcher, log: Logger, region: string, webhooks?: { outbox: EventOutbox; committed: () => void }) {
    this.#batcher = batcher;
    this.#log = log;
    this.#region = region;
    this.#webhooks = webhooks;
  }

  async submit(message: InboundMessage): Promise<string> {
    const recipient = numberKey(message.to);
    const sender = normalizePhone(message.from, this.#region);
    const id = newId('inb', message.receivedAt);
    await this.#batcher.run(async (tx) => {
      const owner = await tx.selectFrom('numbers').select('account_id').where('number', '=', recipient).executeTakeFirst();
      if (!owner) this.#log.warn({ connector: message.connectorId, to: recipient }, 'inbound message to a number no account owns; kept without an account');
      const row = {
        id,
        account_id: owner?.account_id ?? null,
        connector_id: message.connectorId,
        sender: sender.ok ? sender.e164 : message.from,
        recipient,
        body: message.text,
        parts_expected: message.partsExpected,
        parts_received: message.partsReceived,
        complete: message.complete ? 1 : 0,
        received_at: message.receivedAt,
      };
      await tx.insertInto('inbound_messages').values(row).execute();
      await this.#webhooks?.outbox.inboundMessage(tx, row);
    });
    this.#webhooks?.committed();
    return id;
  }
}

/** How a number is kept in `numbers`: digits only (E.164 without "+", or a short code). */
export function numberKey(address: string): string {
  return address.replace(/[^0-9]/g, '');
}
