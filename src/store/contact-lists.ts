import type { Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import { presentContactRow, type Contact } from './contacts.ts';
import type { ContactListsTable, DB } from './schema.ts';
import { inLists } from './shapes.ts';

export type ContactList = ContactListsTable & { size: number };

/** Contact lists of a project: mailing audiences. Every query takes the account id. */
export class ContactListsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async create(accountId: string, projectId: string, name: string, now = Date.now()): Promise<ContactList> {
    const row = { id: newId('lst', now), account_id: accountId, project_id: projectId, name, created_at: now };
    await this.#db.insertInto('contact_lists').values(row).execute();
    return { ...row, size: 0 };
  }

  async get(accountId: string, id: string): Promise<ContactList | undefined> {
    const row = await this.#db.selectFrom('contact_lists').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const count = await this.#db.selectFrom('contact_list_members').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', accountId).where('list_id', '=', id).executeTakeFirstOrThrow();
    return { ...row, size: Number(count.n) };
  }

  async list(accountId: string, options: { projectId?: string | undefined; beforeId?: string | undefined; limit: number }): Promise<ContactListsTable[]> {
    let q = this.#db.selectFrom('contact_lists').selectAll().where('account_id', '=', accountId);
    if (options.projectId) q = q.where('project_id', '=', options.projectId);
    if (options.beforeId) q = q.where('id', '<', options.beforeId);
    return q.orderBy('id', 'desc').limit(options.limit).execute();
  }

  /** Whether it was deleted; a list a mailing that is not finished or cancelled uses is kept (`in_use`): its audience would be gone. */
  async delete(accountId: string, id: string): Promise<'deleted' | 'not_found' | 'in_use'> {
    const used = await this.#db.selectFrom('mailings').select('id').where('account_id', '=', accountId).where('list_id', '=', id).where('status', 'not in', ['finished', 'cancelled']).executeTakeFirst();
    if (used) return 'in_use';
    const result = await this.#db.deleteFrom('contact_lists').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0 ? 'deleted' : 'not_found';
  }

  /**
   * Adds contacts of the list's project (others are returned as not added);
   * a contact already there stays. Returns the ids that could not be added.
   */
  async add(accountId: string, list: ContactListsTable, contactIds: readonly string[], now = Date.now()): Promise<string[]> {
    const found = new Set<string>();
    for (const ids of inLists(contactIds)) {
      const rows = await this.#db.selectFrom('contacts').select('id').where('account_id', '=', accountId).where('project_id', '=', list.project_id).where('id', 'in', ids).execute();
      for (const r of rows) found.add(r.id);
    }
    const rows = [...found].map((contact_id) => ({ list_id: list.id, contact_id, account_id: accountId, added_at: now }));
    for (let i = 0; i < rows.length; i += 256) {
      await this.#db.insertInto('contact_list_members').values(rows.slice(i, i + 256)).onConflict((oc) => oc.columns(['list_id', 'contact_id']).doNothing()).execute();
    }
    return contactIds.filter((id) => !found.has(id));
  }

  async remove(accountId: string, listId: string, contactId: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('contact_list_members').where('account_id', '=', accountId).where('list_id', '=', listId).where('contact_id', '=', contactId).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** A page of a list's members in the order of their ids, after `afterId`: an audience is walked this way, never loaded whole. */
  async members(accountId: string, listId: string, options: { afterId: string; limit: number }): Promise<Contact[]> {
    const rows = await this.#db
      .selectFrom('contact_list_members as m')
      .innerJoin('contacts as c', 'c.id', 'm.contact_id')
      .selectAll('c')
      .where('m.account_id', '=', accountId)
      .where('m.list_id', '=', listId)
      .where('c.id', '>', options.afterId)
      .orderBy('c.id', 'asc')
      .limit(options.limit)
      .execute();
    return rows.map(presentContactRow);
  }
}
