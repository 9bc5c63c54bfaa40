import type { Kysely } from 'kysely';
import { decodeTime } from 'ulid';
import type { Logger } from '../../log.ts';
import { formatReceipt, type ReceiptStatus } from '../../smpp/receipt.ts';
import { SmppTimeoutError, type SmppSession } from '../../smpp/session.ts';
import type { DB } from '../../store/schema.ts';
import type { SmppCredentialRow } from '../../store/smpp-credentials.ts';
import { SmppReceiptsRepository, type PendingReceipt, type WaitingMark } from '../../store/smpp-receipts.ts';

/**
 * How long after its id's time an event may still commit. Event ids are made
 * from the clock inside each transaction, and in a cluster several nodes (and
 * on PostgreSQL several transactions of one node) commit side by side, so an
 * event can appear below ids already read. The stored position moves only
 * over events older than this; the newer ones are sent at once and marked in
 * the database so they are not sent twice while the position catches up.
 */
export const SETTLE_MS = 2000;

const eventTime = (id: string) => decodeTime(id.slice(id.indexOf('_') + 1));

/** The operator's `err:` code kept in a provider code like `stat:UNDELIV err:001`, if there is one. */
export function operatorErrorCode(providerCode: string | null): number | undefined {
  const err = /err:(\d+)/.exec(providerCode ?? '');
  return err ? Number(err[1]) : undefined;
}

/** The wait before a receipt the customer refused (or did not answer in time) is sent again: it doubles from the first to the last, per receipt. */
export const REFUSED_RETRY_FIRST_MS = 1000;
export const REFUSED_RETRY_MAX_MS = 300_000;

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
 * events, from the credential's stored position. Each receipt the customer
 * acknowledges (command_status 0) is done; one it refuses, or does not
 * answer, waits and is sent again by itself (a refused or timed-out one after
 * a wait that doubles from REFUSED_RETRY_FIRST_MS to REFUSED_RETRY_MAX_MS, one
 * whose bind closed first on the next round) while the receipts after it go on, until it is acknowledged or older than the
 * credential's `receipt_hold_seconds`, when it is dropped. Receipts older
 * than `receipt_hold_seconds` are skipped.
 *
 * Nothing is kept in memory between rounds: each round's outcome is recorded
 * in the database at its end (SmppReceiptsRepository.record), the waiting
 * receipts and the acknowledged ones the position may not pass yet (newer
 * than SETTLE_MS) as marks, and the stored position moves over every settled
 * event, waiting receipts included. So memory stays flat however long a
 * receipt is refused, and whoever sends next (this sender after a rebind, the
 * gateway after a restart, another smpp node taking the feed) sends again
 * the receipts sent and not acknowledged (at least once) and never one that
 * was acknowledged, unless the process died between the acknowledgement and
 * the end of its round (at most one round, `batch` receipts, comes twice).
 */
export class ReceiptSender {
  readonly #repo: SmppReceiptsRepository;
  readonly #options: ReceiptSenderOptions;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = false;

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

  get stopped(): boolean {
    return this.#stopped;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#running) await this.#running;
  }

  /**
   * Resolves once no round is in progress (its outcome recorded): another
   * node taking this login's feed then finds every receipt sent here either
   * acknowledged or waiting (cluster/smpp-customers.ts).
   */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  #send(session: SmppSession, r: PendingReceipt) {
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
  }

  async #pump(): Promise<void> {
    const { credential, log } = this.#options;
    const batch = this.#options.batch ?? 200;
    while (!this.#stopped) {
      const session = this.#options.receiver();
      if (!session) return; // held until a receiver or transceiver binds
      const now = Date.now();
      const oldest = now - credential.receipt_hold_seconds * 1000;
      const { receipts, looked, from, marks } = await this.#repo.next(credential.account_id, credential.id, batch);
      if (from === undefined) return;
      // Waiting receipts past the hold time are dropped; the ones due go again, before the new ones (they are older).
      const { due, expired } = await this.#repo.waiting(credential.account_id, credential.id, now, oldest, batch);
      for (const w of expired) log.warn({ eventId: w.eventId, refusals: w.refusals }, 'SMPP receipt not acknowledged within receipt_hold_seconds; dropped');
      const isReceipt = new Map(receipts.map((r) => [r.eventId, r]));
      const round: { receipt: PendingReceipt; mark: WaitingMark }[] = [...due];
      for (const id of looked) {
        const r = isReceipt.get(id);
        if (r && r.at >= oldest && !marks.has(id)) round.push({ receipt: r, mark: { eventId: id, refusals: 0, dueAt: 0, at: r.at } });
      }
      const results = await Promise.allSettled(round.map((w) => this.#send(session, w.receipt)));
      const answeredAt = Date.now();
      const acked: string[] = [];
      const waiting: WaitingMark[] = [];
      results.forEach((result, i) => {
        const { receipt, mark } = round[i]!;
        if (result.status === 'fulfilled' && result.value.status === 0) return void acked.push(mark.eventId);
        if (result.status === 'fulfilled' || result.reason instanceof SmppTimeoutError) {
          // Refused, or not answered within the response timeout (a customer that drops it would otherwise hold every
          // round for that timeout): sent again by itself after a growing wait; the receipts after it do not wait for it.
          const refusals = mark.refusals + 1;
          waiting.push({ ...mark, refusals, dueAt: answeredAt + Math.min(REFUSED_RETRY_MAX_MS, REFUSED_RETRY_FIRST_MS * 2 ** (refusals - 1)) });
          if (refusals === 1)
            log.warn(
              { messageId: receipt.messageId, ...(result.status === 'fulfilled' ? { commandStatus: result.value.status } : { err: result.reason }) },
              result.status === 'fulfilled' ? 'the customer refused an SMPP receipt; sending it again later' : 'the customer did not answer an SMPP receipt; sending it again later',
            );
        } else waiting.push({ ...mark, dueAt: 0 }); // the bind is gone (or going) before an answer: again on the next round, on the bind there is then
      });
      // The position moves over the settled events (the ids are in time order: a prefix of them), each now
      // acknowledged, waiting (marked), or wanting no receipt; the newer ones are read again, their marks skip them.
      const cutoff = now - SETTLE_MS;
      let position: string | undefined;
      for (const id of looked) {
        if (eventTime(id) >= cutoff) break;
        position = id;
      }
      await this.#repo.record(credential.id, { acked, waiting, dropped: expired.map((w) => w.eventId), from, position }, answeredAt);
      // Go on while a full batch moved the position (more may wait behind); else the once-a-second wake looks again.
      if (position === undefined || looked.length < batch) return;
    }
  }
}
