import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ConnectorState } from '../../../connectors/types.ts';
import { ConnectorDefinitionSchema, RouteDefinitionSchema, type RouteDefinition } from '../../../connectors/definitions.ts';
import { ApiError } from '../../../errors.ts';
import { ConnectorExistsError, ConnectorsRepository } from '../../../store/connectors.ts';
import { SecretBox } from '../../../store/secrets.ts';
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

const RouteSchema = Type.Object(
  {
    id: Type.String({ description: '`rte_…` for routes made through the API, `config-<n>` for the config file\'s' }),
    source: Type.Enum(['config', 'api']),
    connector: Type.String(),
    channel: Type.String(),
    prefixes: Type.Array(Type.String()),
    accounts: Type.Array(Type.String()),
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
  const stored = new ConnectorsRepository(deps.database.db, SecretBox.fromConfig(deps.config.secretKey, deps.config.dataDir));
  const fromConfig = new Set(['sandbox', ...deps.config.connectors.map((c) => c.id)]);
  const presentRoute = (id: string, source: 'config' | 'api', r: RouteDefinition) => ({
    id,
    source,
    connector: r.connector,
    channel: r.channel ?? 'sms',
    prefixes: r.prefixes ?? [],
    accounts: r.accounts ?? [],
  });
  return async (app) => {
    app.post(
      '/v1/connectors',
      {
        schema: {
          summary: 'Add a connector',
          description:
            'Adds an operator link, as a `connectors:` entry of the config file would (same fields; see docs/configuration.md). ' +
            'Its password is stored encrypted. It starts at once; route traffic to it with POST /v1/routes. Needs an administrator API key.',
          tags: ['connectors'],
          security: [{ bearerAuth: [] }],
          body: ConnectorDefinitionSchema,
          response: { 201: ConnectorStateSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema },
        },
      },
      async (request, reply) => {
        requireAdmin(request);
        const definition = request.body;
        if (definition.type === 'smpp') {
          if (definition.password_env !== undefined) throw new ApiError('validation_failed', 'password_env is for the config file; send password', [{ field: 'password_env', issue: 'not accepted through the API' }]);
          if (definition.password === undefined) throw new ApiError('validation_failed', 'an smpp connector needs a password', [{ field: 'password', issue: 'required' }]);
          if ((definition.reconnect_max_ms ?? 60000) < (definition.reconnect_min_ms ?? 1000)) {
            throw new ApiError('validation_failed', 'reconnect_max_ms must not be below reconnect_min_ms', [{ field: 'reconnect_max_ms', issue: 'below reconnect_min_ms' }]);
          }
        }
        if (fromConfig.has(definition.id)) throw new ApiError('connector_exists', `connector ${definition.id} is declared in the config file`, [{ field: 'id', issue: 'taken' }]);
        try {
          await stored.create(definition);
        } catch (err) {
          if (err instanceof ConnectorExistsError) throw new ApiError('connector_exists', `connector ${definition.id} exists`, [{ field: 'id', issue: 'taken' }]);
          throw err;
        }
        await deps.delivery.reload();
        const state = deps.delivery.connectors().find((c) => c.id === definition.id);
        const now = Date.now();
        return reply.code(201).send(present(state ?? { id: definition.id, type: definition.type, status: 'connecting', detail: null, since: now, links: { up: 0, total: 0 }, inFlight: 0 }));
      },
    );

    app.delete(
      '/v1/connectors/:id',
      {
        schema: {
          summary: 'Remove a connector',
          description: 'Stops and removes a connector made through the API (one declared in the config file is changed there). Refused while a route uses it. Needs an administrator API key.',
          tags: ['connectors'],
          security: [{ bearerAuth: [] }],
          params: Type.Object({ id: Type.String() }),
          response: { 204: Type.Null(), 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema },
        },
      },
      async (request, reply) => {
        requireAdmin(request);
        const id = request.params.id;
        if (fromConfig.has(id)) throw new ApiError('connector_from_config', `connector ${id} is declared in the config file; change it there`);
        const using = await stored.routesUsing(id);
        if (using > 0) throw new ApiError('connector_in_use', `connector ${id} is used by ${using} route(s); remove them first`);
        if (!(await stored.delete(id))) throw new ApiError('not_found', `no connector ${id}`);
        await deps.delivery.reload();
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/v1/routes',
      {
        schema: {
          summary: 'Routes',
          description: 'The routes in use: those of the config file, then those made through the API. Needs an administrator API key.',
          tags: ['connectors'],
          security: [{ bearerAuth: [] }],
          response: { 200: Type.Object({ data: Type.Array(RouteSchema), next_cursor: Type.Null() }), 401: ErrorSchema, 403: ErrorSchema },
        },
      },
      async (request) => {
        requireAdmin(request);
        const made = await stored.listRoutes();
        return {
          data: [...deps.config.routes.map((r, i) => presentRoute(`config-${i + 1}`, 'config', r)), ...made.map((m) => presentRoute(m.id, 'api', m.route))],
          next_cursor: null,
        };
      },
    );

    app.post(
      '/v1/routes',
      {
        schema: {
          summary: 'Add a route',
          description: 'Sends the messages it matches (channel, prefixes, accounts) to a connector; see docs/configuration.md for how a route is chosen. Needs an administrator API key.',
          tags: ['connectors'],
          security: [{ bearerAuth: [] }],
          body: RouteDefinitionSchema,
          response: { 201: RouteSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 422: ErrorSchema },
        },
      },
      async (request, reply) => {
        requireAdmin(request);
        const route = request.body;
        const known = fromConfig.has(route.connector) || (await stored.exists(route.connector));
        if (!known) throw new ApiError('unknown_connector', `no connector ${route.connector}`, [{ field: 'connector', issue: 'no such connector' }]);
        const id = await stored.createRoute(route);
        await deps.delivery.reload();
        return reply.code(201).send(presentRoute(id, 'api', route));
      },
    );

    app.delete(
      '/v1/routes/:id',
      {
        schema: {
          summary: 'Remove a route',
          description: 'Removes a route made through the API. Needs an administrator API key.',
          tags: ['connectors'],
          security: [{ bearerAuth: [] }],
          params: Type.Object({ id: Type.String() }),
          response: { 204: Type.Null(), 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request, reply) => {
        requireAdmin(request);
        if (!(await stored.deleteRoute(request.params.id))) throw new ApiError('not_found', `no route ${request.params.id} made through the API`);
        await deps.delivery.reload();
        return reply.code(204).send(null);
      },
    );

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
