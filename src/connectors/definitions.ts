import { Type, type Static } from 'typebox';
import { CHANNELS } from './channels.ts';
import { EmailDefinitionSchema } from './email/email.ts';
import { HttpDefinitionSchema } from './http/spec.ts';
import { TelegramBotDefinitionSchema } from './telegram/bot.ts';
import { TelegramGatewayDefinitionSchema } from './telegram/gateway.ts';
import { VoiceDefinitionSchema } from './voice/freeswitch.ts';
import { WhatsAppDefinitionSchema } from './whatsapp/whatsapp.ts';
import { DEFAULT_SANDBOX_OUTCOMES, SANDBOX_OUTCOMES_PATTERN } from './sandbox/sandbox.ts';

/**
 * What a connector and a route look like when declared: in the config file
 * (`connectors:` and `routes:` in `DEPESHA_CONFIG`) or through the API. One
 * schema serves both, so a deployment written in a file and one built through
 * the API mean the same thing. Field names are the API's (snake_case).
 */

const ConnectorId = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'lower-case letters, digits, "_" and "-", up to 63' });

const TonNpi = Type.Object(
  {
    ton: Type.Integer({ minimum: 0, maximum: 6 }),
    npi: Type.Integer({ minimum: 0, maximum: 18 }),
  },
  { additionalProperties: false },
);

export const SandboxDefinitionSchema = Type.Object(
  {
    id: ConnectorId,
    type: Type.Literal('sandbox'),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    send_latency_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 60000 })),
    receipt_delay_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 600000 })),
    outcomes: Type.Optional(Type.String({ maxLength: 2000, pattern: SANDBOX_OUTCOMES_PATTERN, description: `which numbers get which outcome: ENDING=OUTCOME pairs, comma-separated (default \`${DEFAULT_SANDBOX_OUTCOMES}\`)` })),
  },
  { additionalProperties: false },
);

export const SmppDefinitionSchema = Type.Object(
  {
    id: ConnectorId,
    type: Type.Literal('smpp'),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    host: Type.String({ minLength: 1, maxLength: 255 }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 2775 })),
    system_id: Type.String({ minLength: 1, maxLength: 15 }),
    /** given in a file: the value, or `password_env` names an environment variable holding it */
    password: Type.Optional(Type.String({ maxLength: 8 })),
    password_env: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' })),
    system_type: Type.Optional(Type.String({ maxLength: 12 })),
    bind_mode: Type.Optional(Type.Enum(['transceiver', 'transmitter_receiver'])),
    binds: Type.Optional(Type.Integer({ minimum: 1, maximum: 32 })),
    window: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    max_submits_per_second: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000, description: '0: no limit' })),
    /** TON/NPI of the sender address, by the kind of sender */
    source_alphanumeric: Type.Optional(TonNpi),
    source_international: Type.Optional(TonNpi),
    source_short: Type.Optional(TonNpi),
    destination: Type.Optional(TonNpi),
    /** data_coding for GSM-7 texts: 0 (SMSC default alphabet) or 1 (IA5/ASCII) */
    default_data_coding: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1)])),
    long_messages: Type.Optional(Type.Enum(['udh8', 'udh16', 'sar', 'payload'])),
    /** how the id in a receipt is written relative to the id in submit_sm_resp */
    receipt_id_format: Type.Optional(Type.Enum(['as-is', 'hex', 'decimal', 'submit-hex-receipt-decimal', 'submit-decimal-receipt-hex'])),
    /** hours the SMSC's receipt dates are off UTC, e.g. 3 for Moscow */
    receipt_utc_offset_hours: Type.Optional(Type.Number({ minimum: -14, maximum: 14 })),
    enquire_link_seconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 600 })),
    response_timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 120000 })),
    reconnect_min_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 600000 })),
    reconnect_max_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 3600000 })),
    /** how long the parts of an inbound long message are awaited before what came is stored as incomplete */
    inbound_parts_timeout_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
  },
  { additionalProperties: false },
);

export const ConnectorDefinitionSchema = Type.Union([SandboxDefinitionSchema, SmppDefinitionSchema, HttpDefinitionSchema, TelegramBotDefinitionSchema, TelegramGatewayDefinitionSchema, WhatsAppDefinitionSchema, EmailDefinitionSchema, VoiceDefinitionSchema]);

export type SandboxDefinition = Static<typeof SandboxDefinitionSchema>;
export type SmppDefinition = Static<typeof SmppDefinitionSchema>;
export type ConnectorDefinition = Static<typeof ConnectorDefinitionSchema>;

const TrafficType = Type.Union([Type.Literal('service'), Type.Literal('transactional'), Type.Literal('advertising'), Type.Literal('informational')]);

export const RouteDefinitionSchema = Type.Object(
  {
    /** one connector takes everything the route matches */
    connector: Type.Optional(ConnectorId),
    /** connectors in order: the first one in rotation takes the message, the next ones take over when it fails */
    failover: Type.Optional(Type.Array(ConnectorId, { minItems: 1, maxItems: 32, uniqueItems: true })),
    /** traffic shared by weight; when one is out of rotation the others take its share */
    split: Type.Optional(
      Type.Array(Type.Object({ connector: ConnectorId, weight: Type.Integer({ minimum: 1, maximum: 1000000 }) }, { additionalProperties: false }), { minItems: 1, maxItems: 32 }),
    ),
    /** default sms */
    channel: Type.Optional(Type.Enum([...CHANNELS])),
    /** E.164 prefixes without "+", e.g. ["7916", "7"]; none: every number */
    prefixes: Type.Optional(Type.Array(Type.String({ pattern: '^\\+?[0-9]{1,15}$' }), { maxItems: 10000 })),
    /** account ids this route serves; none: every account */
    accounts: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 10000 })),
    /** the messages' `project` values this route serves; none: any project or none */
    projects: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 1000 })),
    /** recipients' operator codes (docs/mno.md, e.g. "mts", "megafon"); none: any operator, known or not */
    operators: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z0-9_]{1,64}$' }), { minItems: 1, maxItems: 1000 })),
    /** none: every traffic type */
    traffic_types: Type.Optional(Type.Array(TrafficType, { minItems: 1, maxItems: 4, uniqueItems: true })),
    /** true: only messages whose text matched an approved template (docs/templates.md); false: only the others; none: either */
    templated: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type RouteDefinition = Static<typeof RouteDefinitionSchema>;

/** The connectors a route sends to, in its order; [] for a route that names none (refused by routeProblems). */
export function routeConnectorIds(route: RouteDefinition): string[] {
  if (route.connector !== undefined) return [route.connector];
  if (route.failover) return [...route.failover];
  return (route.split ?? []).map((s) => s.connector);
}

/** What is wrong with a route beyond its schema: exactly one of connector, failover and split; split connectors distinct. */
export function routeProblems(route: RouteDefinition): { field: string; issue: string }[] {
  const given = (['connector', 'failover', 'split'] as const).filter((k) => route[k] !== undefined);
  if (given.length !== 1) return [{ field: 'connector', issue: `give exactly one of connector, failover or split (got ${given.length === 0 ? 'none' : given.join(', ')})` }];
  const ids = routeConnectorIds(route);
  if (new Set(ids).size !== ids.length) return [{ field: 'split', issue: 'a connector appears twice' }];
  return [];
}
