import { Type, type Static } from 'typebox';
import { CHANNELS } from '../channels.ts';
import { REASONS } from '../../domain/reasons.ts';

/**
 * The manifest of the generic HTTP connector: how to call an aggregator and
 * read its answers and status reports, as data. A preset (presets/*.json)
 * holds one aggregator's manifest; a definition names a preset and adds its
 * secrets, or spells a manifest out itself, or both (its sections win).
 * Strings marked "template" are LiquidJS templates rendered with `message`,
 * `secrets`, `settings`, `base_url` and `callback_url` (docs/connectors/http.md).
 */

const Template = Type.String({ maxLength: 20000 });
const TemplateMap = Type.Record(Type.String({ minLength: 1, maxLength: 200 }), Template);
const Reason = Type.Enum(Object.keys(REASONS) as (keyof typeof REASONS)[]);

/** A provider code and what it means to us. */
export const CodeMeaningSchema = Type.Object({ reason: Reason, permanent: Type.Boolean() }, { additionalProperties: false });

export const RequestSpecSchema = Type.Object(
  {
    method: Type.Enum(['GET', 'POST']),
    /** template */
    url: Template,
    /** templates, added to the URL's query */
    query: Type.Optional(TemplateMap),
    /** templates */
    headers: Type.Optional(TemplateMap),
    auth: Type.Optional(
      Type.Union([
        Type.Object({ type: Type.Literal('basic'), username: Template, password: Template }, { additionalProperties: false }),
        Type.Object({ type: Type.Literal('bearer'), token: Template }, { additionalProperties: false }),
      ]),
    ),
    /** form: `form` fields as application/x-www-form-urlencoded; json: `json` rendered as the body */
    body: Type.Optional(Type.Enum(['none', 'form', 'json'])),
    form: Type.Optional(TemplateMap),
    /** template producing JSON; use the `json` filter for values: {"text": {{ message.text | json }}} */
    json: Type.Optional(Template),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 120000 })),
  },
  { additionalProperties: false },
);

/**
 * Where things are in a reply: for `json`, dotted paths (`result.0.messageId`);
 * for `text` (XML, plain), regular expressions whose first group is the value.
 */
export const ResponseSpecSchema = Type.Object(
  {
    format: Type.Enum(['json', 'text']),
    id: Type.String({ minLength: 1, maxLength: 500 }),
    /** the reply is a success only when the value at `path` equals `equals` (text: when the pattern matches) */
    success: Type.Optional(Type.Object({ path: Type.String({ minLength: 1 }), equals: Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Boolean()])) }, { additionalProperties: false })),
    /** the provider's error code in a failed reply; its meaning is in `send_errors` */
    error_code: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    error_message: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
  },
  { additionalProperties: false },
);

export const CallbackSpecSchema = Type.Object(
  {
    format: Type.Enum(['json', 'form', 'query']),
    /**
     * How a report proves it is the provider's, with the `callback_secret`
     * secret: `token` compares a query parameter (the callback URL we give
     * the provider carries it); `hmac-sha256` checks a header's HMAC of the raw body.
     */
    auth: Type.Union([
      Type.Object({ type: Type.Literal('token'), query: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
      Type.Object(
        {
          type: Type.Literal('hmac-sha256'),
          header: Type.String({ minLength: 1, maxLength: 100 }),
          encoding: Type.Enum(['hex', 'base64']),
          prefix: Type.Optional(Type.String({ maxLength: 20 })),
        },
        { additionalProperties: false },
      ),
    ]),
    /** json: dotted path to an array of reports; absent: the body is one report */
    items: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    /** in each report: dotted paths (json) or field names (form, query) */
    id: Type.String({ minLength: 1, maxLength: 200 }),
    status: Type.String({ minLength: 1, maxLength: 200 }),
    error_code: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    /** provider status → ours; `ignore` for interim ones (queued, sent to operator) */
    statuses: Type.Record(Type.String(), Type.Enum(['delivered', 'read', 'undelivered', 'expired', 'rejected', 'ignore'])),
    /** what the provider expects back */
    reply: Type.Optional(Type.Object({ status: Type.Integer({ minimum: 200, maximum: 299 }), body: Type.String({ maxLength: 1000 }) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

/**
 * Status requests (polling), for providers that answer "what became of
 * message X" but do not post reports, or when we have no public address.
 * The request's templates also see `message.provider_id`.
 */
export const PollSpecSchema = Type.Object(
  {
    request: RequestSpecSchema,
    response: Type.Object(
      {
        format: Type.Enum(['json', 'text']),
        /** dotted path (json) or pattern (text) of the provider's status */
        status: Type.String({ minLength: 1, maxLength: 500 }),
        error_code: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
      },
      { additionalProperties: false },
    ),
    /** provider status → ours; `ignore` for interim ones (asked again next time) */
    statuses: Type.Record(Type.String(), Type.Enum(['delivered', 'read', 'undelivered', 'expired', 'rejected', 'ignore'])),
    /** how often a sent message is asked about, default 60 s (the first time this long after it was sent) */
    interval_seconds: Type.Optional(Type.Number({ minimum: 0.05, maximum: 86400 })),
    /** a message sent longer ago than this is no longer asked about (it ends with no_receipt), default 86400 */
    give_up_after_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 2592000 })),
    /** status requests at once, default 4 */
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  },
  { additionalProperties: false },
);

const Secrets = Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]{0,62}$' }), Type.String({ maxLength: 4096 }));

export const HttpDefinitionSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' }),
    type: Type.Literal('http'),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    /** a ready manifest: smsc_ru, smsaero, smsaero_viber, devino, smstraffic */
    preset: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_]{0,62}$' })),
    /** the aggregator's address, replacing the preset's (a test points it at a fake) */
    base_url: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2048 })),
    /** our public address, from which the callback URL the provider is given is made: `<public_url>/v1/callbacks/<id>` */
    public_url: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2048 })),
    channels: Type.Optional(Type.Array(Type.Enum([...CHANNELS]), { minItems: 1, uniqueItems: true })),
    /** logins, passwords, API keys, `callback_secret`: sealed in the store, never shown */
    secrets: Type.Optional(Secrets),
    /** config file only: secret name → environment variable holding it */
    secrets_env: Type.Optional(Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]{0,62}$' }), Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }))),
    /** plain settings the templates may use (a default sender, a route name) */
    settings: Type.Optional(Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]{0,62}$' }), Type.String({ maxLength: 1000 }))),
    send: Type.Optional(RequestSpecSchema),
    response: Type.Optional(ResponseSpecSchema),
    /** provider error code → reason; codes not listed use `default_error` */
    send_errors: Type.Optional(Type.Record(Type.String(), CodeMeaningSchema)),
    default_error: Type.Optional(CodeMeaningSchema),
    callback: Type.Optional(CallbackSpecSchema),
    poll: Type.Optional(PollSpecSchema),
    /**
     * How statuses come: `callback` (reports posted to us; the default when
     * the manifest has a callback) or `poll` (status requests; the default
     * when it has only `poll`).
     */
    receipts: Type.Optional(Type.Enum(['callback', 'poll'])),
    /** error code in a status report → reason */
    status_errors: Type.Optional(Type.Record(Type.String(), CodeMeaningSchema)),
  },
  { additionalProperties: false },
);
export type HttpDefinition = Static<typeof HttpDefinitionSchema>;
export type RequestSpec = Static<typeof RequestSpecSchema>;
export type ResponseSpec = Static<typeof ResponseSpecSchema>;
export type CallbackSpec = Static<typeof CallbackSpecSchema>;
export type CodeMeaning = Static<typeof CodeMeaningSchema>;
export type PollSpec = Static<typeof PollSpecSchema>;

/** What a preset file holds: a manifest without the deployment's own parts (id, secrets, addresses). */
export interface HttpPreset {
  name: string;
  base_url: string;
  channels: (typeof CHANNELS)[number][];
  /** the secrets the preset's templates use, for the cabinet's form */
  fields: { name: string; label: string; description: string; secret: boolean }[];
  send: RequestSpec;
  response: ResponseSpec;
  send_errors?: Record<string, CodeMeaning>;
  default_error?: CodeMeaning;
  callback?: CallbackSpec;
  poll?: PollSpec;
  status_errors?: Record<string, CodeMeaning>;
}
