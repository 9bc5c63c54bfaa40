import type { Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import { insertNumbered } from './projects.ts';
import type { DB, TemplatesTable } from './schema.ts';

export type TemplateRow = TemplatesTable;

export interface TemplateInput {
  project_id: string;
  channel: string;
  name: string;
  text: string;
  text_male?: string | null | undefined;
  text_female?: string | null | undefined;
}

/** Message templates per project and channel; every query takes the account id. */
export class TemplatesRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async create(accountId: string, input: TemplateInput, now = Date.now()): Promise<TemplateRow> {
    return insertNumbered(
      this.#db,
      'templates',
      accountId,
      (number) => ({
        id: newId('tpl', now),
        account_id: accountId,
        number,
        project_id: input.project_id,
        channel: input.channel,
        name: input.name,
        text: input.text,
        text_male: input.text_male ?? null,
        text_female: input.text_female ?? null,
        created_at: now,
        updated_at: now,
      }),
      async () => undefined,
    );
  }

  async get(accountId: string, id: string): Promise<TemplateRow | undefined> {
    return this.#db.selectFrom('templates').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  }

  async getByNumber(accountId: string, number: number): Promise<TemplateRow | undefined> {
    return this.#db.selectFrom('templates').selectAll().where('account_id', '=', accountId).where('number', '=', number).executeTakeFirst();
  }

  async list(accountId: string, options: { projectId?: string | undefined; beforeId?: string | undefined; limit: number }): Promise<TemplateRow[]> {
    let q = this.#db.selectFrom('templates').selectAll().where('account_id', '=', accountId);
    if (options.projectId) q = q.where('project_id', '=', options.projectId);
    if (options.beforeId) q = q.where('id', '<', options.beforeId);
    return q.orderBy('id', 'desc').limit(options.limit).execute();
  }

  async update(accountId: string, id: string, patch: Partial<Pick<TemplateRow, 'name' | 'text' | 'text_male' | 'text_female'>>, now = Date.now()): Promise<TemplateRow | undefined> {
    const result = await this.#db.updateTable('templates').set({ ...patch, updated_at: now }).where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
    return Number(result.numUpdatedRows) === 0 ? undefined : this.get(accountId, id);
  }

  async delete(accountId: string, id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('templates').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
