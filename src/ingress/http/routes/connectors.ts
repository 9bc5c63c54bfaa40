import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ConnectorDefinitionSchema, RouteDefinitionSchema, routeConnectorIds, routeProblems, type ConnectorDefinition, type RouteDefinition } from '../../../connectors/definitions.ts';
import { CHANNELS } from '../../../connectors/channels.ts';
import { connectorProblems } from '../../../connectors/problems.ts';
import { ApiError } from '../../../errors.ts';
import type { ConnectorView } from '../../../pipeline/delivery.ts';
import { RoutingTable } from '../../../pipeline/router.ts';
import { firstInRotation } from '../../../pipeline/rotation.ts';
import { normalizePhone } from '../../../sms/phone.ts';
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
    type: Type.String({ description: 'sandbox, smpp, http, telegram_bot, telegram_gateway, whatsapp, email, voice' }),
    status: Type.Enum(['up', 'degraded', 'connecting', 'down', 'stopped'], {
      description: '`up` takes traffic; `degraded` takes it with less capacity; `connecting` and `down` take none and say why in `detail`',
    }),
    detail: Type.Union([Type.String(), Type.Null()], { description: 'why it is not up, e.g. "bind refused: 0x0000000E invalid password"' }),
    since: Type.String({ format: 'date-time', description: 'when `status` last changed' }),
    links_up: Type.Integer({ description: 'links (SMPP binds) up' }),
    links_total: Type.Integer({ description: 'links configured' }),
    in_flight: Type.Integer({ description: 'requests sent and not yet answered' }),
    enabled: Type.Boolean({ description: 'false: switched off with PATCH /v1/connectors/{id}; it takes no traffic' }),
    source: Type.Enum(['config', 'api'], { description: '`api`: made through the API, changed with PUT /v1/connectors/{id}; `config`: the sandbox or the config file\'s, changed there' }),
    circuit: Type.Object(
      {
        status: Type.Enum(['closed', 'open', 'half_open'], { description: '`open`: out of rotation after repeated link failures; `half_open`: one probe message is let through' }),
        reason: Type.Union([Type.String(), Type.Null()], { description: 'the failure that opened it' }),
        since: Type.String({ format: 'date-time' }),
        until: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'when an open circuit lets a probe through' }),
        consecutive_failures: Type.Integer(),
      },
      { additionalProperties: false },
    ),
    nodes: Type.Optional(
      Type.Array(
        Type.Object(
          {
            node: Type.String({ description: "the worker node's id (host:pid:random)" }),
            status: Type.Enum(['up', 'degraded', 'connecting', 'down', 'stopped']),
            detail: Type.Union([Type.String(), Type.Null()]),
            since: Type.String({ format: 'date-time' }),
            links_up: Type.Integer(),
            links_total: Type.Integer({ description: 'links this node runs (0: its binds are on other nodes)' }),
            in_flight: Type.Integer(),
            circuit: Type.Enum(['closed', 'open', 'half_open'], { description: "this node's circuit breaker for the connector" }),
          },
          { additionalProperties: false },
        ),
        {
          description:
            'cluster mode, on an api node: each live worker running the connector, by node id. The fields above are merged over them: links and in_flight summed, ' +
            '`status` up when every worker holding links is up, degraded when one at least is up or degraded (docs/api.md)',
        },
      ),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      {
        id: 'operator',
        type: 'smpp',
        status: 'down',
        detail: 'bind refused: 0x0000000E invalid password',
        since: '2026-11-23T15:30:00.000Z',
        links_up: 0,
        links_total: 2,
        in_flight: 0,
        enabled: true,
        source: 'config',
        circuit: { status: 'closed', reason: null, since: '2026-11-23T15:00:00.000Z', until: null, consecutive_failures: 0 },
      },
    ],
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
    id: Type.String({ description: '`rte_…` for routes made through the API; `config-<id>` (the id it has in the config file) or `config-<n>` (its position there, when it has none) for the config file\'s' }),
    source: Type.Enum(['config', 'api']),
    enabled: Type.Boolean({ description: 'false: switched off with PATCH /v1/routes/{id}; it matches no message (they take the next matching route, or fail with no_route)' }),
    connectors: Type.Array(Type.String(), { description: 'every connector the route sends to, in its order' }),
    connector: Type.Optional(Type.String()),
    failover: Type.Optional(Type.Array(Type.String())),
    split: Type.Optional(Type.Array(Type.Object({ connector: Type.String(), weight: Type.Integer() }, { additionalProperties: false }))),
    channel: Type.String(),
    prefixes: Type.Array(Type.String()),
    accounts: Type.Array(Type.String()),
    projects: Type.Array(Type.String()),
    operators: Type.Array(Type.String()),
    traffic_types: Type.Array(Type.String()),
    templated: Type.Optional(Type.Boolean({ description: 'true: only messages whose text matched an approved template; false: only the others' })),
  },
  { additionalProperties: false },
);

const RouteTestSchema = Type.Object(
  {
    to: Type.String({ minLength: 1, maxLength: 32, description: 'the recipient, in any common form' }),
    account_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'the sending account; default: the caller\'s' })),
    project: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    traffic_type: Type.Optional(Type.Enum(['service', 'transactional', 'advertising', 'informational'], { default: 'service' })),
    channel: Type.Optional(Type.Enum([...CHANNELS], { description: 'default sms; the dry run takes a number, so e-mail routes cannot be tried with it' })),
    operator: Type.Optional(Type.String({ pattern: '^[a-z0-9_]{1,64}$', description: "the recipient's operator code; default: looked up from the number" })),
    templated: Type.Optional(Type.Boolean({ description: 'whether the text matched an approved template (docs/templates.md); default false' })),
  },
  { additionalProperties: false },
);

const RouteTestResultSchema = Type.Object(
  {
    to: Type.String({ description: 'E.164' }),
    operator: Type.Union([Type.String(), Type.Null()]),
    route: Type.Union([Type.String(), Type.Null()], { description: 'the route taken, or null: the message would fail with no_route' }),
    connector: Type.Union([Type.String(), Type.Null()], { description: 'the connector that would take it now, or null' }),
    explanation: Type.String({ description: 'why, in one sentence' }),
    candidates: Type.Array(
      Type.Object(
        { id: Type.String(), in_rotation: Type.Boolean(), status: Type.Union([Type.String(), Type.Null()]), enabled: Type.Boolean(), circuit: Type.Union([Type.String(), Type.Null()]) },
        { additionalProperties: false },
      ),
      { description: "the route's connectors in the order they would be tried (a split route: by weight)" },
    ),
    routes: Type.Array(Type.Object({ id: Type.String(), matches: Type.Boolean(), why: Type.String() }, { additionalProperties: false }), {
      description: 'every route, with why it matches or not',
    }),
  },
  { additionalProperties: false },
);

const presentState = (s: ConnectorView, source: 'config' | 'api') => ({
  id: s.id,
  type: s.type,
  status: s.status,
  detail: s.detail,
  since: new Date(s.since).toISOString(),
  links_up: s.links.up,
  links_total: s.links.total,
  in_flight: s.inFlight,
  enabled: s.enabled,
  source,
  circuit: {
    status: s.circuit.status,
    reason: s.circuit.reason,
    since: new Date(s.circuit.since).toISOString(),
    until: s.circuit.until === null ? null : new Date(s.circuit.until).toISOString(),
    consecutive_failures: s.circuit.consecutiveFailures,
  },
  ...(s.nodes === undefined
    ? {}
    : {
        nodes: s.nodes.map((n) => ({
          node: n.node,
          status: n.status,
          detail: n.detail,
          since: new Date(n.since).toISOString(),
          links_up: n.links.up,
          links_total: n.links.total,
          in_flight: n.inFlight,
          circuit: n.circuit,
        })),
      }),
});

/** What POST and PUT refuse beyond the schema: file-only fields, and each type's own checks. */
function checkDefinition(definition: ConnectorDefinition): void {
  if (definition.type === 'smpp') {
    if (definition.password_env !== undefined) throw new ApiError('validation_failed', 'password_env is for the config file; send password', [{ field: 'password_env', issue: 'not accepted through the API' }]);
    if ((definition.reconnect_max_ms ?? 60000) < (definition.reconnect_min_ms ?? 1000)) {
      throw new ApiError('validation_failed', 'reconnect_max_ms must not be below reconnect_min_ms', [{ field: 'reconnect_max_ms', issue: 'below reconnect_min_ms' }]);
    }
  }
  if ('secrets_env' in definition && definition.secrets_env !== undefined) throw new ApiError('validation_failed', 'secrets_env is for the config file; send secrets', [{ field: 'secrets_env', issue: 'not accepted through the API' }]);
  const problems = connectorProblems(definition);
  if (problems.length > 0) throw new ApiError('validation_failed', problems.map((p) => `${p.field} ${p.issue}`).join('; '), problems);
}

/** The operator links of the whole gateway and how each is doing: for administrators and monitoring. */
export function connectorsRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const unmatched = new UnmatchedReceiptsRepository(deps.database.db);
  const stored = new ConnectorsRepository(deps.database.db, SecretBox.fromConfig(deps.config.secretKey, deps.config.dataDir));
  const fromConfig = new Set(['sandbox', ...deps.config.connectors.map((c) => c.id)]);
  const present = (s: ConnectorView) => presentState(s, fromConfig.has(s.id) ? 'config' : 'api');
  const presentRoute = (id: string, source: 'config' | 'api', r: RouteDefinition, enabled: boolean) => ({
    id,
    source,
    enabled,
    connectors: routeConnectorIds(r),
    ...(r.connector === undefined ? {} : { connector: r.connector }),
    ...(r.failover === undefined ? {} : { failover: r.failover }),
    ...(r.split === undefined ? {} : { split: r.split }),
    channel: r.channel ?? 'sms',
    prefixes: r.prefixes ?? [],
    accounts: r.accounts ?? [],
    projects: r.projects ?? [],
    operators: r.operators ?? [],
    traffic_types: r.traffic_types ?? [],
    ...(r.templated === undefined ? {} : { templated: r.templated }),
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
        if (definition.type === 'smpp' && definition.password === undefined) throw new ApiError('validation_failed', 'an smpp connector needs a password', [{ field: 'password', issue: 'required' }]);
        checkDefinition(definition);
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
        return reply.code(201).send(present(state ?? { id: definition.id, type: definition.type, status: 'connecting', detail: null, since: now, links: { up: 0, total: 0 }, inFlight: 0, enabled: true, circuit: { status: 'closed', reason: null, since: now, until: null, consecutiveFailures: 0 } }));
      },
    );

    app.get(
      '/v1/connectors/:id/definition',
      {
        schema: {
          summary: "A connector's definition",
          description:
            'The definition of a connector made through the API, as POST /v1/connectors took it, without its password and secrets: `secrets_set` names those it holds. ' +
            "The cabinet's Edit form starts from it. Connectors of the config file are changed there (409 connector_from_config). Needs an administrator API key.",
          tags: ['connectors'],
          security: [{ bearerAuth: [] }],
          params: Type.Object({ id: Type.String() }),
          response: {
            200: Type.Object({ definition: Type.Record(Type.String(), Type.Unknown()), secrets_set: Type.Array(Type.String(), { description: '`password`, `secrets.<name>`: stored, never shown' }) }, { additionalProperties: false }),
            401: ErrorSchema,
            403: ErrorSchema,
            404: ErrorSchema,
            409: ErrorSchema,
          },
        },
      },
      async (request) => {
        requireAdmin(request);
        const { id } = request.params;
        if (fromConfig.has(id)) throw new ApiError('connector_from_config', `connector ${id} is declared in the config file; change it there`);
        const found = await stored.getStored(id);
        if (!found) throw new ApiError('not_found', `no connector ${id}`);
        return { definition: found.definition, secrets_set: found.secretNames };
      },
    );

    app.put(
      '/v1/connectors/:id',
      {
        schema: {
          summary: 'Change a connector',
          description:
            'Replaces the definition of a connector made through the API (same id and type; the fields of POST /v1/connectors). A password or secret left out keeps its stored value. ' +
            'The connector restarts with it at once. Connectors of the config file are changed there. Needs an administrator API key.',
          tags: ['connectors'],
          security: [{ bearerAuth: [] }],
          params: Type.Object({ id: Type.String() }),
          body: ConnectorDefinitionSchema,
          response: { 200: ConnectorStateSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema },
        },
      },
      async (request) => {
        requireAdmin(request);
        const { id } = request.params;
        if (fromConfig.has(id)) throw new ApiError('connector_from_config', `connector ${id} is declared in the config file; change it there`);
        const current = (await stored.list()).find((d) => d.id === id);
        if (!current) throw new ApiError('not_found', `no connector ${id}`);
        const given = request.body;
        if (given.id !== id) throw new ApiError('validation_failed', `the definition's id ${given.id} is not ${id}; a connector keeps its id`, [{ field: 'id', issue: 'differs from the path' }]);
        if (given.type !== current.type) throw new ApiError('validation_failed', `connector ${id} is of type ${current.type}; remove it and add another to change the type`, [{ field: 'type', issue: `must stay ${current.type}` }]);
        // Secrets left out keep their stored values.
        const merged = { ...given } as Record<string, unknown>;
        if (given.type === 'smpp' && given.password === undefined && 'password' in current) merged.password = current.password;
        const keptSecrets = 'secrets' in current ? current.secrets : undefined;
        if (keptSecrets !== undefined || ('secrets' in given && given.secrets !== undefined)) {
          const newSecrets = Object.fromEntries(Object.entries(('secrets' in given ? given.secrets : undefined) ?? {}).filter(([, v]) => v !== undefined && v !== ''));
          merged.secrets = { ...(keptSecrets ?? {}), ...newSecrets };
        }
        const definition = merged as ConnectorDefinition;
        checkDefinition(definition);
        await stored.update(definition);
        await deps.delivery.reload();
        const state = deps.delivery.connectors().find((c) => c.id === id);
        const now = Date.now();
        return present(state ?? { id, type: definition.type, status: 'connecting', detail: null, since: now, links: { up: 0, total: 0 }, inFlight: 0, enabled: true, circuit: { status: 'closed', reason: null, since: now, until: null, consecutiveFailures: 0 } });
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
        const named = await stored.namedRoutes(deps.config.routes);
        return { data: named.map((r) => presentRoute(r.id, r.id.startsWith('config-') ? 'config' : 'api', r.route, r.enabled)), next_cursor: null };
      },
    );

    app.post(
      '/v1/routes',
      {
        schema: {
          summary: 'Add a route',
          description:
            'Sends the messages it matches (channel, prefixes, accounts, projects, operators, traffic types) to one connector, to a failover list, or split by weight; ' +
            'see docs/routing.md for how a route is chosen. Needs an administrator API key.',
          tags: ['connectors'],
          security: [{ bearerAuth: [] }],
          body: RouteDefinitionSchema,
          response: { 201: RouteSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 422: ErrorSchema },
        },
      },
      async (request, reply) => {
        requireAdmin(request);
        const route = request.body;
        const problems = routeProblems(route);
        if (problems.length > 0) throw new ApiError('invalid_route', problems[0]!.issue, problems);
        for (const connectorId of routeConnectorIds(route)) {
          const known = fromConfig.has(connectorId) || (await stored.exists(connectorId));
          if (!known) throw new ApiError('unknown_connector', `no connector ${connectorId}`, [{ field: route.connector === undefined ? (route.failover ? 'failover' : 'split') : 'connector', issue: `no connector ${connectorId}` }]);
        }
        const id = await stored.createRoute(route);
        await deps.delivery.reload();
        return reply.code(201).send(presentRoute(id, 'api', route, true));
      },
    );

    app.patch(
      '/v1/routes/:id',
      {
        schema: {
          summary: 'Switch a route on or off',
          description:
            'A switched-off route matches no message: they take the next matching route, or fail with no_route. Works for the config file\'s routes too (`config-<id>`, or `config-<n>` by position); ' +
            'takes effect before the answer. Needs an administrator API key.',
          tags: ['connectors'],
          security: [{ bearerAuth: [] }],
          params: Type.Object({ id: Type.String() }),
          body: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false }),
          response: { 200: RouteSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request) => {
        requireAdmin(request);
        const route = (await stored.namedRoutes(deps.config.routes)).find((r) => r.id === request.params.id);
        if (!route) throw new ApiError('not_found', `no route ${request.params.id}`);
        await stored.setRouteEnabled(route.id, request.body.enabled);
        await deps.delivery.reload();
        return presentRoute(route.id, route.id.startsWith('config-') ? 'config' : 'api', route.route, request.body.enabled);
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

    app.post(
      '/v1/routes/test',
      {
        schema: {
          summary: 'Route dry run',
          description:
            'Which connector a message to this number would take now, and why: every route with why it matches or not, and the chosen route\'s connectors ' +
            'with whether each is in rotation (switched on, circuit closed, link up). Sends nothing. Needs an administrator API key.',
          tags: ['connectors'],
          security: [{ bearerAuth: [] }],
          body: RouteTestSchema,
          response: { 200: RouteTestResultSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 422: ErrorSchema },
        },
      },
      async (request) => {
        const caller = requireAdmin(request);
        const body = request.body;
        const parsed = normalizePhone(body.to, caller.account.default_region);
        if (!parsed.ok) throw new ApiError('invalid_phone_number', `${body.to} is not a valid phone number`, [{ field: 'to', issue: parsed.issue }]);
        const operator = body.operator ?? deps.mno.lookup(parsed.e164.slice(1))?.operator ?? null;
        const input = {
          accountId: body.account_id ?? caller.account.id,
          channel: body.channel ?? 'sms',
          recipient: parsed.e164,
          project: body.project ?? null,
          trafficType: body.traffic_type ?? 'service',
          operator,
          templated: body.templated ?? false,
        };
        const { choice, verdicts } = new RoutingTable(await stored.namedRoutes(deps.config.routes)).explain(input);
        const states = new Map(deps.delivery.connectors().map((c) => [c.id, c]));
        const view = (id: string) => {
          const c = states.get(id);
          return c && { status: c.status, enabled: c.enabled, open: c.circuit.status !== 'closed', circuit: c.circuit };
        };
        const pick = choice ? firstInRotation(choice.connectors, view) : null;
        const connector = pick && 'connectorId' in pick ? pick.connectorId : null;
        const explanation = !choice
          ? 'no route matches: the message would fail with no_route'
          : connector
            ? `route ${choice.routeId} sends it to ${connector}`
            : `route ${choice.routeId} matches, but none of its connectors is in rotation (${pick && 'blocked' in pick ? pick.blocked : ''}): the message would wait and be retried`;
        return {
          to: parsed.e164,
          operator,
          route: choice?.routeId ?? null,
          connector,
          explanation,
          candidates: (choice?.connectors ?? []).map((id) => {
            const v = view(id);
            return {
              id,
              in_rotation: v !== undefined && v.enabled && !v.open && (v.status === 'up' || v.status === 'degraded'),
              status: v?.status ?? null,
              enabled: v?.enabled ?? false,
              circuit: v?.circuit.status ?? null,
            };
          }),
          routes: verdicts.map((v) => ({ id: v.routeId, matches: v.matches, why: v.why })),
        };
      },
    );

    app.patch(
      '/v1/connectors/:id',
      {
        schema: {
          summary: 'Switch a connector on or off',
          description:
            'A switched-off connector takes no traffic: its routes fail over to their next connector, or their messages wait. ' +
            'Works for connectors of the config file too; takes effect before the answer, without a restart. Needs an administrator API key.',
          tags: ['connectors'],
          security: [{ bearerAuth: [] }],
          params: Type.Object({ id: Type.String() }),
          body: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false }),
          response: { 200: ConnectorStateSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request) => {
        requireAdmin(request);
        const { id } = request.params;
        if (!fromConfig.has(id) && !(await stored.exists(id))) throw new ApiError('not_found', `no connector ${id}`);
        await stored.setEnabled(id, request.body.enabled);
        await deps.delivery.reload();
        const state = deps.delivery.connectors().find((c) => c.id === id);
        if (!state) throw new ApiError('not_found', `no connector ${id}`);
        return present(state);
      },
    );

    app.get(
      '/v1/connectors',
      {
        schema: {
          summary: 'Connectors and their state',
          description:
            'Every connector of the gateway (the sandbox, and those declared in the config file) with its live state, refreshed every second. ' +
            'A connector that cannot bind shows `down` or `connecting` with the reason. In a cluster an api node shows each connector merged over the live workers, ' +
            'with `nodes` (docs/api.md). Needs an administrator API key.',
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
      '/v1/connectors/:id',
      {
        schema: {
          summary: 'One connector and its state',
          description: 'The entry of GET /v1/connectors for one connector. Needs an administrator API key.',
          tags: ['connectors'],
          security: [{ bearerAuth: [] }],
          params: Type.Object({ id: Type.String() }),
          response: { 200: ConnectorStateSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request) => {
        requireAdmin(request);
        const state = deps.delivery.connectors().find((c) => c.id === request.params.id);
        if (!state) throw new ApiError('not_found', `no connector ${request.params.id}`);
        return present(state);
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
