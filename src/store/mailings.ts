import type { Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import { insertNumbered } from './projects.ts';
import type { DB, MailingsTable } from './schema.ts';

export const MAILING_STATUSES = ['draft', 'scheduled', 'running', 'paused', 'finished', 'cancelled'] as const;
export type MailingStatus = (typeof MAILING_STATUSES)[number];

export type MailingRow = MailingsTable;

/** Each lifecycle verb and the statuses it may start from: draft → scheduled → running ↔ paused → finished, or cancelled. */
export const MAILING_TRANSITIONS = {
  schedule: { from: ['draft'], to: 'scheduled' },
  start: { from: ['scheduled'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  finish: { from: ['running'], to: 'finished' },
  cancel: { from: ['draft', 'scheduled', 'running', 'paused'], to: 'cancelled' },
} as const satisfies Record<string, { from: readonly MailingStatus[]; to: MailingStatus }>;

export type MailingVerb = keyof typeof MAILING_TRANSITIONS;

export interface MailingInput {
  project_id: string;
  template_id: string;
  list_id: string | null;
  name: string;
  channels: string[];
  status: 'draft' | 'scheduled';
  start_at: number | null;
  throttle_per_minute: number | null;
}

/** Mailings as data: what to send, to whom, when, and where in its lifecycle it is. The runner is not built yet. */
export class MailingsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async create(accountId: string, input: MailingInput, now = Date.now()): Promise<MailingRow> {
    return insertNumbered(
      this.#db,
      'mailings',
      accountId,
      (number) => ({
        id: newId('mlg', now),
        account_id: accountId,
        number,
        project_id: input.project_id,
        template_id: input.template_id,
        list_id: input.list_id,
        name: input.name,
        channels: JSON.stringify(input.channels),
        status: input.status,
        start_at: input.start_at,
        throttle_per_minute: input.throttle_per_minute,
        created_at: now,
        updated_at: now,
        started_at: null,
        finished_at: null,
      }),
      async () => undefined,
    );
  }

  async get(accountId: string, id: string): Promise<MailingRow | undefined> {
    return this.#db.selectFrom('mailings').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  }

  async list(accountId: string, options: { beforeId?: string | undefined; limit: number }): Promise<MailingRow[]> {
    let q = this.#db.selectFrom('mailings').selectAll().where('account_id', '=', accountId);
    if (options.beforeId) q = q.where('id', '<', options.beforeId);
    return q.orderBy('id', 'desc').limit(options.limit).execute();
  }

  /**
   * Moves a mailing by a lifecycle verb, only from the statuses the verb
   * starts from (checked in the UPDATE itself, so two callers cannot both win).
   * Returns the mailing after the change, or what stopped it.
   */
  async transition(accountId: string, id: string, verb: MailingVerb, now = Date.now()): Promise<{ ok: true; mailing: MailingRow } | { ok: false; reason: 'not_found' } | { ok: false; reason: 'wrong_status'; status: string }> {
    const { from, to } = MAILING_TRANSITIONS[verb];
    const stamps = to === 'running' && verb === 'start' ? { started_at: now } : to === 'finished' || to === 'cancelled' ? { finished_at: now } : {};
    const result = await this.#db
      .updateTable('mailings')
      .set({ status: to, updated_at: now, ...stamps })
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .where('status', 'in', [...from])
      .executeTakeFirst();
    const mailing = await this.get(accountId, id);
    if (!mailing) return { ok: false, reason: 'not_found' };
    if (Number(result.numUpdatedRows) === 0) return { ok: false, reason: 'wrong_status', status: mailing.status };
    return { ok: true, mailing };
  }
}
