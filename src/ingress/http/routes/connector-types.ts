import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { EmailDefinitionSchema, emailManifest } from '../../../connectors/email/email.ts';
import { sandboxManifest } from '../../../connectors/sandbox/sandbox.ts';
import { smppManifest } from '../../../connectors/smpp/smpp.ts';
import { TelegramBotDefinitionSchema, telegramBotManifest } from '../../../connectors/telegram/bot.ts';
import { TelegramGatewayDefinitionSchema, telegramGatewayManifest } from '../../../connectors/telegram/gateway.ts';
import type { ConnectorManifest } from '../../../connectors/types.ts';
import { WhatsAppDefinitionSchema, whatsappManifest } from '../../../connectors/whatsapp/whatsapp.ts';
import { requireAdmin } from '../auth.ts';
import { ErrorSchema } from '../schemas.ts';

// The HTTP connector's manifest comes from its preset or definition (connectors/http/spec.ts), so it has no fixed form here.
const MANIFESTS: ConnectorManifest[] = [sandboxManifest, smppManifest, telegramBotManifest, telegramGatewayManifest, whatsappManifest, emailManifest];

// The fields a type takes in its `secrets` object (from its definition schema); the rest go in the definition itself.
const SECRET_FIELDS: Record<string, Set<string>> = Object.fromEntries(
  [TelegramBotDefinitionSchema, TelegramGatewayDefinitionSchema, WhatsAppDefinitionSchema, EmailDefinitionSchema].map((schema) => [
    schema.properties.type.const,
    new Set(Object.keys(schema.properties.secrets.properties)),
  ]),
);

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

const TypeSchema = Type.Object(
  { type: Type.String(), name: Type.String(), channels: Type.Array(Type.String()), fields: Type.Array(FieldSchema) },
  { additionalProperties: false },
);

/** GET /v1/connector-types: each connector type's manifest, from which the cabinet builds the form of POST /v1/connectors. */
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
          data: MANIFESTS.map((m) => ({
            type: m.type,
            name: m.name,
            channels: [...m.channels],
            fields: m.fields.map((f) => ({ ...f, ...(f.options ? { options: [...f.options] } : {}), in: (SECRET_FIELDS[m.type]?.has(f.name) ? 'secrets' : 'definition') as 'definition' | 'secrets' })),
          })),
        };
      },
    );
  };
}
