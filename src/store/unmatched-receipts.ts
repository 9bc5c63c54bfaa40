import type { Kysely, Selectable } from 'kysely';
import type { DB, UnmatchedReceiptsTable } from './schema.ts';

export type UnmatchedReceipt = Selectable<UnmatchedReceiptsTable>;

/**
 * Receipts no sent part matched. They belong to a connector, not to an
 * account (nobody knows whose they are), so only administrators read them.
 */
export class UnmatchedReceiptsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** Newest first, `limit` rows older than `beforeId`. */
  async list(connectorId: string, options: { beforeId?: string | undefined; limit: number }): Promise<UnmatchedReceipt[]> {
    let q = this.#db.selectFrom('unmatched_receipts').selectAll().where('connector_id', '=', connectorId);
    if (options.beforeId !== undefined) q = q.where('id', '<', options.beforeId);
    return q.orderBy('id', 'desc').limit(options.limit).execute();
  }
}
