import { Type, type Static, type TSchema } from 'typebox';
import { MESSAGE_STATUSES } from '../../domain/statuses.ts';
import { CHANNELS } from '../../connectors/channels.ts';
import { TRAFFIC_TYPES } from '../../pipeline/accept.ts';

/** Request and response schemas: each validates requests and becomes the OpenAPI document. */

const literals = <const T extends string[]>(values: readonly [...T], options?: { description?: string; examples?: unknown[] }) => Type.Enum(values, options);
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
export const Timestamp = Type.String({ format: 'date-time', description: 'RFC 3339, UTC, milliseconds', examples: ['2026-11-22T14:05:53.120Z'] });

const CallbackUrl = Type.String({
  minLength: 1,
  maxLength: 2048,
  description: "http(s) URL that receives this message's status events as webhooks, signed with the account's callback secret (GET /v1/webhooks/callback-secret)",
  examples: ['https://example.com/hooks/depesha'],
});

export const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable code from docs/errors.md', examples: ['invalid_phone_number'] }),
      message: Type.String(),
      details: Type.Array(Type.Object({ field: Type.String(), issue: Type.String() })),
      request_id: Type.String(),
    }),
  },
  { $id: 'Error' },
);

const TemplateSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 512, description: 'the template as approved at the provider', examples: ['auth_code'] }),
    language: Type.Optional(Type.String({ minLength: 2, maxLength: 16, description: 'its language code, e.g. `ru`, `en_US`', examples: ['ru'] })),
    params: Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 20, description: 'values of its placeholders in order (an authentication template: the code)', examples: [['4711']] })),
  },
  { additionalProperties: false, description: 'whatsapp, viber: send an approved template instead of free text' },
);

export const CascadeStepSchema = Type.Object(
  {
    channel: literals(CHANNELS, { description: 'how this step goes' }),
    connector: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'send by this connector only; default: the route of the channel' })),
    until: Type.Optional(literals(['delivered', 'read'] as const, { description: 'the status that ends the cascade at this step; default `delivered` (`read` counts too)' })),
    timeout_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400, description: 'how long this step may take before the next one starts; required on every step but the last' })),
    to: Type.Optional(Type.String({ minLength: 1, maxLength: 254, description: 'this step\'s recipient, when it differs from `to` (a chat id, an address)' })),
    from: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
    text: Type.Optional(Type.String({ maxLength: 10000, description: 'this step\'s text; default the message\'s `text`' })),
    subject: Type.Optional(Type.String({ minLength: 1, maxLength: 998, description: 'email' })),
    html: Type.Optional(Type.String({ minLength: 1, maxLength: 500000, description: 'email' })),
    template: Type.Optional(TemplateSchema),
  },
  { additionalProperties: false },
);

export const SendMessageSchema = Type.Object(
  {
    channel: Type.Optional(literals(CHANNELS, { description: 'how the message goes; default `sms`. docs/api.md lists what each channel needs', examples: ['sms'] })),
    to: Type.String({
      minLength: 1,
      maxLength: 254,
      description: 'sms, whatsapp, viber, voice: a number in any common form, returned in E.164; email: an address; telegram: a chat id, @username or E.164 number',
      examples: ['+79161234567'],
    }),
    text: Type.String({ maxLength: 10000, description: 'message text; split into SMS parts automatically; the plain-text body of an e-mail', examples: ['Your code is 4711'] }),
    from: Type.Optional(Type.String({ minLength: 1, maxLength: 254, description: 'sender name (alphanumeric up to 11) or number; email: the sender address', examples: ['Depesha'] })),
    subject: Type.Optional(Type.String({ minLength: 1, maxLength: 998, description: 'email only, required there' })),
    html: Type.Optional(Type.String({ minLength: 1, maxLength: 500000, description: 'email only: the HTML body beside `text`' })),
    template: Type.Optional(TemplateSchema),
    ttl_seconds: Type.Optional(Type.Integer({ minimum: 30, maximum: 604800, description: 'validity; the account default when absent' })),
    send_at: Type.Optional(Type.String({ format: 'date-time', description: 'hold the message until this time (at most 180 days ahead)' })),
    group: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'free grouping tag' })),
    project: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'the code of one of the account\'s projects (free text while it has none); a project-bound key gives its own when absent' })),
    traffic_type: Type.Optional(literals(TRAFFIC_TYPES)),
    reference: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'your own id, echoed everywhere' })),
    callback_url: Type.Optional(CallbackUrl),
    cascade: Type.Optional(
      Type.Array(CascadeStepSchema, {
        minItems: 1,
        maxItems: 8,
        description: 'send by these steps in turn (docs/api.md#cascade): each step\'s message is a child of this one; the next starts when a step fails for good or its timeout passes without its `until`',
      }),
    ),
  },
  { additionalProperties: false, $id: 'SendMessage' },
);

const PartSchema = Type.Object({
  index: Type.Integer({ minimum: 1 }),
  text: Type.String(),
  status: Type.String({ description: 'status of this part; `pending` until it is sent' }),
  provider_message_id: Nullable(Type.String()),
  reason: Nullable(Type.String()),
  provider_code: Nullable(Type.String()),
  sent_at: Nullable(Timestamp),
  done_at: Nullable(Timestamp),
});

export const ReasonSchema = Nullable(
  Type.Object({
    code: Type.String({ description: 'non-delivery reason from docs/statuses.md' }),
    description: Type.String(),
    permanent: Type.Boolean({ description: 'true when a retry can never succeed' }),
    provider_code: Nullable(Type.String({ description: 'raw operator/provider code' })),
    detail: Type.Optional(Nullable(Type.String({ description: 'what the provider or the gateway said about it, in words (on a message; not in status events)' }))),
  }),
);

export const MessageSchema = Type.Object(
  {
    id: Type.String({ examples: ['msg_01JDQ3X4Y5Z6A7B8C9D0E1F2G3'] }),
    object: Type.Literal('message'),
    to: Type.String({ description: 'E.164' }),
    from: Nullable(Type.String()),
    text: Type.String(),
    channel: literals(CHANNELS),
    subject: Type.Optional(Type.String({ description: 'email' })),
    html: Type.Optional(Type.String({ description: 'email' })),
    template: Type.Optional(TemplateSchema),
    status: literals(MESSAGE_STATUSES),
    reason: ReasonSchema,
    encoding: literals(['gsm7', 'ucs2'] as const),
    characters: Type.Integer(),
    parts_count: Type.Integer(),
    traffic_type: literals(TRAFFIC_TYPES),
    group: Nullable(Type.String()),
    project: Nullable(Type.String()),
    reference: Nullable(Type.String()),
    batch_id: Nullable(Type.String()),
    connector: Nullable(Type.String()),
    attempts: Type.Integer(),
    ttl_seconds: Type.Integer(),
    send_at: Nullable(Timestamp),
    expires_at: Timestamp,
    created_at: Timestamp,
    queued_at: Nullable(Timestamp),
    sent_at: Nullable(Timestamp),
    delivered_at: Nullable(Timestamp),
    completed_at: Nullable(Timestamp),
    updated_at: Timestamp,
    operator: Nullable(Type.String({ description: "the recipient's mobile operator at accept time, from the numbering-plan registry and ported numbers (docs/mno.md): `mts`, `megafon`, `beeline`, `t2` or `inn_<INN>`; null when unknown", examples: ['mts'] })),
    region: Nullable(Type.String({ description: "the region of the recipient's number range, as the registry writes it", examples: ['г. Москва и Московская область'] })),
    callback_url: Nullable(Type.String({ description: 'where its status events are also posted' })),
    price: Type.Optional(Type.String({ description: 'the price of one part from the price list at accept (RUB); absent for a free message. Its parts times this was reserved (docs/balance.md)', examples: ['2.08'] })),
    template_id: Type.Optional(Type.String({ description: 'the approved template the text matched (template traffic, docs/templates.md); absent when it matched none', examples: ['tpl_01KB2Z0A1B2C3D4E5F6G7H8J9K'] })),
    parent_id: Type.Optional(Type.String({ description: 'a cascade step\'s message: the cascade\'s message' })),
    cascade_step: Type.Optional(Type.Integer({ minimum: 1, description: 'a cascade step\'s message: its step, from 1' })),
    cascade: Type.Optional(
      Type.Object({
        status: literals(['running', 'done'] as const),
        current_step: Type.Integer({ description: 'the step running now, or the last one run' }),
        decided_by: Nullable(Type.Object({ step: Type.Integer(), channel: Type.String(), message_id: Type.String() }, { description: 'the step whose message gave this one its final status' })),
        steps: Type.Array(
          Type.Object({
            step: Type.Integer(),
            channel: Type.String(),
            connector: Nullable(Type.String()),
            until: Type.String(),
            timeout_seconds: Nullable(Type.Integer()),
            message_id: Nullable(Type.String({ description: 'null: the step was never started' })),
            status: Nullable(literals(MESSAGE_STATUSES)),
          }),
        ),
      }, { description: 'a cascade\'s message (GET by id only): its steps and how far it got' }),
    ),
    parts: Type.Optional(Type.Array(PartSchema)),
    events: Type.Optional(
      Type.Array(
        Type.Object({
          status: literals(MESSAGE_STATUSES),
          reason: Nullable(Type.String()),
          provider_code: Nullable(Type.String()),
          at: Timestamp,
          message_id: Type.Optional(Type.String({ description: 'a cascade\'s timeline: whose event it is (the cascade\'s message or a step\'s)' })),
          step: Type.Optional(Type.Integer({ description: 'a cascade\'s timeline: the step of a step\'s event' })),
          channel: Type.Optional(Type.String()),
        }),
        { description: 'the status timeline, oldest first; for a cascade, its steps\' events too' },
      ),
    ),
  },
  { $id: 'Message' },
);

export const MessageListSchema = Type.Object({ data: Type.Array(MessageSchema), next_cursor: Nullable(Type.String()) });

export const ListMessagesQuery = Type.Object(
  {
    to: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'recipient number, any common form' })),
    group: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    project: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    status: Type.Optional(literals(MESSAGE_STATUSES)),
    batch_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    operator: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'operator code at accept time (`mts`, `inn_7743200179`)' })),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const MAX_BULK_ITEMS = 10_000;

export const BulkBodySchema = Type.Union(
  [
    Type.Object(
      { messages: Type.Array(Type.Unknown({ description: 'a SendMessage object; each is checked on its own' }), { minItems: 1 }) },
      { additionalProperties: false, description: 'each message with its own text' },
    ),
    Type.Object(
      {
        to: Type.Array(Type.Unknown({ description: 'a phone number' }), { minItems: 1 }),
        text: Type.String({ maxLength: 10000 }),
        from: Type.Optional(Type.String({ minLength: 1, maxLength: 16 })),
        ttl_seconds: Type.Optional(Type.Integer({ minimum: 30, maximum: 604800 })),
        send_at: Type.Optional(Type.String({ format: 'date-time' })),
        group: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
        project: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
        traffic_type: Type.Optional(literals(TRAFFIC_TYPES)),
        reference: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
        callback_url: Type.Optional(CallbackUrl),
      },
      { additionalProperties: false, description: 'one text to many numbers' },
    ),
  ],
  { description: `up to ${MAX_BULK_ITEMS} items` },
);

export const BulkResultSchema = Type.Object({
  batch_id: Type.String(),
  accepted: Type.Integer(),
  rejected: Type.Integer(),
  messages: Type.Array(
    Type.Object({ index: Type.Integer(), id: Type.String(), to: Type.String(), status: Type.Literal('accepted'), parts_count: Type.Integer(), encoding: Type.String(), reference: Nullable(Type.String()) }),
  ),
  errors: Type.Array(
    Type.Object({ index: Type.Integer(), code: Type.String(), message: Type.String(), details: Type.Array(Type.Object({ field: Type.String(), issue: Type.String() })) }),
  ),
});

export const BatchSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('batch'),
  total: Type.Integer({ description: 'items in the request' }),
  accepted: Type.Integer(),
  rejected: Type.Integer(),
  counts: Type.Record(Type.String(), Type.Integer(), { description: 'accepted messages by current status' }),
  created_at: Timestamp,
});

export const SegmentsBodySchema = Type.Object(
  {
    text: Type.String({ maxLength: 10000 }),
    encoding: Type.Optional(literals(['auto', 'gsm7', 'ucs2'] as const)),
  },
  { additionalProperties: false },
);

export const SegmentsResultSchema = Type.Object({
  encoding: literals(['gsm7', 'ucs2'] as const),
  characters: Type.Integer({ description: 'Unicode characters in the text' }),
  units: Type.Integer({ description: 'septets (GSM-7) or UTF-16 code units (UCS-2)' }),
  units_per_part: Type.Integer(),
  parts_count: Type.Integer(),
  max_parts: Type.Integer({ description: "the account's limit of parts per message" }),
  parts: Type.Array(Type.Object({ index: Type.Integer(), text: Type.String(), units: Type.Integer() })),
});

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
