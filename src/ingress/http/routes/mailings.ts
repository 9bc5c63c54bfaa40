import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CHANNELS, type Channel } from '../../../connectors/channels.ts';
import { cronProblem, nextCronOccurrence, runStartFor } from '../../../domain/mailing-schedule.ts';
import { mailingTemplatesProblems, parseMailingTemplates, templateIdFor, type MailingTemplates } from '../../../domain/mailing-templates.ts';
import { isValidTimeZone } from '../../../domain/quiet-hours.ts';
import { renderForContact, type ContactFields } from '../../../domain/templates.ts';
import { ApiError } from '../../../errors.ts';
import { acceptContext, prepareMessage, TRAFFIC_TYPES, type TrafficType } from '../../../pipeline/accept.ts';
import { firstRunAt } from '../../../pipeline/mailings.ts';
import { ContactListsRepository } from '../../../store/contact-lists.ts';
import { ContactsRepository, contactFields } from '../../../store/contacts.ts';
import { DEFAULT_ERROR_MIN_SAMPLE, DEFAULT_ERROR_THRESHOLD_PERCENT, DEFAULT_STEP_TIMEOUT_SECONDS, DEFAULT_STEP_UNTIL, MAILING_STATUSES, MAILING_TRANSITIONS, mailingParams, MailingsRepository, type MailingRow, type MailingStats, type MailingVerb } from '../../../store/mailings.ts';
import { SegmentsRepository } from '../../../store/segments.ts';
import { ProjectsRepository } from '../../../store/projects.ts';
import { TemplatesRepository } from '../../../store/templates.ts';
import { requireAuth } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema, IdParams } from '../schemas.ts';
import { idempotentCreate } from './idempotent-create.ts';
import { TEMPLATE_CHANNELS } from './templates.ts';
import { affordable } from '../../../pipeline/billing.ts';
import { BalanceRepository } from '../../../store/balance.ts';

/** A template per channel: only the mailing's channels, each a template of the project made for that channel. */
const TemplatesSchema = Type.Partial(Type.Record(Type.Enum([...TEMPLATE_CHANNELS]), Type.String({ minLength: 1, maxLength: 64 })), {
  additionalProperties: false,
  description:
    'a template per channel, `{"<channel>": "<template id>"}`: each step on that channel renders its own template (a template of the project made for that channel); a channel without an entry renders `template_id`. ' +
    'Each key must be one of `channels` (else `422 template_channel_mismatch`), each template of the project (else `422 unknown_template`) and made for that channel (`channel` of the template; else `422 template_channel_mismatch`).',
  examples: [{ telegram: 'tpl_01KB2Z6C1D0R7Q4P3N2M1L0K9K', sms: 'tpl_01KB2Z6C1D0R7Q4P3N2M1L0K9J' }],
});

/** A mailing's own template parameters, the same for every recipient. */
const MailingParams = Type.Record(Type.String(), Type.Union([Type.String({ maxLength: 1000 }), Type.Number(), Type.Boolean(), Type.Null()]), {
  maxProperties: 50,
  description:
    'template parameters for every recipient (a promo code, a date): `{{promo}}` in a template reads `params.promo`, beside the contact\'s fields (a parameter of the same name wins over a field, as in a preview)',
  examples: [{ promo: 'NY2027', until: '31 января' }],
});

const MailingSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('mailing'),
    number: Type.Integer(),
    project_id: Type.String(),
    template_id: Type.String({ description: 'the default template: rendered by every channel without its own in `templates`' }),
    templates: TemplatesSchema,
    params: MailingParams,
    list_id: Type.Union([Type.String(), Type.Null()]),
    segment_id: Type.Union([Type.String(), Type.Null()]),
    name: Type.String(),
    channels: Type.Array(Type.String(), { description: 'in cascade order: each recipient gets a cascade over the channels they can be reached on (a plain message when only one)' }),
    status: Type.Enum([...MAILING_STATUSES]),
    paused_reason: Type.Union([Type.Literal('error_threshold'), Type.Literal('insufficient_balance'), Type.Null()], { description: 'why the runner paused it (its errors passed the threshold; the balance does not cover its next page); null when a client did' }),
    start_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    schedule_cron: Type.Union([Type.String(), Type.Null()]),
    time_zone: Type.Union([Type.String(), Type.Null()], { description: 'the schedule\'s zone; null: the account\'s' }),
    local_time: Type.Boolean(),
    next_run_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'when the runner starts the next (or the current) run' }),
    run_number: Type.Integer(),
    throttle_per_minute: Type.Union([Type.Integer(), Type.Null()]),
    traffic_type: Type.String(),
    sender: Type.Union([Type.String(), Type.Null()]),
    error_threshold_percent: Type.Integer(),
    error_min_sample: Type.Integer(),
    step_timeout_seconds: Type.Integer({ description: 'a recipient\'s cascade: how long each step but the last waits for `step_until` before the next starts' }),
    step_until: Type.Union([Type.Literal('delivered'), Type.Literal('read')], { description: 'what ends a recipient\'s cascade at a step' }),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
    started_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    finished_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    cancelling: Type.Boolean({ description: 'cancelled, and its messages not yet sent are still being cancelled (in the background, 1,000 recipients a transaction); false once none is left' }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        id: 'mlg_01KB2ZA1B2C3D4E5F6G7H8J9K0',
        object: 'mailing',
        number: 1,
        project_id: 'prj_01KB2Z1T6S0R7Q4P3N2M1L0K9J',
        template_id: 'tpl_01KB2Z6C1D0R7Q4P3N2M1L0K9J',
        templates: { telegram: 'tpl_01KB2Z6C1D0R7Q4P3N2M1L0K9K' },
        params: { promo: 'NY2027' },
        list_id: null,
        segment_id: 'seg_01KB2ZE1B2C3D4E5F6G7H8J9K0',
        name: 'SMSMailing',
        channels: ['telegram', 'sms'],
        status: 'scheduled',
        paused_reason: null,
        start_at: '2026-12-31T09:00:00.000Z',
        schedule_cron: null,
        time_zone: 'Europe/Moscow',
        local_time: true,
        next_run_at: '2026-12-30T19:00:00.000Z',
        run_number: 0,
        throttle_per_minute: 600,
        traffic_type: 'advertising',
        sender: null,
        error_threshold_percent: 20,
        error_min_sample: 50,
        step_timeout_seconds: 600,
        step_until: 'delivered',
        created_at: '2026-12-01T10:00:00.000Z',
        updated_at: '2026-12-01T10:00:00.000Z',
        started_at: null,
        finished_at: null,
        cancelling: false,
      },
    ],
  },
);

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
export const presentMailing = (m: MailingRow) => ({
  id: m.id,
  object: 'mailing' as const,
  number: m.number,
  project_id: m.project_id,
  template_id: m.template_id,
  templates: parseMailingTemplates(m.templates),
  params: mailingParams(m),
  list_id: m.list_id,
  segment_id: m.segment_id ?? null,
  name: m.name,
  channels: JSON.parse(m.channels) as string[],
  status: m.status as (typeof MAILING_STATUSES)[number],
  paused_reason: pausedReason(m.paused_reason),
  start_at: iso(m.start_at),
  schedule_cron: m.schedule_cron ?? null,
  time_zone: m.time_zone ?? null,
  local_time: m.local_time === 1,
  next_run_at: iso(m.next_run_at ?? null),
  run_number: m.run_number ?? 0,
  throttle_per_minute: m.throttle_per_minute,
  traffic_type: m.traffic_type ?? 'advertising',
  sender: m.sender ?? null,
  error_threshold_percent: m.error_threshold_percent ?? DEFAULT_ERROR_THRESHOLD_PERCENT,
  error_min_sample: m.error_min_sample ?? DEFAULT_ERROR_MIN_SAMPLE,
  step_timeout_seconds: m.step_timeout_seconds ?? DEFAULT_STEP_TIMEOUT_SECONDS,
  step_until: (m.step_until ?? DEFAULT_STEP_UNTIL) as 'delivered' | 'read',
  created_at: iso(m.created_at)!,
  updated_at: iso(m.updated_at)!,
  started_at: iso(m.started_at),
  finished_at: iso(m.finished_at),
  cancelling: m.cancel_cursor !== null && m.cancel_cursor !== undefined,
});

const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };

/** The verbs a client may call; `start` and `finish` belong to the mailing runner. */
const PAUSED_REASONS = ['error_threshold', 'insufficient_balance'] as const;
const pausedReason = (r: string | null | undefined): (typeof PAUSED_REASONS)[number] | null => (PAUSED_REASONS as readonly string[]).includes(r ?? '') ? (r as (typeof PAUSED_REASONS)[number]) : null;

/** A mailing's statistics as `GET /v1/mailings/{id}/stats` answers them, and a `mailing.progress` event carries them. */
export function presentMailingStats(m: MailingRow, stats: MailingStats) {
  return { object: 'mailing_stats' as const, mailing_id: m.id, status: m.status as (typeof MAILING_STATUSES)[number], paused_reason: pausedReason(m.paused_reason), ...stats };
}

const CLIENT_VERBS = ['schedule', 'pause', 'resume', 'cancel'] as const satisfies readonly MailingVerb[];

const CANCEL_NOTE =
  ' Every message of the mailing that no sender holds yet (`accepted`, such as those held for local time or quiet hours, or `queued` waiting for a retry) becomes `cancelled` with reason `mailing_cancelled` (its reserve refunded), and no cascade of it starts another step. ' +
  'The answer comes once the mailing is cancelled; its messages are cancelled after it, in the background, 1,000 recipients a transaction: `cancelling` is true until none is left. Pause cancels nothing.';

/** A schedule that can be used: its zone is an IANA name and its cron expression parses. */
function checkSchedule(cron: string | undefined, timeZone: string): void {
  if (!isValidTimeZone(timeZone)) throw new ApiError('invalid_schedule', `time zone "${timeZone}" is not an IANA time zone`, [{ field: 'time_zone', issue: 'must be an IANA time zone such as Europe/Moscow' }]);
  if (cron === undefined) return;
  const problem = cronProblem(cron, timeZone);
  if (problem) throw new ApiError('invalid_schedule', `schedule_cron "${cron}" cannot be used: ${problem}`, [{ field: 'schedule_cron', issue: problem }]);
}

const StatsSchema = Type.Object(
  {
    object: Type.Literal('mailing_stats'),
    mailing_id: Type.String(),
    status: Type.Enum([...MAILING_STATUSES]),
    paused_reason: Type.Union([Type.Literal('error_threshold'), Type.Literal('insufficient_balance'), Type.Null()]),
    run_number: Type.Integer(),
    audience: Type.Union([Type.Integer(), Type.Null()], {
      description:
        'the contacts the current (or last) run\'s audience resolved to: for a list or the whole project, counted when the run started; once the run reached the end of its audience, the recipients it went through (contacts added or removed while it ran change it). ' +
        'Null before the first run, and for a **segment** until its run reaches the end: a segment\'s filter is applied contact by contact as the runner reads its pages, so its size is known only by walking every contact of the project (`GET /v1/segments/{id}/preview` does that on demand)',
    }),
    remaining: Type.Union([Type.Integer(), Type.Null()], { description: '`audience` less the current run\'s recipients so far (accepted and skipped), never below 0: 0 once the run reached its end; for a paused or cancelled run, those it has not reached. Null when `audience` is' }),
    recipients: Type.Object({ accepted: Type.Integer(), skipped: Type.Integer() }, { description: 'the current run: contacts given a message, and contacts skipped (blocked, consent refused, no address, the template failed)' }),
    messages: Type.Record(Type.String(), Type.Integer(), { description: 'every message of the mailing by its current status: one per recipient given one (a cascade counts as its parent, with its outcome; its steps are not counted)' }),
    errors: Type.Integer({ description: 'messages rejected, failed, undelivered or expired' }),
    run_messages: Type.Record(Type.String(), Type.Integer(), { description: 'the current (or last) run\'s messages by their current status, counted as `messages` (the same in a mailing\'s first run; a recurring mailing\'s earlier runs are left out)' }),
    run_errors: Type.Integer({ description: 'the current run\'s messages rejected, failed, undelivered or expired' }),
  },
  { examples: [{ object: 'mailing_stats', mailing_id: 'mlg_01KB2ZA1B2C3D4E5F6G7H8J9K0', status: 'running', paused_reason: null, run_number: 1, audience: 5000, remaining: 3797, recipients: { accepted: 1200, skipped: 3 }, messages: { delivered: 1100, sent: 80, queued: 20 }, errors: 0, run_messages: { delivered: 1100, sent: 80, queued: 20 }, run_errors: 0 }] },
);

const RecipientSchema = Type.Object({
  object: Type.Literal('mailing_recipient'),
  contact_id: Type.String(),
  run_number: Type.Integer(),
  status: Type.Enum(['accepted', 'skipped']),
  reason: Type.Union([Type.String(), Type.Null()], { description: 'why skipped: blocked, no_consent, no_address, channel_unsupported, template_render_failed, or the error code accept gave' }),
  message_id: Type.Union([Type.String(), Type.Null()], { description: 'the recipient\'s message: for several channels, the cascade\'s message (its parent; GET /v1/messages/{id} shows its steps)' }),
  message_status: Type.Union([Type.String(), Type.Null()], { description: 'the message\'s status now (a cascade\'s: its outcome)' }),
  message_channel: Type.Union([Type.String(), Type.Null()], { description: 'the message\'s channel: a cascade\'s is its first step\'s until a step decides it, then that step\'s (delivered by SMS: `sms`)' }),
  created_at: Type.String({ format: 'date-time' }),
});

const Params = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]));

/**
 * Mailings with their lifecycle (draft → scheduled → running ↔ paused →
 * finished, or cancelled), statistics, recipients and a test send. The
 * runner on the delivery side (pipeline/mailings.ts) starts and sends them.
 */
export function mailingsRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const repo = new MailingsRepository(deps.database.db);
  const projects = new ProjectsRepository(deps.database.db);
  const templates = new TemplatesRepository(deps.database.db);
  const lists = new ContactListsRepository(deps.database.db);
  const segments = new SegmentsRepository(deps.database.db);
  const contacts = new ContactsRepository(deps.database.db);
  const balances = new BalanceRepository(deps.database.db);
  /** Refuses `templates` that cannot be used (mailingTemplatesProblems), with every problem of the first problem's code in `details`. */
  const checkTemplates = async (accountId: string, projectId: string, channels: readonly string[], perChannel: MailingTemplates) => {
    const found = await templates.getMany(accountId, [...new Set(Object.values(perChannel))]);
    const problems = mailingTemplatesProblems(projectId, channels, perChannel, (id) => found.get(id));
    if (problems.length === 0) return;
    const code = problems[0]!.code;
    const same = problems.filter((p) => p.code === code).map(({ field, issue }) => ({ field, issue }));
    throw new ApiError(code, same.map((p) => `${p.field}: ${p.issue}`).join('; '), same);
  };
  const mailingOf = async (accountId: string, id: string) => {
    const m = await repo.get(accountId, id);
    if (!m) throw new ApiError('not_found', `no mailing ${id} in this account`);
    return m;
  };
  return async (app) => {
    app.post(
      '/v1/mailings',
      {
        schema: {
          summary: 'Create a mailing',
          description:
            'A draft: the template sent to the project\'s contacts over `channels` (a cascade order: each recipient gets a cascade over the channels they have an address and consent for, a plain message when that is one), from `start_at`, at most `throttle_per_minute` messages a minute. ' +
            'Each step renders its channel\'s template from `templates`, else `template_id` (whatever channel that template was made for). Supports `Idempotency-Key`.',
          headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ description: 'repeat-safe key, 24 h' })) }),
          tags: ['mailings'],
          security,
          body: Type.Object(
            {
              project_id: Type.String({ minLength: 1, maxLength: 64 }),
              template_id: Type.String({ minLength: 1, maxLength: 64, description: 'the default template (of the project): rendered by every channel without its own in `templates`; its own channel is not checked against `channels`' }),
              templates: Type.Optional(TemplatesSchema),
              params: Type.Optional(MailingParams),
              list_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'the audience: a contact list of the project; absent (and no segment_id): every contact of the project' })),
              segment_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'the audience: a saved segment of the project (not with list_id)' })),
              name: Type.String({ minLength: 1, maxLength: 200 }),
              channels: Type.Array(Type.Enum([...TEMPLATE_CHANNELS]), { minItems: 1, maxItems: 8, uniqueItems: true }),
              start_at: Type.Optional(Type.String({ format: 'date-time', description: 'once: when it goes; with schedule_cron: not before' })),
              schedule_cron: Type.Optional(Type.String({ minLength: 9, maxLength: 100, description: 'recurring: a cron expression (5 fields, or 6 with seconds) in time_zone' })),
              time_zone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA zone of the schedule; default the account\'s' })),
              local_time: Type.Optional(Type.Boolean({ description: 'start_at\'s (or each occurrence\'s) wall-clock time in each recipient\'s zone' })),
              throttle_per_minute: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
              throttle_per_second: Type.Optional(Type.Integer({ minimum: 1, maximum: 16_000, description: 'instead of throttle_per_minute' })),
              traffic_type: Type.Optional(Type.Enum([...TRAFFIC_TYPES], { description: 'default advertising' })),
              sender: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
              error_threshold_percent: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'auto-pause when this share of finished messages failed (default 20)' })),
              error_min_sample: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: '…once this many finished (default 50)' })),
              step_timeout_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: `several channels: how long each step of a recipient's cascade but the last waits for \`step_until\` before the next starts (default ${DEFAULT_STEP_TIMEOUT_SECONDS})` })),
              step_until: Type.Optional(Type.Union([Type.Literal('delivered'), Type.Literal('read')], { description: 'several channels: what ends a recipient\'s cascade at a step: `delivered` (default; `read` counts too) or `read`' })),
            },
            {
              additionalProperties: false,
              examples: [
                { project_id: 'prj_01KB2Z1T6S0R7Q4P3N2M1L0K9J', template_id: 'tpl_01KB2Z6C1D0R7Q4P3N2M1L0K9J', name: 'SMSMailing', channels: ['sms'], start_at: '2026-12-31T09:00:00.000Z', throttle_per_minute: 600 },
                { project_id: 'prj_01KB2Z1T6S0R7Q4P3N2M1L0K9J', template_id: 'tpl_01KB2Z6C1D0R7Q4P3N2M1L0K9J', templates: { telegram: 'tpl_01KB2Z6C1D0R7Q4P3N2M1L0K9K' }, name: 'Telegram, then SMS', channels: ['telegram', 'sms'], start_at: '2026-12-31T09:00:00.000Z' },
              ],
            },
          ),
          response: { 201: MailingSchema, ...errors },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const b = request.body;
        if (!(await projects.get(auth.account.id, b.project_id))) throw new ApiError('unknown_project', `no project ${b.project_id} in this account`, [{ field: 'project_id', issue: 'names no project' }]);
        const template = await templates.get(auth.account.id, b.template_id);
        if (!template || template.project_id !== b.project_id) throw new ApiError('unknown_template', `no template ${b.template_id} in this project`, [{ field: 'template_id', issue: 'names no template of the project' }]);
        const perChannel: MailingTemplates = (b.templates ?? {}) as MailingTemplates;
        await checkTemplates(auth.account.id, b.project_id, b.channels, perChannel);
        if (b.list_id !== undefined) {
          const list = await lists.get(auth.account.id, b.list_id);
          if (!list || list.project_id !== b.project_id) throw new ApiError('unknown_list', `no contact list ${b.list_id} in this project`, [{ field: 'list_id', issue: 'names no list of the project' }]);
        }
        if (b.segment_id !== undefined) {
          if (b.list_id !== undefined) throw new ApiError('invalid_schedule', 'give list_id or segment_id, not both', [{ field: 'segment_id', issue: 'not with list_id' }]);
          const segment = await segments.get(auth.account.id, b.segment_id);
          if (!segment || segment.project_id !== b.project_id) throw new ApiError('unknown_segment', `no segment ${b.segment_id} in this project`, [{ field: 'segment_id', issue: 'names no segment of the project' }]);
        }
        if (b.throttle_per_minute !== undefined && b.throttle_per_second !== undefined) throw new ApiError('invalid_schedule', 'give throttle_per_minute or throttle_per_second, not both', [{ field: 'throttle_per_second', issue: 'not with throttle_per_minute' }]);
        checkSchedule(b.schedule_cron, b.time_zone ?? auth.account.time_zone);
        const input = {
          project_id: b.project_id,
          template_id: b.template_id,
          templates: perChannel,
          params: b.params,
          list_id: b.list_id ?? null,
          segment_id: b.segment_id ?? null,
          name: b.name,
          channels: b.channels,
          status: 'draft',
          start_at: b.start_at === undefined ? null : Date.parse(b.start_at),
          schedule_cron: b.schedule_cron ?? null,
          time_zone: b.time_zone ?? null,
          local_time: b.local_time ?? false,
          throttle_per_minute: b.throttle_per_minute ?? (b.throttle_per_second === undefined ? null : b.throttle_per_second * 60),
          traffic_type: b.traffic_type ?? 'advertising',
          sender: b.sender ?? null,
          error_threshold_percent: b.error_threshold_percent ?? null,
          error_min_sample: b.error_min_sample ?? null,
          step_timeout_seconds: b.step_timeout_seconds ?? null,
          step_until: b.step_until ?? null,
        } as const;
        return idempotentCreate(deps, request, reply, auth.account.id, async (db) => presentMailing(await new MailingsRepository(db).create(auth.account.id, input)));
      },
    );

    app.get(
      '/v1/mailings',
      {
        schema: {
          summary: 'List mailings',
          tags: ['mailings'],
          security,
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })), cursor: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ data: Type.Array(MailingSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const limit = request.query.limit ?? 50;
        const rows = await repo.list(auth.account.id, { beforeId: request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, 'mlg'), limit: limit + 1 });
        const page = rows.slice(0, limit);
        return { data: page.map(presentMailing), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );

    app.get('/v1/mailings/:id', { schema: { summary: 'Get a mailing', tags: ['mailings'], security, params: IdParams, response: { 200: MailingSchema, ...errors } } }, async (request) => {
      const auth = requireAuth(request);
      const m = await repo.get(auth.account.id, request.params.id);
      if (!m) throw new ApiError('not_found', `no mailing ${request.params.id} in this account`);
      return presentMailing(m);
    });

    for (const verb of CLIENT_VERBS) {
      const { from, to } = MAILING_TRANSITIONS[verb];
      app.post(
        `/v1/mailings/:id/${verb}`,
        {
          schema: {
            summary: `${verb[0]!.toUpperCase()}${verb.slice(1)} a mailing`,
            description: `From ${from.join(', ')} to ${to}; from any other status \`409 mailing_wrong_status\`.${verb === 'schedule' ? ' The mailing needs a `start_at`.' : ''}${verb === 'cancel' ? CANCEL_NOTE : ''}`,
            tags: ['mailings'],
            security,
            params: IdParams,
            response: { 200: MailingSchema, ...errors },
          },
        },
        async (request) => {
          const auth = requireAuth(request);
          const id = request.params.id;
          let extra = {};
          if (verb === 'schedule') {
            const m = await repo.get(auth.account.id, id);
            if (m) {
              const next = firstRunAt(m, auth.account.time_zone, Date.now());
              if (next === null) throw new ApiError('mailing_wrong_status', `mailing ${id} has neither start_at nor schedule_cron; it cannot be scheduled`, [{ field: 'start_at', issue: 'is required to schedule (or schedule_cron)' }]);
              extra = { next_run_at: next };
            }
          }
          // Cancel: the mailing's messages not yet sent are cancelled after it, on the delivery side, from this cursor.
          if (verb === 'cancel') extra = { cancel_cursor: '' };
          const result = await repo.transition(auth.account.id, id, verb, Date.now(), extra);
          if (result.ok && verb === 'cancel') {
            // Answered now; the pages go on in the background (a restart goes on from the cursor).
            deps.delivery.cancelMailing(auth.account.id, id).catch((err: unknown) => deps.log.warn({ err, mailing: id }, 'cancelling a mailing\'s messages did not finish; it goes on when the delivery side starts again'));
          }
          if (result.ok) return presentMailing(result.mailing);
          if (result.reason === 'not_found') throw new ApiError('not_found', `no mailing ${id} in this account`);
          throw new ApiError('mailing_wrong_status', `mailing ${id} is ${result.status}; ${verb} needs ${from.join(' or ')}`, [{ field: 'status', issue: result.status }]);
        },
      );
    }

    app.get('/v1/mailings/:id/stats', { schema: { summary: 'A mailing\'s progress and delivery statistics', description: 'Read from the recipients and messages in the database on each call: call it again for the live picture, or get the same figures pushed as `mailing.progress` events on `GET /v1/events/stream?types=mailing.progress`.', tags: ['mailings'], security, params: IdParams, response: { 200: StatsSchema, ...errors } } }, async (request) => {
      const auth = requireAuth(request);
      const m = await mailingOf(auth.account.id, request.params.id);
      return presentMailingStats(m, await repo.stats(auth.account.id, m));
    });

    app.get(
      '/v1/mailings/:id/recipients',
      {
        schema: {
          summary: 'A mailing run\'s recipients',
          description: 'Each contact the run reached, in contact id order, with its message\'s current status; `run_number` defaults to the current run.',
          tags: ['mailings'],
          security,
          params: IdParams,
          querystring: Type.Object({ run_number: Type.Optional(Type.Integer({ minimum: 1 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })), cursor: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ data: Type.Array(RecipientSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const m = await mailingOf(auth.account.id, request.params.id);
        const limit = request.query.limit ?? 100;
        const after = request.query.cursor === undefined ? '' : decodeCursor(request.query.cursor, 'cnt');
        const rows = await repo.recipients(auth.account.id, m.id, request.query.run_number ?? m.run_number ?? 0, { afterId: after, limit: limit + 1 });
        const page = rows.slice(0, limit);
        return {
          data: page.map((r) => ({ object: 'mailing_recipient' as const, ...r, status: r.status as 'accepted' | 'skipped', created_at: new Date(r.created_at).toISOString() })),
          next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.contact_id) : null,
        };
      },
    );

    app.post(
      '/v1/mailings/:id/test',
      {
        schema: {
          summary: 'Send a mailing\'s message to chosen numbers',
          description:
            'Renders the first channel\'s template (its entry in `templates`, else `template_id`) for a stored contact (`contact_id`) or with no contact, with the mailing\'s `params` and this request\'s `params` (which win), and sends it at once on the mailing\'s first channel (a plain message, never a cascade) to each of `to` (phone numbers, or addresses for e-mail). ' +
            'Test messages carry `reference` `test:<mailing id>`, not the mailing: they are not in its statistics. Any status but cancelled.',
          tags: ['mailings'],
          security,
          params: IdParams,
          body: Type.Object(
            { to: Type.Array(Type.String({ minLength: 1, maxLength: 254 }), { minItems: 1, maxItems: 20 }), contact_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })), params: Type.Optional(Params) },
            { additionalProperties: false, examples: [{ to: ['+79161234567'], contact_id: 'cnt_01KB2Z4M8P0R7Q4P3N2M1L0K9J' }] },
          ),
          response: {
            200: Type.Object({
              object: Type.Literal('mailing_test'),
              text: Type.String(),
              messages: Type.Array(Type.Object({ to: Type.String(), message_id: Type.Union([Type.String(), Type.Null()]), error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]) })),
            }),
            ...errors,
          },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const m = await mailingOf(auth.account.id, request.params.id);
        if (m.status === 'cancelled') throw new ApiError('mailing_wrong_status', `mailing ${m.id} is cancelled`, [{ field: 'status', issue: m.status }]);
        const channel = ((JSON.parse(m.channels) as string[])[0] ?? 'sms') as Channel;
        const template = await templates.get(auth.account.id, templateIdFor(m.template_id, parseMailingTemplates(m.templates), channel));
        const project = await projects.get(auth.account.id, m.project_id);
        if (!template || !project) throw new ApiError('unknown_template', `mailing ${m.id} names a template or project that is gone`);
        let fields: ContactFields = { first_name: null, last_name: null, middle_name: null, gender: null, phones: [], emails: [], time_zone: null, guid: null, attributes: {} };
        if (request.body.contact_id !== undefined) {
          const c = await contacts.get(auth.account.id, request.body.contact_id);
          if (!c) throw new ApiError('not_found', `no contact ${request.body.contact_id} in this account`);
          fields = contactFields(c);
        }
        const rendered = renderForContact(template, fields, { ...mailingParams(m), ...request.body.params });
        if (!rendered.ok) throw new ApiError('template_render_failed', `the ${rendered.variant} text cannot be rendered: ${rendered.issue}`, [{ field: 'params', issue: rendered.issue }]);
        if (!(CHANNELS as readonly string[]).includes(channel)) throw new ApiError('invalid_schedule', `a mailing cannot send on ${channel} yet`, [{ field: 'channels', issue: 'first channel not supported' }]);
        const now = Date.now();
        // Priced and paid like any message: a test send is real traffic.
        const context = await acceptContext(auth.account, deps);
        const out: { to: string; message_id: string | null; error: { code: string; message: string } | null }[] = [];
        const prepared = request.body.to.map((to) => ({ to, p: prepareMessage(auth.account, testRequest(m, channel, to, rendered.text, project.code), now, null, context) }));
        const { fits, refused } = await affordable(balances, auth.account.id, prepared.flatMap(({ p }) => (p.ok ? [p.row] : [])));
        for (const { to, p } of prepared) {
          const error = p.ok ? refused.get(p.row) : p.error;
          out.push(error ? { to, message_id: null, error: { code: error.code, message: error.message } } : { to, message_id: p.ok ? p.row.id : null, error: null });
        }
        const rows = [...fits];
        if (rows.length > 0) await deps.delivery.accept({ messages: rows });
        return { object: 'mailing_test' as const, text: rendered.text, messages: out };
      },
    );
  };
}

/** A test send: at once (no quiet hours, no local time), tagged as a test of the mailing. */
function testRequest(m: MailingRow, channel: Channel, to: string, text: string, projectCode: string) {
  return {
    channel,
    to,
    text,
    ...(m.sender ? { from: m.sender } : {}),
    traffic_type: 'service' as TrafficType,
    project: projectCode,
    reference: `test:${m.id}`,
    ...(channel === 'email' ? { subject: `[test] ${m.name}` } : {}),
  };
}
