import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { isValidTimeZone } from '../../../domain/quiet-hours.ts';
import { ApiError } from '../../../errors.ts';
import { isValidRegion } from '../../../sms/phone.ts';
import type { Account } from '../../../store/accounts.ts';
import { UNMATCHED_TEMPLATES, unmatchedTemplatesPolicy } from '../../../pipeline/billing.ts';
import { requireAuth, type AccountCache } from '../auth.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema } from '../schemas.ts';

const TimeOfDay = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'HH:MM, local time' });
const Sender = Type.String({ minLength: 1, maxLength: 15, description: 'a registered sender name' });

const QuietHoursSchema = Type.Union(
  [Type.Object({ start: TimeOfDay, end: TimeOfDay }, { additionalProperties: false, description: 'a window that may cross midnight, e.g. 21:00–09:00' }), Type.Null()],
  { description: 'advertising is held through this window, in the recipient\'s time zone (from the numbering plan) or else the account\'s; null: none' },
);

/** A step of the account's default cascade (verifications that give no channel order): a message cascade step without its text. */
export const DefaultCascadeStepSchema = Type.Object(
  {
    channel: Type.Enum(['sms', 'telegram', 'whatsapp', 'viber', 'voice'] as const),
    connector: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    until: Type.Optional(Type.Enum(['delivered', 'read'] as const)),
    timeout_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400, description: 'required on every step but the last' })),
    template: Type.Optional(Type.Object({ name: Type.String({ minLength: 1, maxLength: 512 }), language: Type.Optional(Type.String({ minLength: 2, maxLength: 16 })) }, { additionalProperties: false, description: 'whatsapp, viber: the authentication template; the code is its parameter' })),
  },
  { additionalProperties: false },
);
const DefaultCascadeSchema = Type.Union([Type.Array(DefaultCascadeStepSchema, { minItems: 1, maxItems: 8 }), Type.Null()], {
  description: 'the channel order of verifications that give none (docs/verify.md); null: SMS alone',
});

const UnmatchedTemplatesSchema = Type.Enum([...UNMATCHED_TEMPLATES], {
  description:
    'service and transactional SMS whose text matches none of your approved templates (docs/templates.md): `keep` sends them as they are; `advertising` sends and prices them as advertising (as operators bill unregistered service traffic); `reject` refuses them with template_not_matched',
});

const AccountSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('account'),
    name: Type.String(),
    default_region: Type.String({ description: 'ISO 3166 region for numbers written without a country code' }),
    default_ttl_seconds: Type.Integer({ description: 'validity of a message that gives no ttl_seconds' }),
    max_parts: Type.Integer({ description: 'the most SMS parts one message may take' }),
    time_zone: Type.String({ description: 'IANA time zone for quiet hours when the recipient\'s region is not known' }),
    quiet_hours: QuietHoursSchema,
    require_registered_senders: Type.Boolean({ description: 'true: a `from` must be a sender name approved for the recipient\'s operator (GET /v1/sender-names)' }),
    fallback_sender: Type.Union([Sender, Type.Null()], { description: 'sent instead of a sender that is not approved for the recipient\'s operator; null: such messages are refused' }),
    default_cascade: DefaultCascadeSchema,
    unmatched_templates: UnmatchedTemplatesSchema,
    created_at: Type.String({ format: 'date-time' }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        id: 'acc_01KAT0DEMO00000000000000000',
        object: 'account',
        name: 'Demo',
        default_region: 'RU',
        default_ttl_seconds: 86400,
        max_parts: 10,
        time_zone: 'Europe/Moscow',
        quiet_hours: { start: '21:00', end: '09:00' },
        require_registered_senders: true,
        fallback_sender: 'Shop',
        default_cascade: [{ channel: 'telegram', timeout_seconds: 60 }, { channel: 'sms' }],
        unmatched_templates: 'advertising',
        created_at: '2026-11-22T10:00:00.000Z',
      },
    ],
  },
);

const PatchAccountSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    default_region: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$' })),
    default_ttl_seconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 2592000 })),
    max_parts: Type.Optional(Type.Integer({ minimum: 1, maximum: 255 })),
    time_zone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    quiet_hours: Type.Optional(QuietHoursSchema),
    require_registered_senders: Type.Optional(Type.Boolean()),
    fallback_sender: Type.Optional(Type.Union([Sender, Type.Null()])),
    default_cascade: Type.Optional(DefaultCascadeSchema),
    unmatched_templates: Type.Optional(UnmatchedTemplatesSchema),
  },
  { additionalProperties: false },
);

export const presentAccount = (a: Account) => ({
  id: a.id,
  object: 'account' as const,
  name: a.name,
  default_region: a.default_region,
  default_ttl_seconds: a.default_ttl_seconds,
  max_parts: a.max_parts,
  time_zone: a.time_zone,
  quiet_hours: a.quiet_hours_start === null || a.quiet_hours_end === null ? null : { start: a.quiet_hours_start, end: a.quiet_hours_end },
  require_registered_senders: a.require_registered_senders === 1,
  fallback_sender: a.fallback_sender,
  default_cascade: a.default_cascade ? (JSON.parse(a.default_cascade) as Static<typeof DefaultCascadeStepSchema>[]) : null,
  unmatched_templates: unmatchedTemplatesPolicy(a),
  created_at: new Date(a.created_at).toISOString(),
});

const security = [{ bearerAuth: [] }];

/** The caller's own account and its settings. */
export function accountRoutes(deps: HttpDeps, cache: AccountCache): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/account',
      { schema: { summary: 'Your account and its settings', tags: ['account'], security, response: { 200: AccountSchema, 401: ErrorSchema } } },
      async (request) => presentAccount(requireAuth(request).account),
    );

    app.patch(
      '/v1/account',
      {
        schema: {
          summary: 'Change your account\'s settings',
          description: 'Only the fields given change. Takes effect for the next request.',
          tags: ['account'],
          security,
          body: PatchAccountSchema,
          response: { 200: AccountSchema, 400: ErrorSchema, 401: ErrorSchema, 422: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const b = request.body;
        const problems: { field: string; issue: string }[] = [];
        if (b.default_region !== undefined && !isValidRegion(b.default_region)) problems.push({ field: 'default_region', issue: `${b.default_region} is not a region with a numbering plan` });
        if (b.time_zone !== undefined && !isValidTimeZone(b.time_zone)) problems.push({ field: 'time_zone', issue: `${b.time_zone} is not an IANA time zone (like Europe/Moscow)` });
        b.default_cascade?.forEach((step, i, all) => {
          if (i < all.length - 1 && step.timeout_seconds === undefined) problems.push({ field: `default_cascade.${i}.timeout_seconds`, issue: 'is required on every step but the last' });
        });
        if (problems.length > 0) throw new ApiError('invalid_setting', problems.map((p) => p.issue).join('; '), problems);
        const updated = await deps.accounts.updateSettings(auth.account.id, {
          ...(b.name === undefined ? {} : { name: b.name }),
          ...(b.default_region === undefined ? {} : { default_region: b.default_region }),
          ...(b.default_ttl_seconds === undefined ? {} : { default_ttl_seconds: b.default_ttl_seconds }),
          ...(b.max_parts === undefined ? {} : { max_parts: b.max_parts }),
          ...(b.time_zone === undefined ? {} : { time_zone: b.time_zone }),
          ...(b.quiet_hours === undefined ? {} : { quiet_hours_start: b.quiet_hours?.start ?? null, quiet_hours_end: b.quiet_hours?.end ?? null }),
          ...(b.require_registered_senders === undefined ? {} : { require_registered_senders: b.require_registered_senders ? 1 : 0 }),
          ...(b.fallback_sender === undefined ? {} : { fallback_sender: b.fallback_sender }),
          ...(b.default_cascade === undefined ? {} : { default_cascade: b.default_cascade === null ? null : JSON.stringify(b.default_cascade) }),
          ...(b.unmatched_templates === undefined ? {} : { unmatched_templates: b.unmatched_templates }),
        });
        await cache.forgetAccount(auth.account.id);
        deps.accountChanged(updated!);
        return presentAccount(updated!);
      },
    );
  };
}
