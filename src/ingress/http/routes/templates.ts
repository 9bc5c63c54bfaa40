import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { checkTemplate, parseGender, renderForContact, type ContactFields } from '../../../domain/templates.ts';
import { ApiError, type ErrorDetail } from '../../../errors.ts';
import { segment } from '../../../sms/encoding.ts';
import { ContactsRepository, contactFields } from '../../../store/contacts.ts';
import { MailingsRepository } from '../../../store/mailings.ts';
import { ProjectsRepository } from '../../../store/projects.ts';
import { TemplatesRepository, type TemplateRow } from '../../../store/templates.ts';
import { requireAuth } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema, IdParams } from '../schemas.ts';
import { idempotentCreate } from './idempotent-create.ts';
import { templateRegistrationsRoutes } from './template-registrations.ts';

export const TEMPLATE_CHANNELS = ['sms', 'email', 'telegram', 'whatsapp', 'viber', 'vk', 'max', 'voice'] as const;

const Text = (description: string) => Type.String({ minLength: 1, maxLength: 10000, description });
const OptionalText = (description: string) => Type.Optional(Type.Union([Text(description), Type.Null()]));

const TemplateSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('template'),
    number: Type.Integer({ description: 'the integer id of the compatibility API (`template_id` of `POST /mailing/create`)' }),
    project_id: Type.String(),
    channel: Type.Enum([...TEMPLATE_CHANNELS]),
    name: Type.String(),
    text: Type.String(),
    text_male: Type.Union([Type.String(), Type.Null()]),
    text_female: Type.Union([Type.String(), Type.Null()]),
    variables: Type.Array(Type.String(), { description: 'the variables the texts use' }),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        id: 'tpl_01KB2Z6C1D0R7Q4P3N2M1L0K9J',
        object: 'template',
        number: 1,
        project_id: 'prj_01KB2Z1T6S0R7Q4P3N2M1L0K9J',
        channel: 'sms',
        name: 'new-year',
        text: 'Здравствуйте, {{first_name}}! С Новым годом!',
        text_male: 'Уважаемый {{first_name}}! С Новым годом!',
        text_female: 'Уважаемая {{first_name}}! С Новым годом!',
        variables: ['first_name'],
        created_at: '2026-12-01T10:00:00.000Z',
        updated_at: '2026-12-01T10:00:00.000Z',
      },
    ],
  },
);

function present(t: TemplateRow) {
  const variables = new Set<string>();
  for (const text of [t.text, t.text_male, t.text_female]) {
    const checked = text ? checkTemplate(text) : undefined;
    if (checked?.ok) for (const v of checked.variables) variables.add(v);
  }
  return {
    id: t.id,
    object: 'template' as const,
    number: t.number,
    project_id: t.project_id,
    channel: t.channel as (typeof TEMPLATE_CHANNELS)[number],
    name: t.name,
    text: t.text,
    text_male: t.text_male,
    text_female: t.text_female,
    variables: [...variables].sort(),
    created_at: new Date(t.created_at).toISOString(),
    updated_at: new Date(t.updated_at).toISOString(),
  };
}

/** Every text given must parse; the problems name their field. */
function checkTexts(texts: Record<string, string | null | undefined>): void {
  const details: ErrorDetail[] = [];
  for (const [field, text] of Object.entries(texts)) {
    if (!text) continue;
    const checked = checkTemplate(text);
    if (!checked.ok) details.push({ field, issue: checked.issue });
  }
  if (details.length > 0) throw new ApiError('invalid_template', details.map((d) => `${d.field}: ${d.issue}`).join('; '), details);
}

const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema };

const InlineContact = Type.Object(
  {
    first_name: Type.Optional(Type.String({ maxLength: 200 })),
    last_name: Type.Optional(Type.String({ maxLength: 200 })),
    middle_name: Type.Optional(Type.String({ maxLength: 200 })),
    gender: Type.Optional(Type.String({ maxLength: 16 })),
    attributes: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]))),
  },
  { additionalProperties: false, description: 'a contact that is not stored, to try the template with' },
);

/**
 * Message templates per project and channel (S16): LiquidJS texts with gender
 * variants, and a preview for a chosen contact; their registration with
 * operators and the linter are in template-registrations.ts (S22).
 */
export function templatesRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const repo = new TemplatesRepository(deps.database.db);
  const projects = new ProjectsRepository(deps.database.db);
  const contacts = new ContactsRepository(deps.database.db);
  const mailings = new MailingsRepository(deps.database.db);
  const notFound = (id: string) => new ApiError('not_found', `no template ${id} in this account`);
  return async (app) => {
    await app.register(templateRegistrationsRoutes(deps));

    app.post(
      '/v1/templates',
      {
        schema: {
          summary: 'Create a template',
          description: '`text` is the neutral text, used when the contact\'s gender is unknown or its variant is not given; `text_male` and `text_female` are the gender variants. All are LiquidJS (`{{first_name}}`, `{{ city | default: "—" }}`), checked on creation. Supports `Idempotency-Key`.',
          headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ description: 'repeat-safe key, 24 h' })) }),
          tags: ['templates'],
          security,
          body: Type.Object(
            { project_id: Type.String({ minLength: 1, maxLength: 64 }), channel: Type.Enum([...TEMPLATE_CHANNELS]), name: Type.String({ minLength: 1, maxLength: 200 }), text: Text('the neutral text'), text_male: OptionalText('for men'), text_female: OptionalText('for women') },
            { additionalProperties: false, examples: [{ project_id: 'prj_01KB2Z1T6S0R7Q4P3N2M1L0K9J', channel: 'sms', name: 'new-year', text: 'Здравствуйте, {{first_name}}!', text_male: 'Уважаемый {{first_name}}!', text_female: 'Уважаемая {{first_name}}!' }] },
          ),
          response: { 201: TemplateSchema, ...errors },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const b = request.body;
        if (!(await projects.get(auth.account.id, b.project_id))) throw new ApiError('unknown_project', `no project ${b.project_id} in this account`, [{ field: 'project_id', issue: 'names no project' }]);
        checkTexts({ text: b.text, text_male: b.text_male, text_female: b.text_female });
        return idempotentCreate(deps, request, reply, auth.account.id, async (db) => present(await new TemplatesRepository(db).create(auth.account.id, b)));
      },
    );

    app.get(
      '/v1/templates',
      {
        schema: {
          summary: 'List templates',
          tags: ['templates'],
          security,
          querystring: Type.Object(
            { project_id: Type.Optional(Type.String({ maxLength: 64 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })), cursor: Type.Optional(Type.String({ maxLength: 200 })) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ data: Type.Array(TemplateSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const limit = request.query.limit ?? 50;
        const rows = await repo.list(auth.account.id, { projectId: request.query.project_id, beforeId: request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, 'tpl'), limit: limit + 1 });
        const page = rows.slice(0, limit);
        return { data: page.map(present), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );

    app.get('/v1/templates/:id', { schema: { summary: 'Get a template', tags: ['templates'], security, params: IdParams, response: { 200: TemplateSchema, ...errors } } }, async (request) => {
      const auth = requireAuth(request);
      const t = await repo.get(auth.account.id, request.params.id);
      if (!t) throw notFound(request.params.id);
      return present(t);
    });

    app.patch(
      '/v1/templates/:id',
      {
        schema: {
          summary: 'Change a template',
          description: 'Changes only the fields given; `null` removes a gender variant.',
          tags: ['templates'],
          security,
          params: IdParams,
          body: Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), text: Type.Optional(Text('the neutral text')), text_male: OptionalText('for men'), text_female: OptionalText('for women') }, { additionalProperties: false }),
          response: { 200: TemplateSchema, ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        checkTexts(request.body);
        const t = await repo.update(auth.account.id, request.params.id, request.body);
        if (!t) throw notFound(request.params.id);
        return present(t);
      },
    );

    app.delete('/v1/templates/:id', { schema: { summary: 'Delete a template', description: 'A mailing that uses it and is not finished or cancelled is cancelled, its messages not sent yet with it (as `POST /v1/mailings/{id}/cancel`).', tags: ['templates'], security, params: IdParams, response: { 204: Type.Null(), ...errors } } }, async (request, reply) => {
      const auth = requireAuth(request);
      if (!(await repo.delete(auth.account.id, request.params.id))) throw notFound(request.params.id);
      deps.billing.templates.forget(auth.account.id);
      for (const id of await mailings.cancelUsingTemplate(auth.account.id, request.params.id)) {
        request.log.info({ mailing: id, template: request.params.id }, 'a mailing whose template was deleted is cancelled');
        deps.delivery.cancelMailing(auth.account.id, id).catch((err: unknown) => deps.log.warn({ err, mailing: id }, 'cancelling a mailing\'s messages did not finish; it goes on when the delivery side starts again'));
      }
      return reply.code(204).send(null);
    });

    app.post(
      '/v1/templates/:id/preview',
      {
        schema: {
          summary: 'Preview a template for a contact',
          description:
            'Renders the template for a stored contact (`contact_id`) or one given inline (`contact`), with optional `params`: the variant is chosen by the contact\'s gender. ' +
            'For SMS the answer also says the encoding and how many parts it takes. A variable neither the contact nor `params` has is `template_render_failed`.',
          tags: ['templates'],
          security,
          params: IdParams,
          body: Type.Object(
            { contact_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })), contact: Type.Optional(InlineContact), params: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]))) },
            { additionalProperties: false, examples: [{ contact_id: 'cnt_01KB2Z4M8P0R7Q4P3N2M1L0K9J', params: { promo: 'NY2027' } }] },
          ),
          response: {
            200: Type.Object(
              {
                object: Type.Literal('template_preview'),
                variant: Type.Enum(['male', 'female', 'neutral']),
                text: Type.String(),
                encoding: Type.Union([Type.Enum(['gsm7', 'ucs2']), Type.Null()]),
                parts_count: Type.Union([Type.Integer(), Type.Null()]),
              },
              { examples: [{ object: 'template_preview', variant: 'male', text: 'Уважаемый Андрей!', encoding: 'ucs2', parts_count: 1 }] },
            ),
            ...errors,
          },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const t = await repo.get(auth.account.id, request.params.id);
        if (!t) throw notFound(request.params.id);
        const b = request.body;
        let fields: ContactFields;
        if (b.contact_id !== undefined) {
          const c = await contacts.get(auth.account.id, b.contact_id);
          if (!c) throw new ApiError('not_found', `no contact ${b.contact_id} in this account`);
          fields = contactFields(c);
        } else {
          const inline = b.contact ?? {};
          const gender = parseGender(inline.gender);
          if (gender === undefined) throw new ApiError('invalid_contact', 'contact.gender must be male or female', [{ field: 'contact.gender', issue: 'must be male or female' }]);
          fields = { first_name: inline.first_name ?? null, last_name: inline.last_name ?? null, middle_name: inline.middle_name ?? null, gender, phones: [], emails: [], time_zone: null, guid: null, attributes: inline.attributes ?? {} };
        }
        const rendered = renderForContact(t, fields, b.params ?? {});
        if (!rendered.ok) throw new ApiError('template_render_failed', `the ${rendered.variant} text cannot be rendered: ${rendered.issue}`, [{ field: rendered.variant === 'neutral' ? 'text' : `text_${rendered.variant}`, issue: rendered.issue }]);
        const sms = t.channel === 'sms' ? segment(rendered.text) : undefined;
        return { object: 'template_preview' as const, variant: rendered.variant, text: rendered.text, encoding: sms?.encoding ?? null, parts_count: sms?.parts.length ?? null };
      },
    );
  };
}
