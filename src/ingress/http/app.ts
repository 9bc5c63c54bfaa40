import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { newId } from '../../domain/ids.ts';
import { ApiError } from '../../errors.ts';
import { maskUrl } from '../../log.ts';
import cookie from '@fastify/cookie';
import { AuditRepository } from '../../store/audit.ts';
import { ProjectsRepository } from '../../store/projects.ts';
import { SessionsRepository } from '../../store/sessions.ts';
import { UsersRepository } from '../../store/users.ts';
import { Authenticator, checkRole, type ApiKeyAuthenticator } from './auth.ts';
import { apiKeysRoutes } from './routes/api-keys.ts';
import { auditRoutes, auditTrail } from './routes/audit.ts';
import { sessionsRoutes } from './routes/sessions.ts';
import { usersRoutes } from './routes/users.ts';
import { statsRoutes } from './routes/stats.ts';
import { reportsRoutes } from './routes/reports.ts';
import { exportsRoutes } from './routes/exports.ts';
import { connectorTypesRoutes } from './routes/connector-types.ts';
import { StatsRepository } from '../../store/stats.ts';
import { cabinetRoutes } from './cabinet.ts';
import { RateLimiter } from './rate-limit.ts';
import type { HttpDeps } from './deps.ts';
import { sendError, toApiError } from './errors.ts';
import { findNul, nulDetail } from '../../domain/nul.ts';
import { messagesRoutes } from './routes/messages.ts';
import { connectorsRoutes } from './routes/connectors.ts';
import { smppCredentialsRoutes } from './routes/smpp-credentials.ts';
import { inboundRoutes } from './routes/inbound.ts';
import { mnoRoutes } from './routes/mno.ts';
import { eventsRoutes } from './routes/events.ts';
import { opsRoutes } from './routes/ops.ts';
import { accountRoutes } from './routes/account.ts';
import { senderNamesRoutes } from './routes/sender-names.ts';
import { webhooksRoutes } from './routes/webhooks.ts';
import { smsRoutes } from './routes/sms.ts';
import { callbacksRoutes } from './routes/callbacks.ts';
import { verificationsRoutes } from './routes/verifications.ts';
import { projectsRoutes } from './routes/projects.ts';
import { contactsRoutes } from './routes/contacts.ts';
import { contactListsRoutes } from './routes/contact-lists.ts';
import { templatesRoutes } from './routes/templates.ts';
import { balanceRoutes } from './routes/balance.ts';
import { mailingsRoutes } from './routes/mailings.ts';
import { segmentsRoutes } from './routes/segments.ts';
import { moduleGate, modulesRoutes } from './routes/modules.ts';
import { compatApiV1Routes } from './compat/api-v1.ts';
import { compatAllowlistRoutes } from './compat/allowlist.ts';
import { compatCrmRoutes } from './compat/crm.ts';
import { SendMessageSchema } from './schemas.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function makeAjv(coerce: boolean): Ajv {
  // Bodies are checked as sent: no type coercion, unknown fields are errors, all problems at once.
  const ajv = new Ajv({ allErrors: true, coerceTypes: coerce ? 'array' : false, removeAdditional: false, useDefaults: true, strict: false });
  addFormats(ajv);
  return ajv;
}

/** Builds the HTTP API (does not listen): `main.ts` listens, tests use `inject()`. */
export async function buildApp(deps: HttpDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log.child({ component: 'http' }) as FastifyBaseLogger,
    // Per-request lines would carry phone numbers in URLs; onResponse logs failures with masked URLs.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => newId('req'),
    requestIdHeader: false,
    bodyLimit: 1024 * 1024,
    // Behind a reverse proxy (http.trust_proxy): request.ip and request.protocol come from its
    // X-Forwarded-For and X-Forwarded-Proto when the peer is one of those proxies; otherwise they are ignored.
    trustProxy: deps.config.http.trustProxy.length > 0 ? deps.config.http.trustProxy : false,
    // A stopping node takes no new connections but serves what still reaches it on open ones (answered with
    // Connection: close) while the pipeline is still up, instead of a 503 a balancer would pass to the client:
    // a rolling restart rejects nothing (docs/deploy.md).
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // The API speaks JSON only; any other body type is a 415.
  app.removeContentTypeParser('text/plain');
  const bodyAjv = makeAjv(false);
  const queryAjv = makeAjv(true);
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : queryAjv).compile(schema));
  const validateItem = bodyAjv.compile(SendMessageSchema);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Depesha API', version: '1.0.0', description: 'Send messages, follow them to their final status. Conventions: docs/api.md.' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'API key' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(cookie);
  const users = new UsersRepository(deps.database.db);
  const sessions = new SessionsRepository(deps.database.db);
  const audit = new AuditRepository(deps.database.db);
  const authenticator = new Authenticator(deps.accounts, users, sessions);
  await shareKeyCache(app, deps, authenticator.keys);
  const limiter = new RateLimiter(deps.config.rateLimitPerSecond);
  app.decorateRequest('auth', undefined);
  /**
   * Whether a request is the /v1 API's: by the route it matched, which the router found after decoding the
   * path (`/%761/messages` is `/v1/messages`), not by the raw URL, which would let an encoded prefix pass by
   * authentication, CSRF, the role gate, the rate limit and the NUL check; an unmatched /v1 path is one too.
   */
  const underV1 = (request: FastifyRequest) => request.routeOptions.url?.startsWith('/v1/') === true || request.url.startsWith('/v1/');
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (!underV1(request)) return;
    // Public under /v1: providers' status reports (each connector checks the provider's signature or its
    // own secret), and signing in (it limits its own attempts).
    if (request.routeOptions.url === '/v1/callbacks/:connector_id') return;
    if (request.method === 'POST' && request.routeOptions.url === '/v1/sessions') return;
    const auth = await authenticator.authenticate(request);
    request.auth = auth;
    checkRole(auth, request.method, request.routeOptions.url);
    const rate = limiter.take(auth.keyId);
    reply.header('ratelimit-limit', rate.limit).header('ratelimit-remaining', rate.remaining).header('ratelimit-reset', rate.resetSeconds);
    if (!rate.allowed) {
      throw new ApiError('rate_limited', `this API key may make ${rate.limit} requests per second; retry after ${rate.resetSeconds} s`, [], { 'retry-after': String(rate.resetSeconds) });
    }
  });
  app.addHook('preValidation', async (request) => {
    if (!underV1(request)) return; // the compatibility APIs answer in their seeds' shapes
    // A bulk request's items are checked one by one (routes/messages.ts): a bad item does not refuse the others.
    const body = request.routeOptions.url === '/v1/messages/bulk' ? undefined : request.body;
    for (const [part, where] of [[request.params, 'path'], [request.query, 'query string'], [body, 'request body']] as const) {
      const field = findNul(part);
      if (field !== undefined) {
        const detail = nulDetail(field);
        throw new ApiError('validation_failed', `the ${where} is invalid: ${detail.field} ${detail.issue}`, [detail]);
      }
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    deps.metrics.httpRequests.inc({ method: request.method, route, status: reply.statusCode });
    deps.metrics.httpDuration.observe({ route }, reply.elapsedTime / 1000);
    if (reply.statusCode >= 500) request.log.error({ method: request.method, url: maskUrl(request.url), status: reply.statusCode }, 'request failed');
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const apiError = toApiError(err);
    if (apiError.status >= 500) request.log.error({ err, url: maskUrl(request.url) }, 'unhandled error');
    return sendError(reply, request, apiError);
  });
  auditTrail(app, audit);
  moduleGate(app, deps.modules);
  const cabinet = await cabinetRoutes(app);
  app.setNotFoundHandler((request, reply) =>
    cabinet.serves(request)
      ? cabinet.index(reply)
      : sendError(reply, request, new ApiError('route_not_found', `no endpoint ${request.method} ${request.url.split('?')[0]}; see /docs`)),
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(opsRoutes(deps));
  await app.register(messagesRoutes(deps, validateItem));
  await app.register(smsRoutes);
  await app.register(connectorsRoutes(deps));
  await app.register(smppCredentialsRoutes(deps));
  await app.register(inboundRoutes(deps));
  await app.register(accountRoutes(deps, authenticator));
  await app.register(senderNamesRoutes(deps, deps.senderRegistry));
  await app.register(mnoRoutes(deps));
  await app.register(webhooksRoutes(deps));
  await app.register(eventsRoutes(deps, sessions));
  await app.register(callbacksRoutes(deps));
  await app.register(verificationsRoutes(deps));
  await app.register(sessionsRoutes({ accounts: deps.accounts, users, sessions, audit }));
  await app.register(usersRoutes({ accounts: deps.accounts, users, sessions, audit }));
  await app.register(apiKeysRoutes(deps.accounts, audit, authenticator.keys, new ProjectsRepository(deps.database.db), deps.live));
  await app.register(auditRoutes(audit));
  await app.register(statsRoutes(new StatsRepository(deps.database.db)));
  await app.register(reportsRoutes(deps));
  await app.register(exportsRoutes(deps));
  await app.register(connectorTypesRoutes());
  await app.register(projectsRoutes(deps));
  await app.register(contactsRoutes(deps));
  await app.register(contactListsRoutes(deps));
  await app.register(templatesRoutes(deps));
  await app.register(balanceRoutes(deps));
  await app.register(mailingsRoutes(deps));
  await app.register(segmentsRoutes(deps));
  await app.register(modulesRoutes(deps));
  await app.register(compatApiV1Routes(deps, authenticator.keys));
  await app.register(compatAllowlistRoutes(deps));
  await app.register(compatCrmRoutes(deps, authenticator.keys));
  return app;
}

/**
 * In a cluster the API nodes tell each other of revoked keys and changed
 * accounts (cluster/auth-notices.ts), so none takes a revoked key from its
 * cache; a key revoked elsewhere also ends its streams here at once. On
 * connections of their own, loaded only here (an embedded gateway needs no
 * ioredis); a single node keeps its cache to itself.
 */
async function shareKeyCache(app: FastifyInstance, deps: HttpDeps, keys: ApiKeyAuthenticator): Promise<void> {
  const { redisUrl, redisPrefix, roles } = deps.config;
  if (redisUrl === undefined || !roles.includes('api')) return;
  const [{ connectRedis }, { AuthNotices }] = await Promise.all([import('../../cluster/redis.ts'), import('../../cluster/auth-notices.ts')]);
  const log = deps.log.child({ component: 'auth-notices' });
  const pub = connectRedis(redisUrl, 'depesha-auth');
  const sub = connectRedis(redisUrl, 'depesha-auth-sub');
  for (const r of [pub, sub]) r.on('error', (err) => log.warn({ err }, 'Redis connection error'));
  const notices = new AuthNotices(pub, sub, redisPrefix, log);
  await notices.start(
    (notice) => {
      if (notice.kind === 'account_changed') return keys.dropAccount(notice.accountId);
      keys.dropKey(notice.keyId);
      deps.live.endKey(notice.accountId, notice.keyId, 'key_revoked');
    },
    () => keys.dropAll(),
  );
  keys.shareWith((notice) => notices.announce(notice));
  app.addHook('onClose', async () => {
    sub.disconnect();
    await pub.quit().catch(() => pub.disconnect());
  });
}
