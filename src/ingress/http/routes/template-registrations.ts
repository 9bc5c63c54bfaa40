import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { LINT_CODES, RULED_OPERATORS, lintTemplate, suggestRewrite, type Finding, type Suggestion, type TemplateTexts } from '../../../domain/template-lint.ts';
import { ApiError } from '../../../errors.ts';
import { REGISTRATION_STATUSES, TemplateRegistrationsRepository, TemplatesRepository, type RegisteredTexts, type RegistrationRow, type TemplateRow } from '../../../store/templates.ts';
import { requireAdmin, requireAuth } from '../auth.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema } from '../schemas.ts';

const Operator = Type.String({ pattern: '^[a-z0-9_]{1,64}$', description: 'an operator code (`mts`, `megafon`, `beeline`, `t2`, `inn_<INN>`)', examples: ['mts'] });
const Params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }), operator: Operator });
const Sender = Type.String({ minLength: 1, maxLength: 16, description: 'the sender name the template is registered for' });
const Texts = Type.Object({ text: Type.String(), text_male: Type.Union([Type.String(), Type.Null()]), text_female: Type.Union([Type.String(), Type.Null()]) });

const FindingSchema = Type.Object(
  { code: Type.Enum([...LINT_CODES]), operator: Type.String(), field: Type.String(), message: Type.String() },
  { additionalProperties: false, examples: [{ code: 'variable_at_start', operator: 'mts', field: 'text', message: 'the text starts with the variable name; start with fixed text' }] },
);
const SuggestionSchema = Type.Object(
  {
    texts: Texts,
    changes: Type.Array(Type.Object({ code: Type.Enum([...LINT_CODES]), field: Type.String(), description: Type.String() })),
    remaining: Type.Array(FindingSchema, { description: 'what the rewrite could not fix' }),
  },
  { description: 'a rewrite by fixed rules (docs/templates.md), when the template fails or the operator rejected it' },
);

const RegistrationSchema = Type.Object(
  {
    object: Type.Literal('template_registration'),
    template_id: Type.String(),
    operator: Type.String(),
    status: Type.Enum([...REGISTRATION_STATUSES]),
    reason: Type.Union([Type.String(), Type.Null()], { description: 'the operator\'s reason, for a rejection' }),
    sender: Type.Union([Type.String(), Type.Null()]),
    submitted: Type.Union([Texts, Type.Null()], { description: 'the texts submitted, which an approval covers' }),
    text_changed: Type.Boolean({ description: 'the template was edited since it was submitted: submit it again to register the new text' }),
    suggestion: Type.Optional(Type.Union([SuggestionSchema, Type.Null()])),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  {
    additionalProperties: false,
    examples: [
      { object: 'template_registration', template_id: 'tpl_01KB2Z6C1D0R7Q4P3N2M1L0K9J', operator: 'mts', status: 'approved', reason: null, sender: 'Shop', submitted: { text: 'Ваш код: {{code}}', text_male: null, text_female: null }, text_changed: false, created_at: '2026-12-01T10:00:00.000Z', updated_at: '2026-12-03T10:00:00.000Z' },
    ],
  },
);

const LintResultSchema = Type.Object({
  operator: Type.String(),
  status: Type.Union([Type.Enum([...REGISTRATION_STATUSES]), Type.Null()], { description: 'the registration with this operator; null: none yet' }),
  passed: Type.Boolean(),
  findings: Type.Array(FindingSchema),
  suggestion: Type.Union([SuggestionSchema, Type.Null()]),
});
const LintSchema = Type.Object({ object: Type.Literal('template_lint'), results: Type.Array(LintResultSchema) }, { additionalProperties: false });

const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };

const textsOf = (t: TemplateRow): RegisteredTexts => ({ text: t.text, text_male: t.text_male, text_female: t.text_female });

function present(r: RegistrationRow, template: TemplateRow, suggestion?: Suggestion | null) {
  const submitted = r.text === null ? null : (JSON.parse(r.text) as RegisteredTexts);
  const current = textsOf(template);
  return {
    object: 'template_registration' as const,
    template_id: r.template_id,
    operator: r.operator,
    status: r.status as (typeof REGISTRATION_STATUSES)[number],
    reason: r.reason,
    sender: r.sender,
    submitted,
    text_changed: submitted !== null && (submitted.text !== current.text || submitted.text_male !== current.text_male || submitted.text_female !== current.text_female),
    ...(suggestion === undefined ? {} : { suggestion }),
    created_at: new Date(r.created_at).toISOString(),
    updated_at: new Date(r.updated_at).toISOString(),
  };
}

function lintResult(texts: TemplateTexts, operator: string, sender: string | null | undefined, registration: RegistrationRow | undefined) {
  const findings: Finding[] = lintTemplate(texts, operator, { sender });
  const reason = registration?.status === 'rejected' ? registration.reason : null;
  return { operator, status: (registration?.status ?? null) as (typeof REGISTRATION_STATUSES)[number] | null, passed: findings.length === 0, findings, suggestion: suggestRewrite(texts, operator, { sender, reason }) };
}

/**
 * Template registration with operators (S22): a status per template and
 * operator (draft → submitted → approved | rejected with the operator's
 * reason), its history, the linter against each operator's rules and a
 * rules-based rewrite when a template fails or was rejected.
 */
export function templateRegistrationsRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const templates = new TemplatesRepository(deps.database.db);
  const registrations = new TemplateRegistrationsRepository(deps.database.db);
  const template = async (accountId: string, id: string) => {
    const t = await templates.get(accountId, id);
    if (!t) throw new ApiError('not_found', `no template ${id} in this account`);
    return t;
  };
  const moved = async (accountId: string, t: TemplateRow, operator: string, result: Awaited<ReturnType<TemplateRegistrationsRepository['move']>>, action: string) => {
    if (!result.ok) throw new ApiError('registration_wrong_status', `the registration with ${operator} is ${result.from}; ${action} needs ${action === 'a decision' ? 'submitted' : 'another status'}`);
    // Approvals are what matching compiles: the account's matcher is built again on its next message.
    deps.billing.templates.forget(accountId);
    return result.row;
  };

  return async (app) => {
    app.get(
      '/v1/templates/:id/registrations',
      { schema: { summary: 'List a template\'s registrations', description: 'One per operator the template was drafted or submitted for.', tags: ['templates'], security, params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }), response: { 200: Type.Object({ data: Type.Array(RegistrationSchema), next_cursor: Type.Null() }), ...errors } } },
      async (request) => {
        const auth = requireAuth(request);
        const t = await template(auth.account.id, request.params.id);
        return { data: (await registrations.list(auth.account.id, t.id)).map((r) => present(r, t)), next_cursor: null };
      },
    );

    app.post(
      '/v1/templates/:id/registrations/:operator/submit',
      {
        schema: {
          summary: 'Submit a template to an operator',
          description: 'Lints the template against the operator\'s rules first: a template with findings is refused with `template_lint_failed` (the findings in `details`) unless `force` is true. Records the texts submitted (what an approval covers) and the sender name; the status becomes `submitted`.',
          tags: ['templates'],
          security,
          params: Params,
          body: Type.Object({ sender: Type.Optional(Sender), force: Type.Optional(Type.Boolean({ default: false })) }, { additionalProperties: false, examples: [{ sender: 'Shop' }] }),
          response: { 200: RegistrationSchema, ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const { id, operator } = request.params;
        const t = await template(auth.account.id, id);
        const findings = lintTemplate(t, operator, { sender: request.body.sender });
        if (findings.length > 0 && request.body.force !== true) {
          throw new ApiError('template_lint_failed', `the template breaks ${findings.length} of ${operator}'s rules: ${findings.map((f) => f.code).join(', ')}; fix them (GET /v1/templates/${id}/lint suggests a rewrite) or submit with force`, findings.map((f) => ({ field: f.field, issue: `${f.code}: ${f.message}` })));
        }
        const result = await registrations.move(auth.account.id, t.id, operator, 'submitted', { texts: textsOf(t), sender: request.body.sender ?? null });
        return present(await moved(auth.account.id, t, operator, result, 'a submission'), t);
      },
    );

    app.post(
      '/v1/templates/:id/registrations/:operator/decision',
      {
        schema: {
          summary: 'Record an operator\'s decision',
          description: 'What the operator answered to a submission: `approved`, or `rejected` with its `reason`. A rejection answers with a suggested rewrite (the rules and the reason\'s hint words). Approved templates are matched against the account\'s messages from then on. An administrator records it for any account with `account_id`.',
          tags: ['templates'],
          security,
          params: Params,
          body: Type.Object(
            { status: Type.Enum(['approved', 'rejected']), reason: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })), account_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'the template\'s account (administrators only)' })) },
            { additionalProperties: false, examples: [{ status: 'rejected', reason: 'Текст на латинице не принимается' }] },
          ),
          response: { 200: RegistrationSchema, ...errors },
        },
      },
      async (request) => {
        const auth = request.body.account_id === undefined ? requireAuth(request) : requireAdmin(request);
        const accountId = request.body.account_id ?? auth.account.id;
        const { id, operator } = request.params;
        const b = request.body;
        if (b.status === 'rejected' && b.reason === undefined) throw new ApiError('validation_failed', 'a rejection needs the operator\'s reason', [{ field: 'reason', issue: 'required when status is rejected' }]);
        const t = await template(accountId, id);
        if (!(await registrations.get(accountId, t.id, operator))) throw new ApiError('unknown_registration', `template ${id} was not submitted to ${operator}; submit it first`);
        const result = await registrations.move(accountId, t.id, operator, b.status, { reason: b.reason ?? null });
        const row = await moved(accountId, t, operator, result, 'a decision');
        const suggestion = row.status === 'rejected' ? suggestRewrite(JSON.parse(row.text ?? 'null') ?? textsOf(t), operator, { sender: row.sender, reason: row.reason }) : undefined;
        return present(row, t, suggestion);
      },
    );

    app.post(
      '/v1/templates/:id/registrations/:operator/draft',
      { schema: { summary: 'Withdraw a registration to draft', description: 'Back to `draft` (an approval or a submission is withdrawn; matching stops using it). Creates the draft when there is none.', tags: ['templates'], security, params: Params, response: { 200: RegistrationSchema, ...errors } } },
      async (request) => {
        const auth = requireAuth(request);
        const t = await template(auth.account.id, request.params.id);
        const result = await registrations.move(auth.account.id, t.id, request.params.operator, 'draft', {});
        return present(await moved(auth.account.id, t, request.params.operator, result, 'a draft'), t);
      },
    );

    app.get(
      '/v1/templates/:id/registrations/:operator/history',
      {
        schema: {
          summary: 'A registration\'s history',
          description: 'Every status the registration took, oldest first, with the operator\'s reasons.',
          tags: ['templates'],
          security,
          params: Params,
          response: { 200: Type.Object({ data: Type.Array(Type.Object({ status: Type.Enum([...REGISTRATION_STATUSES]), reason: Type.Union([Type.String(), Type.Null()]), created_at: Type.String({ format: 'date-time' }) })), next_cursor: Type.Null() }), ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const t = await template(auth.account.id, request.params.id);
        const events = await registrations.history(auth.account.id, t.id, request.params.operator);
        if (events.length === 0) throw new ApiError('unknown_registration', `template ${t.id} has no registration with ${request.params.operator}`);
        return { data: events.map((e) => ({ status: e.status as (typeof REGISTRATION_STATUSES)[number], reason: e.reason, created_at: new Date(e.created_at).toISOString() })), next_cursor: null };
      },
    );

    app.get(
      '/v1/templates/:id/lint',
      {
        schema: {
          summary: 'Lint a template for operators',
          description: 'Checks the template against one operator\'s rules (`operator`) or every operator with rules and every operator it is registered with. Each result lists findings with stable codes and, when it fails or the operator rejected it, a suggested rewrite.',
          tags: ['templates'],
          security,
          params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
          querystring: Type.Object({ operator: Type.Optional(Operator), sender: Type.Optional(Sender) }, { additionalProperties: false }),
          response: { 200: LintSchema, ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const t = await template(auth.account.id, request.params.id);
        const regs = new Map((await registrations.list(auth.account.id, t.id)).map((r) => [r.operator, r]));
        const operators = request.query.operator !== undefined ? [request.query.operator] : [...new Set([...RULED_OPERATORS, ...regs.keys()])];
        return { object: 'template_lint' as const, results: operators.map((o) => lintResult(t, o, request.query.sender ?? regs.get(o)?.sender, regs.get(o))) };
      },
    );

    app.post(
      '/v1/templates/lint',
      {
        schema: {
          summary: 'Lint a text before saving it',
          description: 'The same checks for texts that are not stored as a template yet.',
          tags: ['templates'],
          security,
          body: Type.Object(
            { text: Type.String({ minLength: 1, maxLength: 10000 }), text_male: Type.Optional(Type.String({ minLength: 1, maxLength: 10000 })), text_female: Type.Optional(Type.String({ minLength: 1, maxLength: 10000 })), operator: Type.Optional(Operator), sender: Type.Optional(Sender) },
            { additionalProperties: false, examples: [{ text: '{{name}}, ваш код {{code}}', operator: 'mts', sender: 'Shop' }] },
          ),
          response: { 200: LintSchema, ...errors },
        },
      },
      async (request) => {
        requireAuth(request);
        const b = request.body;
        const operators = b.operator !== undefined ? [b.operator] : [...RULED_OPERATORS];
        return { object: 'template_lint' as const, results: operators.map((o) => lintResult(b, o, b.sender, undefined)) };
      },
    );
  };
}
