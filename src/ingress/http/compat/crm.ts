import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Ajv } from 'ajv';
import { Type, type Static } from 'typebox';
import { findNul } from '../../../domain/nul.ts';
import { CompatRepository } from '../../../store/compat-requests.ts';
import { ContactsRepository, normalizeContact } from '../../../store/contacts.ts';
import { MailingsRepository } from '../../../store/mailings.ts';
import { ProjectCodeTakenError, ProjectsRepository } from '../../../store/projects.ts';
import { TemplatesRepository } from '../../../store/templates.ts';
import type { ApiKeyAuthenticator, AuthContext } from '../auth.ts';
import type { HttpDeps } from '../deps.ts';
import { compatCaller } from './access.ts';
import { parseLocalDateTime } from './local-time.ts';

/**
 * The API of seed 004 ("Сервис рассылки сообщений"): projects, clients and
 * mailings, answered `{"status":201,"message":"Ok"}` or
 * `{"code":N,"error":{"message":…,"status":N}}` with the seed's own messages.
 * Integer ids are the per-account `number` of projects and templates.
 */

const MESSAGES = { 400: 'Ошибка валидации', 403: 'Доступ запрещен', 404: 'Страница не найдена', 405: 'Метод не поддерживается', 500: 'Внутренняя ошибка сервера' } as const;
type Code = keyof typeof MESSAGES;
/** what the body parser hands on for a body that is not JSON */
const MALFORMED = Symbol('malformed');

class CrmError extends Error {
  readonly code: Code;
  constructor(code: Code, why: string) {
    super(why);
    this.code = code;
  }
}

/** Channels by the numbers CRMs send (`"channels": [1]`) or by name. */
export const CHANNEL_CODES: Record<number, string> = { 1: 'sms', 2: 'email', 3: 'voice', 4: 'telegram', 5: 'whatsapp', 6: 'viber', 7: 'vk', 8: 'max' };
const CHANNEL_NAMES = new Set(Object.values(CHANNEL_CODES));
/** `status` of a new mailing: 0 a draft, 1 scheduled for `event`. */
const MAILING_STATUS_CODES: Record<string, 'draft' | 'scheduled'> = { '0': 'draft', '1': 'scheduled', draft: 'draft', scheduled: 'scheduled' };

// The seed writes its integer examples as strings ("0236"): both are taken.
const IntLike = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^[0-9]{1,15}$' })]);
const Str = (max: number) => Type.String({ minLength: 1, maxLength: max });
const ProjectCreate = Type.Object({ name: Str(200), code: Str(128) }, { additionalProperties: false });
const ProjectUpdate = Type.Object({ 'primary key': IntLike, name: Str(200), code: Type.Optional(Str(128)) }, { additionalProperties: false });
const ClientCreate = Type.Object(
  {
    project: Str(128),
    guid: Str(200),
    first_name: Type.String({ maxLength: 200 }),
    last_name: Type.String({ maxLength: 200 }),
    middle_name: Type.String({ maxLength: 200 }),
    phone: Type.Optional(Type.String({ maxLength: 64 })),
    email: Type.Optional(Type.String({ maxLength: 320 })),
    gender: Type.Optional(Type.String({ maxLength: 16 })),
  },
  { additionalProperties: false },
);
const MailingCreate = Type.Object(
  {
    name: Str(200),
    project_id: IntLike,
    template_id: IntLike,
    status: Type.Union([Type.Integer({ minimum: 0, maximum: 1 }), Type.String({ maxLength: 16 })]),
    channels: Type.Union([Type.Array(Type.Union([Type.Integer(), Type.String({ maxLength: 16 })]), { minItems: 1, maxItems: 8 }), Type.Integer(), Type.String({ maxLength: 16 })]),
    event: Str(64),
  },
  { additionalProperties: false },
);

const ajv = new Ajv({ allErrors: false, coerceTypes: false, strict: false });
const check = <T extends Parameters<typeof ajv.compile>[0]>(schema: T) => ajv.compile<Static<T & import('typebox').TSchema>>(schema);
const validateProjectCreate = check(ProjectCreate);
const validateProjectUpdate = check(ProjectUpdate);
const validateClientCreate = check(ClientCreate);
const validateMailingCreate = check(MailingCreate);

function send(reply: FastifyReply, code: 201 | Code): FastifyReply {
  const body = code === 201 ? { status: 201, message: 'Ok' } : { code, error: { message: MESSAGES[code], status: code } };
  return reply.code(code).type('application/json; charset=utf-8').send(body);
}

export function compatCrmRoutes(deps: HttpDeps, authenticator: ApiKeyAuthenticator): FastifyPluginAsync {
  const compat = new CompatRepository(deps.database.db);
  const projects = new ProjectsRepository(deps.database.db);
  const contacts = new ContactsRepository(deps.database.db);
  const templates = new TemplatesRepository(deps.database.db);
  const mailings = new MailingsRepository(deps.database.db);

  /** Runs one action: the caller must be known, the body valid; every failure answers in the seed's shape. */
  const action =
    <T>(validate: ((body: unknown) => body is T) & { errors?: unknown }, run: (auth: AuthContext, body: T, request: FastifyRequest<{ Params: { id?: string } }>, reply: FastifyReply) => Promise<void>) =>
    async (request: FastifyRequest<{ Params: { id?: string } }>, reply: FastifyReply) => {
      try {
        if (!(await deps.modules.enabled('compat_crm'))) throw new CrmError(403, 'the compat_crm module is switched off');
        const auth = await compatCaller(request, authenticator, compat, deps.accounts);
        if (!auth) throw new CrmError(403, 'no API key or an unknown one');
        if (request.body === MALFORMED || !validate(request.body)) throw new CrmError(400, 'the body does not match the schema');
        const nul = findNul(request.body);
        if (nul !== undefined) throw new CrmError(400, `${nul} holds U+0000, which PostgreSQL cannot store`);
        await run(auth, request.body, request, reply);
        return send(reply, 201);
      } catch (err) {
        if (err instanceof CrmError) {
          request.log.debug({ why: err.message, url: request.url }, 'compat request refused');
          return send(reply, err.code);
        }
        request.log.error({ err }, 'compat request failed');
        return send(reply, 500);
      }
    };

  const number = (v: number | string) => Number(v);

  return async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 1024 * 1024 }, (_request, text, done) => {
      try {
        done(null, String(text).trim() === '' ? undefined : JSON.parse(String(text)));
      } catch {
        done(null, MALFORMED);
      }
    });
    app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
      if (err.statusCode === 413 || err.statusCode === 400) return send(reply, 400);
      request.log.error({ err }, 'compat request failed');
      return send(reply, 500);
    });
    const schema = (summary: string) => ({ schema: { summary, description: 'Seed 004; see docs/compat.md.', tags: ['compatibility'], security: [{ bearerAuth: [] }] } });

    app.post(
      '/project/create',
      schema('Seed 004: create a project'),
      action(validateProjectCreate, async (auth, body, _request, reply) => {
        try {
          const project = await projects.create(auth.account.id, body);
          // The seed's answer has no id; the header tells a client that wants it.
          reply.header('location', `/project/${project.number}/update`);
        } catch (err) {
          if (err instanceof ProjectCodeTakenError) throw new CrmError(400, err.message);
          throw err;
        }
      }),
    );

    app.put(
      '/project/:id/update',
      schema('Seed 004: update a project'),
      action(validateProjectUpdate, async (auth, body, request) => {
        const id = request.params.id ?? '';
        if (!/^[0-9]{1,15}$/.test(id)) throw new CrmError(404, 'the project id is not a number');
        if (number(body['primary key']) !== Number(id)) throw new CrmError(400, '"primary key" differs from the id in the path');
        const project = await projects.getByNumber(auth.account.id, Number(id));
        if (!project) throw new CrmError(404, `no project ${id}`);
        try {
          await projects.update(auth.account.id, project.id, { name: body.name, code: body.code });
        } catch (err) {
          if (err instanceof ProjectCodeTakenError) throw new CrmError(400, err.message);
          throw err;
        }
      }),
    );

    app.post(
      '/client/create',
      schema('Seed 004: create a client'),
      action(validateClientCreate, async (auth, body) => {
        const project = await projects.getByCode(auth.account.id, body.project);
        if (!project) throw new CrmError(400, `no project with code ${body.project}`);
        const normalized = normalizeContact(
          {
            first_name: body.first_name,
            last_name: body.last_name,
            middle_name: body.middle_name,
            ...(body.phone !== undefined ? { phones: body.phone === '' ? [] : [body.phone] } : {}),
            ...(body.email !== undefined ? { emails: body.email === '' ? [] : [body.email] } : {}),
            ...(body.gender !== undefined ? { gender: body.gender } : {}),
          },
          auth.account.default_region,
        );
        if (!normalized.ok) throw new CrmError(400, normalized.details.map((d) => `${d.field}: ${d.issue}`).join('; '));
        // A CRM pushes its clients again and again: the same guid updates the contact.
        await contacts.upsertByGuid(auth.account.id, project.id, body.guid, normalized.patch);
      }),
    );

    app.post(
      '/mailing/create',
      schema('Seed 004: create a mailing'),
      action(validateMailingCreate, async (auth, body) => {
        const project = await projects.getByNumber(auth.account.id, number(body.project_id));
        if (!project) throw new CrmError(400, `no project ${body.project_id}`);
        const template = await templates.getByNumber(auth.account.id, number(body.template_id));
        if (!template || template.project_id !== project.id) throw new CrmError(400, `no template ${body.template_id} in the project`);
        const status = MAILING_STATUS_CODES[String(body.status).toLowerCase()];
        if (!status) throw new CrmError(400, `status ${body.status} is neither 0 (draft) nor 1 (scheduled)`);
        const channels: string[] = [];
        for (const c of Array.isArray(body.channels) ? body.channels : [body.channels]) {
          const name = typeof c === 'number' || /^[0-9]+$/.test(c) ? CHANNEL_CODES[Number(c)] : c.toLowerCase();
          if (!name || !CHANNEL_NAMES.has(name)) throw new CrmError(400, `unknown channel ${c}`);
          if (!channels.includes(name)) channels.push(name);
        }
        const startAt = parseLocalDateTime(body.event, auth.account.time_zone);
        if (startAt === undefined) throw new CrmError(400, `event ${body.event} is not a date`);
        await mailings.create(auth.account.id, { project_id: project.id, template_id: template.id, list_id: null, name: body.name, channels, status, start_at: startAt, throttle_per_minute: null });
      }),
    );

    // Each path answers other methods with the seed's 405.
    const others = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
    for (const [url, method] of [['/project/create', 'POST'], ['/project/:id/update', 'PUT'], ['/client/create', 'POST'], ['/mailing/create', 'POST']] as const) {
      app.route({ method: others.filter((m) => m !== method), url, schema: { hide: true }, handler: async (_request, reply) => send(reply, 405) });
    }
    // Unknown paths under the seed's prefixes answer its 404.
    for (const prefix of ['/project/*', '/client/*', '/mailing/*']) app.all(prefix, { schema: { hide: true } }, async (_request, reply) => send(reply, 404));
  };
}

