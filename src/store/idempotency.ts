import type { Kysely } from 'kysely';
import type { DB } from './schema.ts';

/** How long a key is remembered (API conventions: 24 h). */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/**
 * A claim whose request has not finished after this long is abandoned (its
 * process died, or the database went away before the key could be given
 * back): a retry with the key takes it over. If the first request is still
 * running after all, its answer can no longer be stored under the key, so its
 * work rolls back instead of being done twice (see `complete`).
 */
export const IDEMPOTENCY_CLAIM_STALE_MS = 30_000;

/** A key this request holds: `claimedAt` tells its claim from a later takeover. */
export interface IdempotencyHold {
  accountId: string;
  key: string;
  claimedAt: number;
}

export type IdempotencyClaim =
  | { kind: 'new'; claimedAt: number }
  | { kind: 'replay'; status: number; body: string }
  | { kind: 'mismatch' }
  | { kind: 'in_progress' };

/** Idempotency keys per account: claim before the work, complete in the work's transaction. */
export class IdempotencyRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /**
   * Claims a key for a request. Exactly one of several concurrent callers gets
   * `new`; the others see the stored answer, a body mismatch, or `in_progress`.
   */
  async claim(accountId: string, key: string, requestHash: string, now = Date.now()): Promise<IdempotencyClaim> {
    const inserted = await this.#db
      .insertInto('idempotency_keys')
      .values({ account_id: accountId, idem_key: key, request_hash: requestHash, response_status: null, response_body: null, created_at: now })
      .onConflict((oc) => oc.columns(['account_id', 'idem_key']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1) return { kind: 'new', claimedAt: now };
    const row = await this.#db
      .selectFrom('idempotency_keys')
      .select(['request_hash', 'response_status', 'response_body', 'created_at'])
      .where('account_id', '=', accountId)
      .where('idem_key', '=', key)
      .executeTakeFirst();
    if (!row || row.created_at < now - IDEMPOTENCY_TTL_MS) {
      // Gone meanwhile, or older than 24 h and not purged yet: forget it and claim afresh.
      await this.#db
        .deleteFrom('idempotency_keys')
        .where('account_id', '=', accountId)
        .where('idem_key', '=', key)
        .where('created_at', '<', now - IDEMPOTENCY_TTL_MS)
        .execute();
      return this.claim(accountId, key, requestHash, now);
    }
    if (row.request_hash !== requestHash) return { kind: 'mismatch' };
    if (row.response_status === null || row.response_body === null) {
      if (row.created_at >= now - IDEMPOTENCY_CLAIM_STALE_MS) return { kind: 'in_progress' };
      // Abandoned: taken over by this request, unless another retry took it first.
      const taken = await this.#db
        .updateTable('idempotency_keys')
        .set({ created_at: now })
        .where('account_id', '=', accountId)
        .where('idem_key', '=', key)
        .where('response_status', 'is', null)
        .where('created_at', '=', row.created_at)
        .executeTakeFirst();
      return Number(taken.numUpdatedRows) === 1 ? { kind: 'new', claimedAt: now } : { kind: 'in_progress' };
    }
    return { kind: 'replay', status: row.response_status, body: row.response_body };
  }

  /**
   * Stores the answer; call inside the transaction that writes the work, so
   * both land or neither. Throws when the claim is no longer this request's
   * (a retry took it over as abandoned): the work must then roll back.
   */
  static async complete(tx: Kysely<DB>, hold: IdempotencyHold, status: number, body: string): Promise<void> {
    const stored = await tx
      .updateTable('idempotency_keys')
      .set({ response_status: status, response_body: body })
      .where('account_id', '=', hold.accountId)
      .where('idem_key', '=', hold.key)
      .where('created_at', '=', hold.claimedAt)
      .where('response_status', 'is', null)
      .executeTakeFirst();
    if (Number(stored.numUpdatedRows) !== 1) throw new Error(`the claim on Idempotency-Key ${JSON.stringify(hold.key)} was taken over by a retry; this request's work is not stored`);
  }

  /** Gives a key back when the request failed before doing anything, so a retry can run. */
  async release(hold: IdempotencyHold): Promise<void> {
    await this.#db.deleteFrom('idempotency_keys').where('account_id', '=', hold.accountId).where('idem_key', '=', hold.key).where('created_at', '=', hold.claimedAt).where('response_status', 'is', null).execute();
  }

  /** Housekeeping: forgets keys older than 24 h. Returns how many. */
  async purgeExpired(now = Date.now()): Promise<number> {
    const result = await this.#db.deleteFrom('idempotency_keys').where('created_at', '<', now - IDEMPOTENCY_TTL_MS).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
