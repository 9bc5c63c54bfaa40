import type { Kysely, Updateable } from 'kysely';
import { newId } from '../domain/ids.ts';
import { parseMailingTemplates, storedMailingTemplates, type MailingTemplates } from '../domain/mailing-templates.ts';
import { insertNumbered } from './projects.ts';
import type { DB, MailingRecipientsTable, MailingsTable } from './schema.ts';
import { insertChunks } from './shapes.ts';

export const MAILING_STATUSES = ['draft', 'scheduled', 'running', 'paused', 'finished', 'cancelled'] as const;
export type MailingStatus = (typeof MAILING_STATUSES)[number];

export type MailingRow = MailingsTable;

/**
 * Each lifecycle verb and the statuses it may start from: draft → scheduled →
 * running ↔ paused → finished, or cancelled. A finished mailing may still be
 * cancelled: its run is over, but messages of it may wait for their recipients'
 * local time or the end of quiet hours, and cancelling withdraws those.
 */
export const MAILING_TRANSITIONS = {
  schedule: { from: ['draft'], to: 'scheduled' },
  start: { from: ['scheduled'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  finish: { from: ['running'], to: 'finished' },
  cancel: { from: ['draft', 'scheduled', 'running', 'paused', 'finished'], to: 'cancelled' },
  /** the runner: a recurring mailing's run is over, the next one waits */
  rearm: { from: ['running'], to: 'scheduled' },
} as const satisfies Record<string, { from: readonly MailingStatus[]; to: MailingStatus }>;

export type MailingVerb = keyof typeof MAILING_TRANSITIONS;

export interface MailingInput {
  project_id: string;
  /** the default template: for every channel without its own in `templates` */
  template_id: string;
  /** a template per channel (channel → template id), each of the project and made for that channel; absent: none */
  templates?: MailingTemplates | undefined;
  /** template parameters for every recipient (beside the contact's fields); absent or empty: none */
  params?: Readonly<Record<string, string | number | boolean | null>> | undefined;
  list_id: string | null;
  name: string;
  channels: string[];
  status: 'draft' | 'scheduled';
  start_at: number | null;
  throttle_per_minute: number | null;
  segment_id?: string | null | undefined;
  schedule_cron?: string | null | undefined;
  time_zone?: string | null | undefined;
  local_time?: boolean | undefined;
  traffic_type?: string | undefined;
  sender?: string | null | undefined;
  error_threshold_percent?: number | null | undefined;
  error_min_sample?: number | null | undefined;
  /** a cascade per recipient (several channels): each step's timeout and stop condition; null: the defaults */
  step_timeout_seconds?: number | null | undefined;
  step_until?: 'delivered' | 'read' | null | undefined;
  /** when the runner starts the first run (set with status scheduled) */
  next_run_at?: number | null | undefined;
}

/** A mailing's own template parameters (`params`), `{}` when it has none. */
export function mailingParams(m: { params?: string | null | undefined }): Record<string, string | number | boolean | null> {
  return m.params ? (JSON.parse(m.params) as Record<string, string | number | boolean | null>) : {};
}

/** The runner's defaults for auto-pause: a fifth of at least 50 finished messages failed. */
export const DEFAULT_ERROR_THRESHOLD_PERCENT = 20;
export const DEFAULT_ERROR_MIN_SAMPLE = 50;

/**
 * A recipient's cascade (a mailing over several channels): each step but the
 * last waits this long for `delivered` before the next starts. Longer than a
 * verification's 60 s: a code is urgent, while a mailing's fallback is a
 * second paid message to someone whose first may only be late.
 */
export const DEFAULT_STEP_TIMEOUT_SECONDS = 600;
export const DEFAULT_STEP_UNTIL = 'delivered';

/** Message statuses that count as errors for auto-pause and the statistics. */
export const MAILING_ERROR_STATUSES = ['rejected', 'failed', 'undelivered', 'expired'] as const;
/** Message statuses not yet out of our hands. */
export const MAILING_OPEN_STATUSES = ['accepted', 'queued'] as const;

/** What one page of a mailing run writes beside its messages (in the same transaction). */
export interface MailingPage {
  mailingId: string;
  runNumber: number;
  recipients: MailingRecipientsTable[];
}

/** The mailing's run was no longer running when its page was to be written (paused, cancelled, a new run): nothing was written. */
export class MailingNotRunningError extends Error {
  constructor(id: string, run: number) {
    super(`mailing ${id} run ${run} is not running`);
    this.name = 'MailingNotRunningError';
  }
}

export interface MailingStats {
  /** the current (or last) run */
  run_number: number;
  /**
   * the contacts the current run's audience resolved to: counted when the run started (a list, or the whole
   * project), the recipients the run went through once it reached its audience's end; null before a first
   * run, and for a segment until its run's end (see `audienceCount` in segments.ts)
   */
  audience: number | null;
  /** the audience less the recipients of the run so far (never below 0); null when the audience is */
  remaining: number | null;
  /** recipients of the current run: accepted (a message) or skipped (none, with a reason) */
  recipients: { accepted: number; skipped: number };
  /** every message the mailing sent, by status */
  messages: Record<string, number>;
  errors: number;
  /** the current run's messages by status (the same as `messages` in a mailing's first run) */
  run_messages: Record<string, number>;
  /** the current run's messages rejected, failed, undelivered or expired */
  run_errors: number;
}

export interface RecipientView {
  contact_id: string;
  run_number: number;
  status: string;
  reason: string | null;
  message_id: string | null;
  message_status: string | null;
  /** the channel of the message: for a cascade, its first step's until the step that decided it */
  message_channel: string | null;
  created_at: number;
}

/** Mailings: what to send, to whom, when, where in its lifecycle it is, and what each run sent (pipeline/mailings.ts runs them). */
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
        templates: storedMailingTemplates(input.templates),
        params: input.params && Object.keys(input.params).length > 0 ? JSON.stringify(input.params) : null,
        list_id: input.list_id,
        name: input.name,
        channels: JSON.stringify(input.channels),
        status: input.status,
        start_at: input.start_at,
        throttle_per_minute: input.throttle_per_minute,
        segment_id: input.segment_id ?? null,
        schedule_cron: input.schedule_cron ?? null,
        time_zone: input.time_zone ?? null,
        local_time: input.local_time ? 1 : 0,
        traffic_type: input.traffic_type ?? 'advertising',
        sender: input.sender ?? null,
        error_threshold_percent: input.error_threshold_percent ?? null,
        error_min_sample: input.error_min_sample ?? null,
        step_timeout_seconds: input.step_timeout_seconds ?? null,
        step_until: input.step_until ?? null,
        run_number: 0,
        next_run_at: input.status === 'scheduled' ? (input.next_run_at ?? input.start_at) : null,
        paused_reason: null,
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
  async transition(
    accountId: string,
    id: string,
    verb: MailingVerb,
    now = Date.now(),
    extra: Updateable<MailingsTable> = {},
  ): Promise<{ ok: true; mailing: MailingRow } | { ok: false; reason: 'not_found' } | { ok: false; reason: 'wrong_status'; status: string }> {
    const { from, to } = MAILING_TRANSITIONS[verb];
    const stamps = to === 'finished' || to === 'cancelled' ? { finished_at: now, next_run_at: null } : {};
    const cleared = verb === 'resume' || verb === 'cancel' ? { paused_reason: null } : {};
    const result = await this.#db
      .updateTable('mailings')
      .set({ status: to, updated_at: now, ...stamps, ...cleared, ...extra })
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .where('status', 'in', [...from])
      .executeTakeFirst();
    const mailing = await this.get(accountId, id);
    if (!mailing) return { ok: false, reason: 'not_found' };
    if (Number(result.numUpdatedRows) === 0) return { ok: false, reason: 'wrong_status', status: mailing.status };
    return { ok: true, mailing };
  }

  /**
   * A template was deleted: the account's mailings that use it (`template_id`,
   * or a channel's in `templates`) and are not finished or cancelled are
   * cancelled, as a user's cancel (their unsent messages after them, from
   * `cancel_cursor`). Returns the ids cancelled.
   */
  async cancelUsingTemplate(accountId: string, templateId: string, now = Date.now()): Promise<string[]> {
    const live = await this.#db
      .selectFrom('mailings')
      .select(['id', 'template_id', 'templates'])
      .where('account_id', '=', accountId)
      .where('status', 'not in', ['finished', 'cancelled'])
      .where((eb) => eb.or([eb('template_id', '=', templateId), eb('templates', 'like', `%"${templateId}"%`)]))
      .execute();
    const cancelled: string[] = [];
    for (const m of live) {
      // The LIKE only narrows: the map is read to be sure.
      if (m.template_id !== templateId && !Object.values(parseMailingTemplates(m.templates ?? null)).includes(templateId)) continue;
      if ((await this.transition(accountId, m.id, 'cancel', now, { cancel_cursor: '' })).ok) cancelled.push(m.id);
    }
    return cancelled;
  }

  /** The runner: scheduled mailings whose next run is due, of every account. */
  async due(now: number, limit: number): Promise<MailingRow[]> {
    return this.#db.selectFrom('mailings').selectAll().where('status', '=', 'scheduled').where('next_run_at', '<=', now).orderBy('next_run_at').limit(limit).execute();
  }

  /** The runner: running mailings of every account. */
  async running(limit: number): Promise<MailingRow[]> {
    return this.#db.selectFrom('mailings').selectAll().where('status', '=', 'running').orderBy('id').limit(limit).execute();
  }

  /**
   * The runner: scheduled → running with the next run number and the run's
   * audience size (null: not known up front); false when someone else moved it first.
   */
  async startRun(m: MailingRow, now: number, audienceSize: number | null): Promise<boolean> {
    const result = await this.#db
      .updateTable('mailings')
      .set((eb) => ({ status: 'running', run_number: eb('run_number', '+', 1), updated_at: now, started_at: m.started_at ?? now, paused_reason: null, audience_size: audienceSize }))
      .where('account_id', '=', m.account_id)
      .where('id', '=', m.id)
      .where('status', '=', 'scheduled')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Where a run resumes: the largest contact id it has a recipient row for ('' when none). */
  async cursor(mailingId: string, runNumber: number): Promise<string> {
    const row = await this.#db.selectFrom('mailing_recipients').select((eb) => eb.fn.max('contact_id').as('last')).where('mailing_id', '=', mailingId).where('run_number', '=', runNumber).executeTakeFirst();
    return (row?.last as string | null | undefined) ?? '';
  }

  /**
   * Counts of the mailing's messages in the given statuses (small index ranges
   * of `messages_mailing`): one per recipient given one, since only a
   * recipient's own message carries `mailing_id` (a plain message, or a
   * cascade's parent, whose status is its final outcome; its steps do not).
   */
  async countMessages(accountId: string, mailingId: string, statuses?: readonly string[]): Promise<Record<string, number>> {
    let q = this.#db.selectFrom('messages').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).where('mailing_id', '=', mailingId).where('account_id', '=', accountId);
    if (statuses) q = q.where('status', 'in', [...statuses]);
    const rows = await q.groupBy('status').execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  /** A run's recipients so far: accepted (given a message) and skipped (the primary key's range of the run). */
  async countRecipients(accountId: string, mailingId: string, runNumber: number): Promise<{ accepted: number; skipped: number }> {
    const rows = await this.#db
      .selectFrom('mailing_recipients')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('mailing_id', '=', mailingId)
      .where('account_id', '=', accountId)
      .where('run_number', '=', runNumber)
      .groupBy('status')
      .execute();
    const byStatus = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    return { accepted: byStatus.accepted ?? 0, skipped: byStatus.skipped ?? 0 };
  }

  /**
   * Counts of the messages of one run of the mailing by status: its recipient
   * rows (the primary key's range of the run) joined to their messages, so it
   * reads one message row per recipient, unlike `countMessages`, which the
   * index answers alone. `stats` asks it only from a recurring mailing's
   * second run on: until then every message of the mailing is the run's.
   */
  async countRunMessages(accountId: string, mailingId: string, runNumber: number): Promise<Record<string, number>> {
    const rows = await this.#db
      .selectFrom('mailing_recipients as r')
      .innerJoin('messages as msg', 'msg.id', 'r.message_id')
      .select(['msg.status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('r.account_id', '=', accountId)
      .where('r.mailing_id', '=', mailingId)
      .where('r.run_number', '=', runNumber)
      .where('msg.account_id', '=', accountId)
      .groupBy('msg.status')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  async stats(accountId: string, m: MailingRow): Promise<MailingStats> {
    const run = m.run_number ?? 0;
    const recipients = await this.countRecipients(accountId, m.id, run);
    const messages = await this.countMessages(accountId, m.id);
    const errorsOf = (counts: Record<string, number>) => MAILING_ERROR_STATUSES.reduce((sum, s) => sum + (counts[s] ?? 0), 0);
    const runMessages = run <= 1 ? messages : await this.countRunMessages(accountId, m.id, run);
    const audience = m.audience_size ?? null;
    const remaining = audience === null ? null : Math.max(0, audience - recipients.accepted - recipients.skipped);
    return { run_number: run, audience, remaining, recipients, messages, errors: errorsOf(messages), run_messages: runMessages, run_errors: errorsOf(runMessages) };
  }

  /** An account's mailings with a run under way (`running`), for the live stream's progress events. */
  async runningOf(accountId: string, limit: number): Promise<MailingRow[]> {
    return this.#db.selectFrom('mailings').selectAll().where('account_id', '=', accountId).where('status', '=', 'running').orderBy('id').limit(limit).execute();
  }

  /** A run's recipients in contact id order after `afterId`, with their message's current status. */
  async recipients(accountId: string, mailingId: string, runNumber: number, options: { afterId: string; limit: number }): Promise<RecipientView[]> {
    const rows = await this.#db
      .selectFrom('mailing_recipients as r')
      .leftJoin('messages as msg', 'msg.id', 'r.message_id')
      .select(['r.contact_id', 'r.run_number', 'r.status', 'r.reason', 'r.message_id', 'r.created_at', 'msg.status as message_status', 'msg.channel as message_channel'])
      .where('r.account_id', '=', accountId)
      .where('r.mailing_id', '=', mailingId)
      .where('r.run_number', '=', runNumber)
      .where('r.contact_id', '>', options.afterId)
      .orderBy('r.contact_id')
      .limit(options.limit)
      .execute();
    return rows.map((r) => ({ ...r, message_status: r.message_status ?? null, message_channel: r.message_channel ?? null }));
  }

  /**
   * A page of a run's recipients given a message, in contact id order after
   * `afterId` (the primary key's range), with their message's status and
   * cascade step: what cancelling the mailing goes through.
   */
  async recipientMessages(accountId: string, mailingId: string, runNumber: number, afterId: string, limit: number): Promise<{ contact_id: string; message_id: string; status: string; cascade_step: number | null }[]> {
    const rows = await this.#db
      .selectFrom('mailing_recipients as r')
      .innerJoin('messages as msg', 'msg.id', 'r.message_id')
      .select(['r.contact_id', 'msg.id as message_id', 'msg.status', 'msg.cascade_step'])
      .where('r.account_id', '=', accountId)
      .where('r.mailing_id', '=', mailingId)
      .where('r.run_number', '=', runNumber)
      .where('r.contact_id', '>', afterId)
      .where('msg.account_id', '=', accountId)
      .orderBy('r.contact_id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ ...r, cascade_step: r.cascade_step ?? null }));
  }

  /**
   * The mailing's messages in `queued` (the `messages_mailing` range: few, those
   * in a sender's hands or waiting for a retry), with, for a cascade's parent,
   * its steps' messages in `queued` too.
   */
  async queuedMessages(accountId: string, mailingId: string): Promise<{ id: string; cascade_step: number | null; lease_until: number | null }[]> {
    const own = await this.#db.selectFrom('messages').select(['id', 'cascade_step', 'lease_until']).where('mailing_id', '=', mailingId).where('status', '=', 'queued').where('account_id', '=', accountId).execute();
    const parents = own.filter((m) => m.cascade_step === 0).map((m) => m.id);
    const steps = parents.length === 0 ? [] : await this.#db.selectFrom('messages').select(['id', 'cascade_step', 'lease_until']).where('parent_id', 'in', parents).where('status', '=', 'queued').where('account_id', '=', accountId).execute();
    return [...own, ...steps].map((m) => ({ id: m.id, cascade_step: m.cascade_step ?? null, lease_until: m.lease_until }));
  }

  /** Cancelled mailings whose unsent messages are still being cancelled (of every account). */
  async cancelling(limit: number): Promise<MailingRow[]> {
    return this.#db.selectFrom('mailings').selectAll().where('status', '=', 'cancelled').where('cancel_cursor', 'is not', null).orderBy('id').limit(limit).execute();
  }

  /** Where cancelling the mailing's messages stands (null: done), in the transaction of the page it follows. */
  static async setCancelCursor(tx: Kysely<DB>, accountId: string, mailingId: string, cursor: string | null): Promise<void> {
    await tx.updateTable('mailings').set({ cancel_cursor: cursor }).where('account_id', '=', accountId).where('id', '=', mailingId).where('status', '=', 'cancelled').execute();
  }

  /**
   * Writes a run's recipient rows in the accepting transaction, after checking
   * that the run is still the running one: a pause or cancel that committed
   * first stops the page whole. A recipient already written for the run
   * breaks the primary key, and the page (its messages too) is not written.
   */
  static async writePage(tx: Kysely<DB>, page: MailingPage): Promise<void> {
    // An UPDATE, not a SELECT: on PostgreSQL it locks the row, so a pause either waits for this page or, committed
    // first, makes this statement see it (read committed re-checks the WHERE) and the page is not written.
    const held = await tx
      .updateTable('mailings')
      .set((eb) => ({ run_number: eb.ref('run_number') }))
      .where('id', '=', page.mailingId)
      .where('status', '=', 'running')
      .where('run_number', '=', page.runNumber)
      .executeTakeFirst();
    if (Number(held.numUpdatedRows) === 0) throw new MailingNotRunningError(page.mailingId, page.runNumber);
    await insertChunks(tx, 'mailing_recipients', page.recipients);
  }
}

