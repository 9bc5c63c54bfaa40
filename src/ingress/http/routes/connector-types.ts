import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CHANNELS } from '../../../connectors/channels.ts';
import { SandboxDefinitionSchema, SmppDefinitionSchema } from '../../../connectors/definitions.ts';
import { EmailDefinitionSchema, emailManifest } from '../../../connectors/email/email.ts';
import { PRESETS } from '../../../connectors/http/presets.ts';
import { HttpDefinitionSchema } from '../../../connectors/http/spec.ts';
import { sandboxManifest } from '../../../connectors/sandbox/sandbox.ts';
import { smppManifest } from '../../../connectors/smpp/smpp.ts';
import { TelegramBotDefinitionSchema, telegramBotManifest } from '../../../connectors/telegram/bot.ts';
import { TelegramGatewayDefinitionSchema, telegramGatewayManifest } from '../../../connectors/telegram/gateway.ts';
import type { ConnectorManifest } from '../../../connectors/types.ts';
import { VoiceDefinitionSchema, voiceManifest } from '../../../connectors/voice/freeswitch.ts';
import { WhatsAppDefinitionSchema, whatsappManifest } from '../../../connectors/whatsapp/whatsapp.ts';
import { requireAdmin } from '../auth.ts';
import { ErrorSchema } from '../schemas.ts';

/**
 * The generic HTTP aggregator has no fixed settings: its manifest (how to
 * call the provider, read its answers and reports) is its preset's or the
 * definition's own, nested sections of `schema`. These are the top-level
 * fields the form shows first; the sections come from the schema.
 */
const httpManifest: ConnectorManifest = {
  type: 'http',
  name: 'HTTP aggregator (preset or own manifest)',
  channels: [...CHANNELS],
  fields: [
    { name: 'preset', label: 'Preset', type: 'enum', required: false, options: [...PRESETS.keys()], description: 'A ready manifest of a known aggregator; without one, give base_url, send and response below.' },
    { name: 'base_url', label: 'Base URL', type: 'string', required: false, description: "The aggregator's address, replacing the preset's." },
    { name: 'public_url', label: 'Public URL', type: 'string', required: false, description: 'Our public address, from which the callback URL for status reports is made.' },
    { name: 'receipts', label: 'Statuses by', type: 'enum', required: false, options: ['callback', 'poll'], description: 'Reports posted to us (callback) or status requests (poll); default: what the manifest has.' },
  ],
};

// Each type's manifest (labels of the first fields) and its definition's JSON Schema (every field, nested sections included).
const TYPES: { manifest: ConnectorManifest; schema: { properties: Record<string, unknown> } }[] = [
  { manifest: sandboxManifest, schema: SandboxDefinitionSchema },
  { manifest: smppManifest, schema: SmppDefinitionSchema },
  { manifest: httpManifest, schema: HttpDefinitionSchema },
  { manifest: telegramBotManifest, schema: TelegramBotDefinitionSchema },
  { manifest: telegramGatewayManifest, schema: TelegramGatewayDefinitionSchema },
  { manifest: whatsappManifest, schema: WhatsAppDefinitionSchema },
  { manifest: emailManifest, schema: EmailDefinitionSchema },
  { manifest: voiceManifest, schema: VoiceDefinitionSchema },
];

// The fields a type takes in its `secrets` object (from its definition schema); the rest go in the definition itself.
const SECRET_FIELDS: Record<string, Set<string>> = Object.fromEntries(
  [TelegramBotDefinitionSchema, TelegramGatewayDefinitionSchema, WhatsAppDefinitionSchema, EmailDefinitionSchema, VoiceDefinitionSchema].map((schema) => [
    schema.properties.type.const,
    new Set(Object.keys(schema.properties.secrets.properties)),
  ]),
);

// Fields only the config file takes (environment variable names); the API refuses them, so the form leaves them out.
const FILE_ONLY = new Set(['password_env', 'secrets_env']);

/** The definition's schema as the form reads it: file-only fields dropped; the HTTP preset a choice of the presets there are. */
function formSchema(type: string, schema: { properties: Record<string, unknown> }): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(schema)) as { properties: Record<string, unknown>; required?: string[] };
  for (const name of FILE_ONLY) delete plain.properties[name];
  if (type === 'http') plain.properties.preset = { enum: [...PRESETS.keys()] };
  return plain;
}

const FieldSchema = Type.Object(
  {
    name: Type.String(),
    label: Type.String(),
    type: Type.Enum(['string', 'integer', 'boolean', 'secret', 'enum']),
    required: Type.Boolean(),
    default: Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
    options: Type.Optional(Type.Array(Type.String())),
    description: Type.String(),
    in: Type.Enum(['definition', 'secrets'], { description: 'where POST /v1/connectors takes the value: the definition itself, or its `secrets` object' }),
  },
  { additionalProperties: false },
);

const PresetSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    base_url: Type.String(),
    channels: Type.Array(Type.String()),
    fields: Type.Array(Type.Object({ name: Type.String(), label: Type.String(), description: Type.String(), secret: Type.Boolean() }, { additionalProperties: false }), {
      description: 'what the preset needs in `secrets`',
    }),
  },
  { additionalProperties: false },
);

const TypeSchema = Type.Object(
  {
    type: Type.String(),
    name: Type.String(),
    channels: Type.Array(Type.String()),
    fields: Type.Array(FieldSchema, { description: 'the main fields, with labels; `schema` has them all' }),
    schema: Type.Record(Type.String(), Type.Unknown(), { description: "the JSON Schema of the type's definition (POST /v1/connectors), nested sections included, without the config file's `*_env` fields" }),
    presets: Type.Optional(Type.Array(PresetSchema, { description: 'http: the ready manifests `preset` names' })),
  },
  { additionalProperties: false },
);

/** GET /v1/connector-types: each connector type's manifest and definition schema, from which the cabinet builds the forms of POST and PUT /v1/connectors. */
export function connectorTypesRoutes(): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/connector-types',
      {
        schema: {
          summary: 'Connector types and their settings',
          description: "The fields each connector type takes (its manifest): what the cabinet's Add connector form shows. Needs an administrator API key or a platform user.",
          tags: ['connectors'],
          security: [{ bearerAuth: [] }],
          response: { 200: Type.Object({ data: Type.Array(TypeSchema) }), 401: ErrorSchema, 403: ErrorSchema },
        },
      },
      async (request) => {
        requireAdmin(request);
        return {
          data: TYPES.map(({ manifest: m, schema }) => ({
            type: m.type,
            name: m.name,
            channels: [...m.channels],
            fields: m.fields.map((f) => ({ ...f, ...(f.options ? { options: [...f.options] } : {}), in: (SECRET_FIELDS[m.type]?.has(f.name) ? 'secrets' : 'definition') as 'definition' | 'secrets' })),
            schema: formSchema(m.type, schema),
            ...(m.type === 'http' ? { presets: [...PRESETS].map(([id, p]) => ({ id, name: p.name, base_url: p.base_url, channels: [...p.channels], fields: p.fields.map((f) => ({ ...f })) })) } : {}),
          })),
        };
      },
    );
  };
}
