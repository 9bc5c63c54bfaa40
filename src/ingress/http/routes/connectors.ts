import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ConnectorState } from '../../../connectors/types.ts';
import { ApiError } from '../../../errors.ts';
import { UnmatchedReceiptsRepository } from '../../../store/unmatched-receipts.ts';
import { requireAdmin } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema } from '../schemas.ts';

const ConnectorStateSchema = Type.Object(
  {
    id: Type.String(),
    type: Type.String({ description: 'sandbox, smpp' }),
    status: Type.Enum(['up', 'degraded', 'connecting', 'down', 'stopped'], {
      description: '`up` takes traffic; `degraded` takes it with less capacity; `connecting` and `down` take none and say why in `detail`',
    }),
    detail: Type.Union([Type.String(), Type.Null()], { description: 'why it is not up, e.g. "bind refused: 0x0000000E invalid password"' }),
    since: Type.String({ format: 'date-time', description: 'when `status` last changed' }),
    links_up: Type.Integer({ description: 'links (SMPP binds) up' }),
    links_total: Type.Integer({ description: 'links configured' }),
    in_flight: Type.Integer({ description: 'requests sent and not yet answered' }),
  },
  {
    additionalProperties: false,
    examples: [{ id: 'operator', type: 'smpp', status: 'down', detail: 'bind refused: 0x0000000E invalid password', since: '2026-11-23T15:30:00.000Z', links_up: 0, links_total: 2, in_flight: 0 }],
  },
);

const UnmatchedReceiptSchema = Type.Object(
  {
    id: Type.String(),
    connector_id: Type.String(),
    provider_message_id: Type.String({ description: 'the id as the receipt carried it' }),
    status: Type.String({ description: 'what the receipt said: delivered, undelivered, expired, rejected' }),
    provider_code: Type.Union([Type.String(), Type.Null()]),
    raw: Type.Union([Type.String(), Type.Null()], { description: 'the receipt as it came, e.g. the SMPP text body' }),
    received_at: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);

const present = (s: ConnectorState) => ({
  id: s.id,
  type: s.type,
  status: s.status,
  detail: s.detail,
  since: new Date(s.since).toISOString(),
  links_up: s.links.up,
  links_total: s.links.total,
  in_flight: s.inFlight,
});

/** The operator links of the whole gateway and how each is doing: for administrators and monitoring. */
export function connectorsRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const unmatched = new UnmatchedReceiptsRepository(deps.database.db);
  return async (app) => {
    app.get(
      '/v1/connectors',
      {
        schema: {
          summary: 'Connectors and their state',
          description:
            'Every connector of the gateway (the sandbox, and those declared in the config file) with its live state, refreshed every second. ' +
            'A connector that cannot bind shows `down` or `connecting` with the reason. Needs an administrator API key.',
          tags: ['connectors'],
          security: [{ bearerAuth: [] }],
          response: { 200: Type.Object({ data: Type.Array(ConnectorStateSchema), next_cursor: Type.Null() }), 401: ErrorSchema, 403: ErrorSchema },
        },
      },
      async (request) => {
        requireAdmin(request);
        return { data: deps.delivery.connectors().map(present), next_cursor: null };
      },
    );

    app.get(
      '/v1/connectors/:id/unmatched-receipts',
      {
        schema: {
          summary: 'Receipts that matched no message',
          description:
            'Delivery receipts from this connector whose provider message id matched no part we sent, after 30 s of retrying. ' +
            'Usually a sign that the connector\'s `receipt_id_format` does not fit its SMSC. Newest first. Needs an administrator API key.',
          tags: ['connectors'],
          security: [{ bearerAuth: [] }],
          params: Type.Object({ id: Type.String() }),
          querystring: Type.Object(
            { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })), cursor: Type.Optional(Type.String()) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ data: Type.Array(UnmatchedReceiptSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request) => {
        requireAdmin(request);
        if (!deps.delivery.connectors().some((c) => c.id === request.params.id)) throw new ApiError('not_found', `no connector ${request.params.id}`);
        const limit = request.query.limit ?? 50;
        const rows = await unmatched.list(request.params.id, { beforeId: request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, 'urc'), limit: limit + 1 });
        const page = rows.slice(0, limit);
        return {
          data: page.map((r) => ({
            id: r.id,
            connector_id: r.connector_id,
            provider_message_id: r.provider_message_id,
            status: r.status,
            provider_code: r.provider_code,
            raw: r.raw,
            received_at: new Date(r.received_at).toISOString(),
          })),
          next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null,
        };
      },
    );
  };
}
