import type { Kysely } from 'kysely';
import { SWEEP_CONDITION } from './migrations/024-verification-sweep.ts';
import type { DB, VerificationsTable } from './schema.ts';
import { inLists, insertChunks } from './shapes.ts';

export type VerificationRow = VerificationsTable;

/** A verification whose end the sweeper handles now. */
export type EndedVerification = Pick<VerificationRow, 'id' | 'account_id' | 'message_id' | 'status' | 'expires_at'> & { sweep_at: number };

/** A part of a verification's messages that the provider may still withdraw. */
export interface RevocablePart {
  connector_id: string;
  provider_message_id: string;
}

/** Verifications of an account; every query names the account. */
export class VerificationsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** Written by the accept of its message, in the same transaction (pipeline/accept.ts: AcceptJob.verifications): a verification exists only with its message. */
  static async insert(tx: Kysely<DB>, rows: readonly VerificationRow[]): Promise<void> {
    await insertChunks(tx, 'verifications', rows);
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

  /** pending → verified, expired or failed (and due for the sweeper now); false when another check got there first. */
  async settle(accountId: string, id: string, status: 'verified' | 'expired' | 'failed', now: number): Promise<boolean> {
    const r = await this.#db
      .updateTable('verifications')
      .set({ status, sweep_at: now, ...(status === 'verified' ? { verified_at: now } : {}) })
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  // ------------------------------------------------------------ the sweeper's (delivery side, every account)

  /** Verifications whose end is due to be handled: a check ended them, or their lifetime is over. Soonest first. */
  static async due(db: Kysely<DB>, now: number, limit: number): Promise<EndedVerification[]> {
    const rows = await db
      .selectFrom('verifications')
      .select(['id', 'account_id', 'message_id', 'status', 'expires_at', 'sweep_at'])
      .where(SWEEP_CONDITION) // as in the partial index verifications_sweep, word for word
      .where('sweep_at', '<=', now)
      .orderBy('sweep_at')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ ...r, sweep_at: r.sweep_at! }));
  }

  /**
   * Takes a due verification for one sweeper until `until`: its `sweep_at`
   * moves there if nobody moved it since it was read. Returns it as taken
   * (with the new `sweep_at`), or undefined when another node took it first.
   * A sweeper that dies holding it leaves it due again at `until`.
   */
  static async claim(db: Kysely<DB>, v: EndedVerification, until: number): Promise<EndedVerification | undefined> {
    const result = await db.updateTable('verifications').set({ sweep_at: until }).where('id', '=', v.id).where('sweep_at', '=', v.sweep_at).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1 ? { ...v, sweep_at: until } : undefined;
  }

  /**
   * The parts of a verification's messages (its message, or a cascade's
   * steps) that were sent and not read: what a provider could still
   * withdraw. Queries name the account.
   */
  static async revocableParts(db: Kysely<DB>, v: Pick<EndedVerification, 'account_id' | 'message_id'>): Promise<RevocablePart[]> {
    const steps = await db.selectFrom('messages').select('id').where('account_id', '=', v.account_id).where('parent_id', '=', v.message_id).execute();
    const out: RevocablePart[] = [];
    for (const ids of inLists([v.message_id, ...steps.map((s) => s.id)])) {
      out.push(
        ...(await db
          .selectFrom('message_parts')
          .innerJoin('messages', 'messages.id', 'message_parts.message_id')
          .select(['message_parts.connector_id', 'message_parts.provider_message_id'])
          .where('message_parts.account_id', '=', v.account_id)
          .where('message_parts.message_id', 'in', ids)
          .where('messages.status', 'in', ['sent', 'delivered'])
          .execute()),
      );
    }
    return out;
  }

  /**
   * The sweeper handled it: an open one whose lifetime is over becomes
   * `expired`, and it leaves the sweep; or, with `retryAt`, it is looked at
   * again then. Only if nobody moved it meanwhile (`sweep_at` as read).
   */
  static async swept(db: Kysely<DB>, v: EndedVerification, now: number, retryAt?: number): Promise<void> {
    if (retryAt !== undefined) {
      await db.updateTable('verifications').set({ sweep_at: retryAt }).where('id', '=', v.id).where('sweep_at', '=', v.sweep_at).execute();
      return;
    }
    await db.updateTable('verifications').set({ status: 'expired' }).where('id', '=', v.id).where('status', '=', 'pending').where('expires_at', '<=', now).execute();
    await db.updateTable('verifications').set({ sweep_at: null }).where('id', '=', v.id).where('sweep_at', '=', v.sweep_at).execute();
  }
}
