import type { Kysely } from 'kysely';
import { idBoundsAt } from '../domain/ids.ts';
import type { DB } from './schema.ts';

/** Counts for the cabinet's dashboard. */
export class StatsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** The account's messages made in [since, until], by status: a range on the primary key, as History's period filter. */
  async messagesByStatus(accountId: string, since: number, until: number): Promise<Record<string, number>> {
    const rows = await this.#db
      .selectFrom('messages')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('account_id', '=', accountId)
      .where('id', '>=', idBoundsAt('msg', since).lowest)
      .where('id', '<=', idBoundsAt('msg', until).highest)
      .groupBy('status')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }
}
