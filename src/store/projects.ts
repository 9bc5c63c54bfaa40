import type { Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import type { DB, ProjectsTable } from './schema.ts';

export type Project = ProjectsTable;

export class ProjectCodeTakenError extends Error {
  constructor(code: string) {
    super(`the account has a project with code ${code} already`);
    this.name = 'ProjectCodeTakenError';
  }
}

type Numbered = 'projects' | 'templates' | 'mailings';

/**
 * Inserts a row with the account's next integer `number` (the id the seed 004
 * API speaks). Two concurrent inserts may pick the same number; the unique
 * index refuses the second, which then tries the next one.
 */
export async function insertNumbered<T extends Numbered>(db: Kysely<DB>, table: T, accountId: string, row: (number: number) => DB[T], conflict: () => Promise<Error | undefined>): Promise<DB[T]> {
  for (let attempt = 0; ; attempt++) {
    const max = await db
      .selectFrom(table as Numbered)
      .select((eb) => eb.fn.max<number>('number').as('n'))
      .where('account_id', '=', accountId)
      .executeTakeFirst();
    const values = row(Number(max?.n ?? 0) + 1);
    try {
      await db.insertInto(table as Numbered).values(values as never).execute();
      return values;
    } catch (err) {
      const known = await conflict();
      if (known) throw known;
      if (attempt >= 5) throw err;
    }
  }
}

/** Projects group an account's contacts, templates, mailings and messages (S15). */
export class ProjectsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async create(accountId: string, input: { name: string; code: string }, now = Date.now()): Promise<Project> {
    return insertNumbered(
      this.#db,
      'projects',
      accountId,
      (number) => ({ id: newId('prj', now), account_id: accountId, number, name: input.name, code: input.code, created_at: now, updated_at: now }),
      async () => ((await this.getByCode(accountId, input.code)) ? new ProjectCodeTakenError(input.code) : undefined),
    );
  }

  async list(accountId: string, options: { beforeId?: string | undefined; limit: number }): Promise<Project[]> {
    let q = this.#db.selectFrom('projects').selectAll().where('account_id', '=', accountId);
    if (options.beforeId) q = q.where('id', '<', options.beforeId);
    return q.orderBy('id', 'desc').limit(options.limit).execute();
  }

  async get(accountId: string, id: string): Promise<Project | undefined> {
    return this.#db.selectFrom('projects').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  }

  async getByNumber(accountId: string, number: number): Promise<Project | undefined> {
    return this.#db.selectFrom('projects').selectAll().where('account_id', '=', accountId).where('number', '=', number).executeTakeFirst();
  }

  async getByCode(accountId: string, code: string): Promise<Project | undefined> {
    return this.#db.selectFrom('projects').selectAll().where('account_id', '=', accountId).where('code', '=', code).executeTakeFirst();
  }

  /** Which of these codes name projects of the account, and whether it has any project at all (read only when none matched). */
  async knownCodes(accountId: string, codes: readonly string[]): Promise<{ hasProjects: boolean; known: Set<string> }> {
    const known = new Set<string>();
    if (codes.length === 0) return { hasProjects: false, known };
    const rows = await this.#db.selectFrom('projects').select('code').where('account_id', '=', accountId).where('code', 'in', [...new Set(codes)]).execute();
    for (const r of rows) known.add(r.code);
    const hasProjects = known.size > 0 || (await this.#db.selectFrom('projects').select('id').where('account_id', '=', accountId).limit(1).executeTakeFirst()) !== undefined;
    return { hasProjects, known };
  }

  /** Renames or recodes a project; undefined when the account has no such project. */
  async update(accountId: string, id: string, patch: { name?: string | undefined; code?: string | undefined }, now = Date.now()): Promise<Project | undefined> {
    const set = { updated_at: now, ...(patch.name !== undefined ? { name: patch.name } : {}), ...(patch.code !== undefined ? { code: patch.code } : {}) };
    try {
      const result = await this.#db.updateTable('projects').set(set).where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return undefined;
    } catch (err) {
      if (patch.code !== undefined && (await this.getByCode(accountId, patch.code))) throw new ProjectCodeTakenError(patch.code);
      throw err;
    }
    return this.get(accountId, id);
  }
}
