import type { Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import { insertNumbered } from './projects.ts';
import { EMPTY_MATCHER, TemplateMatcher, type ApprovedText } from '../domain/template-match.ts';
import type { DB, TemplateRegistrationEventsTable, TemplateRegistrationsTable, TemplatesTable } from './schema.ts';

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

  /** The account's templates of these ids, by id (an id that names none is absent). */
  async getMany(accountId: string, ids: readonly string[]): Promise<Map<string, TemplateRow>> {
    if (ids.length === 0) return new Map();
    const rows = await this.#db.selectFrom('templates').selectAll().where('account_id', '=', accountId).where('id', 'in', [...ids]).execute();
    return new Map(rows.map((t) => [t.id, t]));
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

export const REGISTRATION_STATUSES = ['draft', 'submitted', 'approved', 'rejected'] as const;
export type RegistrationStatus = (typeof REGISTRATION_STATUSES)[number];
export type RegistrationRow = TemplateRegistrationsTable;
export type RegistrationEventRow = TemplateRegistrationEventsTable;

/** Where a registration may go from each status: a decision needs a submission; any status may be drafted or submitted again. */
const MOVES: Record<RegistrationStatus, readonly RegistrationStatus[]> = {
  draft: ['draft', 'submitted'],
  submitted: ['approved', 'rejected', 'draft', 'submitted'],
  approved: ['draft', 'submitted'],
  rejected: ['draft', 'submitted'],
};

export type RegistrationMove = { ok: true; row: RegistrationRow } | { ok: false; from: RegistrationStatus };

/** The texts a registration covers, as submitted (gender variants included). */
export interface RegisteredTexts {
  text: string;
  text_male: string | null;
  text_female: string | null;
}

/**
 * Each template's registration with each operator (draft, submitted,
 * approved, rejected with the operator's reason) and the history of its
 * statuses. A submission records the texts it covers, so an approval stays
 * with what the operator saw even if the template is edited later.
 */
export class TemplateRegistrationsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async list(accountId: string, templateId: string): Promise<RegistrationRow[]> {
    return this.#db.selectFrom('template_registrations').selectAll().where('account_id', '=', accountId).where('template_id', '=', templateId).orderBy('operator').execute();
  }

  async get(accountId: string, templateId: string, operator: string): Promise<RegistrationRow | undefined> {
    return this.#db.selectFrom('template_registrations').selectAll().where('account_id', '=', accountId).where('template_id', '=', templateId).where('operator', '=', operator).executeTakeFirst();
  }

  async history(accountId: string, templateId: string, operator?: string): Promise<RegistrationEventRow[]> {
    let q = this.#db.selectFrom('template_registration_events').selectAll().where('account_id', '=', accountId).where('template_id', '=', templateId);
    if (operator !== undefined) q = q.where('operator', '=', operator);
    return q.orderBy('id').execute();
  }

  /**
   * Moves the registration of (template, operator) to `status`, checking the
   * status it leaves in the UPDATE (a decision needs `submitted`); a missing
   * registration starts as a draft. `texts` is recorded on submission.
   */
  async move(accountId: string, templateId: string, operator: string, status: RegistrationStatus, options: { reason?: string | null; texts?: RegisteredTexts; sender?: string | null }, now = Date.now()): Promise<RegistrationMove> {
    return this.#db.transaction().execute(async (tx) => {
      await tx
        .insertInto('template_registrations')
        .values({ id: newId('trg', now), account_id: accountId, template_id: templateId, operator, status: 'draft', reason: null, sender: null, text: null, created_at: now, updated_at: now })
        .onConflict((oc) => oc.columns(['template_id', 'operator']).doNothing())
        .execute();
      const from = (Object.keys(MOVES) as RegistrationStatus[]).filter((s) => MOVES[s].includes(status));
      const moved = await tx
        .updateTable('template_registrations')
        .set({ status, reason: options.reason ?? null, updated_at: now, ...(options.texts ? { text: JSON.stringify(options.texts), sender: options.sender ?? null } : {}) })
        .where('account_id', '=', accountId)
        .where('template_id', '=', templateId)
        .where('operator', '=', operator)
        .where('status', 'in', from)
        .returningAll()
        .executeTakeFirst();
      if (!moved) {
        const current = await tx.selectFrom('template_registrations').select('status').where('account_id', '=', accountId).where('template_id', '=', templateId).where('operator', '=', operator).executeTakeFirstOrThrow();
        return { ok: false, from: current.status as RegistrationStatus };
      }
      await tx.insertInto('template_registration_events').values({ id: newId('tre', now), account_id: accountId, template_id: templateId, operator, status, reason: options.reason ?? null, created_at: now }).execute();
      return { ok: true, row: moved };
    });
  }

  /** The account's approved texts, every variant a text of its own (what matching compiles). */
  async approvedTexts(accountId: string): Promise<ApprovedText[]> {
    const rows = await this.#db.selectFrom('template_registrations').select(['template_id', 'operator', 'sender', 'text']).where('account_id', '=', accountId).where('status', '=', 'approved').orderBy('template_id').execute();
    const out: ApprovedText[] = [];
    for (const r of rows) {
      if (r.text === null) continue;
      const texts = JSON.parse(r.text) as RegisteredTexts;
      for (const text of [texts.text, texts.text_male, texts.text_female]) if (text) out.push({ templateId: r.template_id, operator: r.operator, sender: r.sender, text });
    }
    return out;
  }
}

/** How long a process keeps an account's compiled templates before reading them again (changes on other nodes). */
export const MATCHER_TTL_MS = 10_000;

/** Each account's approved templates compiled for matching, cached per process; forgotten when they change here. */
export class TemplateMatcherCache {
  readonly #repository: TemplateRegistrationsRepository;
  readonly #cache = new Map<string, { matcher: Promise<TemplateMatcher>; expires: number }>();

  constructor(repository: TemplateRegistrationsRepository) {
    this.#repository = repository;
  }

  get(accountId: string, now = Date.now()): Promise<TemplateMatcher> {
    const cached = this.#cache.get(accountId);
    if (cached && cached.expires > now) return cached.matcher;
    const matcher = this.#repository.approvedTexts(accountId).then((texts) => (texts.length === 0 ? EMPTY_MATCHER : new TemplateMatcher(texts)));
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(accountId, { matcher, expires: now + MATCHER_TTL_MS });
    matcher.catch(() => this.#cache.delete(accountId));
    return matcher;
  }

  forget(accountId: string): void {
    this.#cache.delete(accountId);
  }
}
