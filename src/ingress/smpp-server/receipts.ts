import type { Kysely } from 'kysely';
import { decodeTime } from 'ulid';
import type { Logger } from '../../log.ts';
import { formatReceipt, type ReceiptStatus } from '../../smpp/receipt.ts';
import type { SmppSession } from '../../smpp/session.ts';
import type { DB } from '../../store/schema.ts';
import type { SmppCredentialRow } from '../../store/smpp-credentials.ts';
import { SmppReceiptsRepository, type PendingReceipt } from '../../store/smpp-receipts.ts';

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

/** The wait before a receipt the customer refused is sent again: it doubles from the first to the last, per receipt. */
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

/** A receipt sent and not acknowledged: sent again by itself, after a wait when the customer refused it. */
interface Unacknowledged {
  receipt: PendingReceipt;
  /** the event read before it: the stored position may move up to there while it waits */
  before: string;
  /** refusals so far (a response that never came does not count) */
  refusals: number;
  /** not sent again before this time */
  dueAt: number;
}

/**
 * Sends one customer's receipts as `deliver_sm`, in the order of the stored
 * events, from the credential's stored position. Each receipt the customer
 * acknowledges (command_status 0) is done; one it refuses, or does not
 * answer, waits and is sent again by itself (a refused one after a wait that
 * doubles from REFUSED_RETRY_FIRST_MS to REFUSED_RETRY_MAX_MS) while the
 * receipts after it go on, until it is acknowledged or older than the
 * credential's `receipt_hold_seconds`, when it is dropped. The stored position
 * moves over the receipts done only, never past one still waiting, so a
 * receipt is sent at least once: after a restart the ones not acknowledged
 * are sent again. Receipts older than `receipt_hold_seconds` are skipped.
 */
export class ReceiptSender {
  readonly #repo: SmppReceiptsRepository;
  readonly #options: ReceiptSenderOptions;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = false;
  /** ids of events acknowledged (or handed over as sent) above the stored position */
  readonly #sent = new Set<string>();
  /** receipts sent and not acknowledged, by event id */
  readonly #waiting = new Map<string, Unacknowledged>();
  /** every event up to this one (settled) is done or waiting: reading goes on after it, ahead of the stored position */
  #readTo: string | undefined;

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
   * The ids of the receipts sent above the stored position, once the round in
   * progress is over: what another node taking this login's feed must not
   * send again (cluster/smpp-customers.ts). Receipts waiting for an
   * acknowledgement are not among them: the next node sends them again.
   */
  async sentIds(): Promise<string[]> {
    if (this.#running) await this.#running;
    return [...this.#sent];
  }

  /**
   * This node takes the login's feed: reading starts again from the stored
   * position, and the receipts another node sent above it are not sent again.
   */
  skip(ids: readonly string[]): void {
    this.#readTo = undefined;
    this.#waiting.clear();
    for (const id of ids) this.#sent.add(id);
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
      const { receipts, last, looked, from } = await this.#repo.next(credential.account_id, credential.id, batch, this.#readTo);
      if (from === undefined) return;
      const now = Date.now();
      const oldest = now - credential.receipt_hold_seconds * 1000;
      // Waiting receipts past the hold time are dropped; the ones due go again, before the new ones (they are older).
      const due: Unacknowledged[] = [];
      for (const [id, w] of [...this.#waiting].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
        if (w.receipt.at < oldest) {
          this.#waiting.delete(id);
          log.warn({ messageId: w.receipt.messageId, refusals: w.refusals }, 'SMPP receipt not acknowledged within receipt_hold_seconds; dropped');
        } else if (w.dueAt <= now) due.push(w);
      }
      const fresh: Unacknowledged[] = [];
      let before = this.#readTo !== undefined && this.#readTo > from ? this.#readTo : from;
      const isReceipt = new Map(receipts.map((r) => [r.eventId, r]));
      for (const id of looked) {
        const r = isReceipt.get(id);
        if (r && r.at >= oldest && !this.#sent.has(id) && !this.#waiting.has(id)) fresh.push({ receipt: r, before, refusals: 0, dueAt: 0 });
        before = id;
      }
      const round = [...due, ...fresh];
      const results = await Promise.allSettled(round.map((w) => this.#send(session, w.receipt)));
      const answeredAt = Date.now();
      results.forEach((result, i) => {
        const w = round[i]!;
        const id = w.receipt.eventId;
        if (result.status === 'fulfilled' && result.value.status === 0) {
          this.#waiting.delete(id);
          this.#sent.add(id);
          return;
        }
        if (result.status === 'fulfilled') {
          // Refused: sent again by itself after a growing wait; the receipts after it do not wait for it.
          w.refusals++;
          w.dueAt = answeredAt + Math.min(REFUSED_RETRY_MAX_MS, REFUSED_RETRY_FIRST_MS * 2 ** (w.refusals - 1));
          if (w.refusals === 1) log.warn({ messageId: w.receipt.messageId, commandStatus: result.value.status }, 'the customer refused an SMPP receipt; sending it again later');
        } else w.dueAt = 0; // no answer (timed out, or the bind is gone): again on the next round
        this.#waiting.set(id, w);
      });
      // Reading moves over the settled events (the ids are in time order: a prefix of them), every one now done or waiting.
      const cutoff = now - SETTLE_MS;
      const readFrom = this.#readTo;
      for (const id of looked) {
        if (eventTime(id) >= cutoff) break;
        if (this.#readTo === undefined || id > this.#readTo) this.#readTo = id;
      }
      // The stored position moves over what reading settled, up to the first receipt still waiting, never past it.
      let position = this.#readTo;
      if (position !== undefined) for (const w of this.#waiting.values()) if (w.before < position) position = w.before;
      if (position !== undefined && position > from) {
        await this.#repo.advance(credential.id, position);
        for (const id of this.#sent) if (id <= position) this.#sent.delete(id);
      }
      // Go on while reading moved (more may wait behind); else the once-a-second wake looks again.
      if (last === undefined || this.#readTo === readFrom) return;
    }
  }
}
