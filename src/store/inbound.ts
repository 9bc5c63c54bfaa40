import type { Kysely, Selectable } from 'kysely';
import type { DB, InboundMessagesTable, NumbersTable } from './schema.ts';

export type InboundMessageRow = Selectable<InboundMessagesTable>;
export type NumberRow = Selectable<NumbersTable>;

export class NumberTakenError extends Error {
  readonly accountId: string;
  constructor(number: string, accountId: string) {
    super(`number ${number} belongs to an account already`);
    this.name = 'NumberTakenError';
    this.accountId = accountId;
  }
}

/** Which account owns which number, and the inbound messages to them. */
export class InboundRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** Assigns a number (digits only) to an account; administrators only, so not scoped by account. */
  async assignNumber(number: string, accountId: string, now = Date.now()): Promise<NumberRow> {
    const row = { number, account_id: accountId, created_at: now };
    try {
      await this.#db.insertInto('numbers').values(row).execute();
    } catch (err) {
      const taken = await this.#db.selectFrom('numbers').select('account_id').where('number', '=', number).executeTakeFirst();
      if (taken) throw new NumberTakenError(number, taken.account_id);
      throw err;
    }
    return row;
  }

  async releaseNumber(number: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('numbers').where('number', '=', number).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async listNumbers(accountId: string): Promise<NumberRow[]> {
    return this.#db.selectFrom('numbers').selectAll().where('account_id', '=', accountId).orderBy('number').execute();
  }

  /** The account's inbound messages, newest first. */
  async listMessages(accountId: string, options: { beforeId?: string | undefined; limit: number }): Promise<InboundMessageRow[]> {
    let q = this.#db.selectFrom('inbound_messages').selectAll().where('account_id', '=', accountId);
    if (options.beforeId !== undefined) q = q.where('id', '<', options.beforeId);
    return q.orderBy('id', 'desc').limit(options.limit).execute();
  }
}
