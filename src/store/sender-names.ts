import type { Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import type { DB } from './schema.ts';

export type SenderNameStatus = 'pending' | 'approved' | 'rejected';
export const SENDER_NAME_STATUSES: readonly SenderNameStatus[] = ['pending', 'approved', 'rejected'];

/** `*`: the status for every operator not listed on its own. */
export const ANY_OPERATOR = '*';

export interface SenderName {
  id: string;
  accountId: string;
  name: string;
  createdAt: number;
  operators: { operator: string; status: SenderNameStatus; reason: string | null; updatedAt: number }[];
}

export class SenderNameExistsError extends Error {
  constructor(name: string) {
    super(`the sender name ${name} is registered already`);
    this.name = 'SenderNameExistsError';
  }
}

/** Sender names by name, each with its status per operator: what accept checks a `from` against. */
export type SenderRegistry = ReadonlyMap<string, ReadonlyMap<string, SenderNameStatus>>;

/**
 * The registry of sender names. An account registers a name (pending with the
 * operators it asks for); the platform's staff record each operator's answer.
 * Every read and change of an account's names takes its account id; only
 * `setStatus`, the staff's call, finds a name by id alone.
 */
export class SenderNamesRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async create(accountId: string, name: string, operators: readonly string[], now = Date.now()): Promise<SenderName> {
    const id = newId('snd', now);
    try {
      await this.#db.transaction().execute(async (tx) => {
        await tx.insertInto('sender_names').values({ id, account_id: accountId, name, created_at: now }).execute();
        await tx
          .insertInto('sender_name_statuses')
          .values(operators.map((operator) => ({ sender_name_id: id, account_id: accountId, operator, status: 'pending', reason: null, updated_at: now })))
          .execute();
      });
    } catch (err) {
      if (await this.#db.selectFrom('sender_names').select('id').where('account_id', '=', accountId).where('name', '=', name).executeTakeFirst()) throw new SenderNameExistsError(name);
      throw err;
    }
    return (await this.get(accountId, id))!;
  }

  async list(accountId: string): Promise<SenderName[]> {
    const names = await this.#db.selectFrom('sender_names').selectAll().where('account_id', '=', accountId).orderBy('id', 'desc').execute();
    const statuses = await this.#db.selectFrom('sender_name_statuses').selectAll().where('account_id', '=', accountId).orderBy('operator').execute();
    return names.map((n) => ({
      id: n.id,
      accountId: n.account_id,
      name: n.name,
      createdAt: n.created_at,
      operators: statuses
        .filter((s) => s.sender_name_id === n.id)
        .map((s) => ({ operator: s.operator, status: s.status as SenderNameStatus, reason: s.reason, updatedAt: s.updated_at })),
    }));
  }

  async get(accountId: string, id: string): Promise<SenderName | undefined> {
    return (await this.list(accountId)).find((n) => n.id === id);
  }

  async delete(accountId: string, id: string): Promise<boolean> {
    return this.#db.transaction().execute(async (tx) => {
      await tx.deleteFrom('sender_name_statuses').where('account_id', '=', accountId).where('sender_name_id', '=', id).execute();
      const result = await tx.deleteFrom('sender_names').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) === 1;
    });
  }

  /** Records an operator's answer (staff only); returns the account the name belongs to, or undefined when there is no such name. */
  async setStatus(id: string, operator: string, status: SenderNameStatus, reason: string | null, now = Date.now()): Promise<string | undefined> {
    const owner = await this.#db.selectFrom('sender_names').select('account_id').where('id', '=', id).executeTakeFirst();
    if (!owner) return undefined;
    await this.#db
      .insertInto('sender_name_statuses')
      .values({ sender_name_id: id, account_id: owner.account_id, operator, status, reason, updated_at: now })
      .onConflict((oc) => oc.columns(['sender_name_id', 'operator']).doUpdateSet({ status, reason, updated_at: now }))
      .execute();
    return owner.account_id;
  }

  async registry(accountId: string): Promise<SenderRegistry> {
    const rows = await this.#db
      .selectFrom('sender_name_statuses')
      .innerJoin('sender_names', 'sender_names.id', 'sender_name_statuses.sender_name_id')
      .select(['sender_names.name', 'sender_name_statuses.operator', 'sender_name_statuses.status'])
      .where('sender_name_statuses.account_id', '=', accountId)
      .execute();
    const registry = new Map<string, Map<string, SenderNameStatus>>();
    for (const r of rows) {
      const byOperator = registry.get(r.name) ?? new Map<string, SenderNameStatus>();
      byOperator.set(r.operator, r.status as SenderNameStatus);
      registry.set(r.name, byOperator);
    }
    return registry;
  }
}
