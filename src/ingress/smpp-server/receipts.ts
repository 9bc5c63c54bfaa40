import type { Kysely } from 'kysely';
import { decodeTime } from 'ulid';
import type { Logger } from '../../log.ts';
import { formatReceipt, type ReceiptStatus } from '../../smpp/receipt.ts';
import type { SmppSession } from '../../smpp/session.ts';
import type { DB } from '../../store/schema.ts';
import type { SmppCredentialRow } from '../../store/smpp-credentials.ts';
import { SmppReceiptsRepository } from '../../store/smpp-receipts.ts';

/**
 * How long after its id's time an event may still commit. Event ids are made
 * from the clock inside each transaction, and in a cluster several nodes (and
 * on PostgreSQL several transactions of one node) commit side by side, so an
 * event can appear below ids already read. The stored position moves only
 * over events older than this; the newer ones are sent at once and kept in
 * memory so they are not sent twice while the position catches up.
 */
export const SETTLE_MS = 2000;

const eventTime = (id: string) => decodeTime(id.slice(id.indexOf('_') + 1));

/** The operator's `err:` code kept in a provider code like `stat:UNDELIV err:001`, if there is one. */
export function operatorErrorCode(providerCode: string | null): number | undefined {
  const err = /err:(\d+)/.exec(providerCode ?? '');
  return err ? Number(err[1]) : undefined;
}

export interface ReceiptSenderOptions {
  db: Kysely<DB>;
  credential: SmppCredentialRow;
  log: Logger;
  /** a receiving bind of the customer now, if there is one */
  receiver: () => SmppSession | undefined;
  /** receipts read and sent per round, default 200 */
  batch?: number;
}

/**
 * Sends one customer's receipts as `deliver_sm`, in the order of the stored
 * events, from the credential's stored position. The position moves only after
 * the customer has acknowledged every receipt of a round, so a receipt is sent
 * at least once: a lost connection means the round is sent again. Receipts
 * older than the credential's `receipt_hold_seconds` are skipped.
 */
export class ReceiptSender {
  readonly #repo: SmppReceiptsRepository;
  readonly #options: ReceiptSenderOptions;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = false;
  /** ids of events sent and above the stored position (not settled yet) */
  readonly #sent = new Set<string>();

  constructor(options: ReceiptSenderOptions) {
    this.#options = options;
    this.#repo = new SmppReceiptsRepository(options.db);
  }

  /** Something may be waiting: look now (or right after the round in progress). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#pump()
      .catch((err: unknown) => this.#options.log.error({ err }, 'sending SMPP receipts failed; trying again shortly'))
      .finally(() => {
        this.#running = null;
        if (this.#again) {
          this.#again = false;
          this.wake();
        }
      });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#running) await this.#running;
  }

  /**
   * The ids of the receipts sent above the stored position, once the round in
   * progress is over: what another node taking this login's feed must not
   * send again (cluster/smpp-customers.ts).
   */
  async sentIds(): Promise<string[]> {
    if (this.#running) await this.#running;
    return [...this.#sent];
  }

  /** Receipts another node sent above the stored position: not sent again here. */
  skip(ids: readonly string[]): void {
    for (const id of ids) this.#sent.add(id);
  }

  async #pump(): Promise<void> {
    const { credential } = this.#options;
    const batch = this.#options.batch ?? 200;
    while (!this.#stopped) {
      const session = this.#options.receiver();
      if (!session) return; // held until a receiver or transceiver binds
      const { receipts, last, looked } = await this.#repo.next(credential.account_id, credential.id, batch);
      if (last === undefined) return;
      const now = Date.now();
      const oldest = now - credential.receipt_hold_seconds * 1000;
      const fresh = receipts.filter((r) => r.at >= oldest && !this.#sent.has(r.eventId));
      const results = await Promise.allSettled(
        fresh.map((r) => {
          const receipt = formatReceipt({
            messageId: r.messageId,
            status: r.status as ReceiptStatus,
            submitDate: r.submittedAt,
            doneDate: r.at,
            errorCode: operatorErrorCode(r.providerCode) ?? (r.status === 'delivered' ? 0 : 1),
            text: r.body,
          });
          return session.request({
            command: 'deliver_sm',
            // The receipt travels back: from the recipient to the customer's sender address.
            sourceAddr: r.destinationAddr,
            sourceAddrTon: 1,
            sourceAddrNpi: 1,
            destinationAddr: r.sourceAddr,
            esmClass: receipt.esmClass,
            dataCoding: receipt.dataCoding,
            shortMessage: receipt.shortMessage,
            tlvs: receipt.tlvs,
          });
        }),
      );
      const failed = results.find((r) => r.status === 'rejected' || r.value.status !== 0);
      if (failed) return; // not acknowledged: the round is sent again on the next wake
      for (const r of fresh) this.#sent.add(r.eventId);
      // The position moves over the settled events only (the ids are in time order: a prefix of them).
      const cutoff = now - SETTLE_MS;
      let settled: string | undefined;
      for (const id of looked) {
        if (eventTime(id) >= cutoff) break;
        settled = id;
      }
      if (settled !== undefined) {
        await this.#repo.advance(credential.id, settled);
        for (const id of this.#sent) if (id <= settled) this.#sent.delete(id);
      }
      // Nothing new, and the rest not settled yet: the once-a-second wake looks again.
      if (fresh.length === 0 && settled !== last) return;
    }
  }
}
