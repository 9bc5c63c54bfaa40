import type { Kysely } from 'kysely';
import type { DB, VerificationsTable } from './schema.ts';

export type VerificationRow = VerificationsTable;

/** Verifications of an account; every query names the account. */
export class VerificationsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async insert(row: VerificationRow): Promise<void> {
    await this.#db.insertInto('verifications').values(row).execute();
  }

  async get(accountId: string, id: string): Promise<VerificationRow | undefined> {
    return this.#db.selectFrom('verifications').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  }

  /** How many verifications the account (and, given one, the number) started since `since`. */
  async countSince(accountId: string, since: number, recipient?: string): Promise<number> {
    let q = this.#db.selectFrom('verifications').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', accountId).where('created_at', '>=', since);
    if (recipient !== undefined) q = q.where('recipient', '=', recipient);
    return Number((await q.executeTakeFirstOrThrow()).n);
  }

  /** Counts one attempt of a pending, unexpired verification; false when it is not checkable any more. */
  async countAttempt(accountId: string, id: string, now: number): Promise<boolean> {
    const r = await this.#db
      .updateTable('verifications')
      .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .whereRef('attempts', '<', 'max_attempts')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** pending → verified, expired or failed; false when another check got there first. */
  async settle(accountId: string, id: string, status: 'verified' | 'expired' | 'failed', now: number): Promise<boolean> {
    const r = await this.#db
      .updateTable('verifications')
      .set({ status, ...(status === 'verified' ? { verified_at: now } : {}) })
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }
}
