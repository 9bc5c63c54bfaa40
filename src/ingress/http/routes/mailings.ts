import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiError } from '../../../errors.ts';
import { ContactListsRepository } from '../../../store/contact-lists.ts';
import { MAILING_STATUSES, MAILING_TRANSITIONS, MailingsRepository, type MailingRow, type MailingVerb } from '../../../store/mailings.ts';
import { ProjectsRepository } from '../../../store/projects.ts';
import { TemplatesRepository } from '../../../store/templates.ts';
import { requireAuth } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema, IdParams } from '../schemas.ts';
import { idempotentCreate } from './idempotent-create.ts';
import { TEMPLATE_CHANNELS } from './templates.ts';

const MailingSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('mailing'),
    number: Type.Integer(),
    project_id: Type.String(),
    template_id: Type.String(),
    list_id: Type.Union([Type.String(), Type.Null()]),
    name: Type.String(),
    channels: Type.Array(Type.String(), { description: 'in cascade order' }),
    status: Type.Enum([...MAILING_STATUSES]),
    start_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    throttle_per_minute: Type.Union([Type.Integer(), Type.Null()]),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
    started_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    finished_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
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
        list_id: null,
        name: 'SMSMailing',
        channels: ['sms'],
        status: 'scheduled',
        start_at: '2026-12-31T09:00:00.000Z',
        throttle_per_minute: 600,
        created_at: '2026-12-01T10:00:00.000Z',
        updated_at: '2026-12-01T10:00:00.000Z',
        started_at: null,
        finished_at: null,
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
  list_id: m.list_id,
  name: m.name,
  channels: JSON.parse(m.channels) as string[],
  status: m.status as (typeof MAILING_STATUSES)[number],
  start_at: iso(m.start_at),
  throttle_per_minute: m.throttle_per_minute,
  created_at: iso(m.created_at)!,
  updated_at: iso(m.updated_at)!,
  started_at: iso(m.started_at),
  finished_at: iso(m.finished_at),
});

const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };

/** The verbs a client may call; `start` and `finish` belong to the mailing runner. */
const CLIENT_VERBS = ['schedule', 'pause', 'resume', 'cancel'] as const satisfies readonly MailingVerb[];

/**
 * Mailings as records with their lifecycle (draft → scheduled → running ↔
 * paused → finished, or cancelled). The runner that sends them is not built
 * yet: a scheduled mailing waits.
 */
export function mailingsRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const repo = new MailingsRepository(deps.database.db);
  const projects = new ProjectsRepository(deps.database.db);
  const templates = new TemplatesRepository(deps.database.db);
  const lists = new ContactListsRepository(deps.database.db);
  return async (app) => {
    app.post(
      '/v1/mailings',
      {
        schema: {
          summary: 'Create a mailing',
          description: 'A draft: the template sent to the project\'s contacts over `channels` (a cascade order), from `start_at`, at most `throttle_per_minute` messages a minute. Supports `Idempotency-Key`.',
          headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ description: 'repeat-safe key, 24 h' })) }),
          tags: ['mailings'],
          security,
          body: Type.Object(
            {
              project_id: Type.String({ minLength: 1, maxLength: 64 }),
              template_id: Type.String({ minLength: 1, maxLength: 64 }),
              list_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'the audience: a contact list of the project; absent: every contact of the project' })),
              name: Type.String({ minLength: 1, maxLength: 200 }),
              channels: Type.Array(Type.Enum([...TEMPLATE_CHANNELS]), { minItems: 1, maxItems: 8, uniqueItems: true }),
              start_at: Type.Optional(Type.String({ format: 'date-time' })),
              throttle_per_minute: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
            },
            { additionalProperties: false, examples: [{ project_id: 'prj_01KB2Z1T6S0R7Q4P3N2M1L0K9J', template_id: 'tpl_01KB2Z6C1D0R7Q4P3N2M1L0K9J', name: 'SMSMailing', channels: ['sms'], start_at: '2026-12-31T09:00:00.000Z', throttle_per_minute: 600 }] },
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
        if (b.list_id !== undefined) {
          const list = await lists.get(auth.account.id, b.list_id);
          if (!list || list.project_id !== b.project_id) throw new ApiError('unknown_list', `no contact list ${b.list_id} in this project`, [{ field: 'list_id', issue: 'names no list of the project' }]);
        }
        const input = {
          project_id: b.project_id,
          template_id: b.template_id,
          list_id: b.list_id ?? null,
          name: b.name,
          channels: b.channels,
          status: 'draft',
          start_at: b.start_at === undefined ? null : Date.parse(b.start_at),
          throttle_per_minute: b.throttle_per_minute ?? null,
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
            description: `From ${from.join(', ')} to ${to}; from any other status \`409 mailing_wrong_status\`.${verb === 'schedule' ? ' The mailing needs a `start_at`.' : ''}`,
            tags: ['mailings'],
            security,
            params: IdParams,
            response: { 200: MailingSchema, ...errors },
          },
        },
        async (request) => {
          const auth = requireAuth(request);
          const id = request.params.id;
          if (verb === 'schedule') {
            const m = await repo.get(auth.account.id, id);
            if (m && m.start_at === null) throw new ApiError('mailing_wrong_status', `mailing ${id} has no start_at; it cannot be scheduled`, [{ field: 'start_at', issue: 'is required to schedule' }]);
          }
          const result = await repo.transition(auth.account.id, id, verb);
          if (result.ok) return presentMailing(result.mailing);
          if (result.reason === 'not_found') throw new ApiError('not_found', `no mailing ${id} in this account`);
          throw new ApiError('mailing_wrong_status', `mailing ${id} is ${result.status}; ${verb} needs ${from.join(' or ')}`, [{ field: 'status', issue: result.status }]);
        },
      );
    }
  };
}
