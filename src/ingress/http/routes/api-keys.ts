import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiError } from '../../../errors.ts';
import type { LiveHub } from '../../../events/live.ts';
import { generateApiKey, type AccountsRepository, type ApiKeyRecord } from '../../../store/accounts.ts';
import type { AuditRepository } from '../../../store/audit.ts';
import type { ProjectsRepository } from '../../../store/projects.ts';
import { requireAuth, requireRole, type ApiKeyAuthenticator } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { ErrorSchema, IdParams } from '../schemas.ts';
import { audit } from './audit.ts';

const keyFields = {
  id: Type.String(),
  object: Type.Literal('api_key'),
  name: Type.String(),
  prefix: Type.String({ description: 'the first 12 characters, to tell keys apart' }),
  role: Type.Enum(['account', 'admin'], { description: '`account`: the account\'s data, as its owner; `admin`: also what the whole gateway shares (connectors, routes)' }),
  project_id: Type.Union([Type.String(), Type.Null()], { description: 'the project the key is bound to: its messages take the project\'s code as `project` and may name no other; null: any project' }),
  created_at: Type.String({ format: 'date-time' }),
  revoked_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
};
const ApiKeySchema = Type.Object(keyFields, { additionalProperties: false });
const CreatedApiKeySchema = Type.Object(
  { ...keyFields, key: Type.String({ description: 'the key itself; shown only in this answer, stored only as its hash' }) },
  {
    additionalProperties: false,
    examples: [
      {
        id: 'key_01KAT0KEY0000000000000000',
        object: 'api_key',
        name: 'CRM',
        prefix: 'dpk_Xb2C1t7o',
        role: 'account',
        project_id: 'prj_01KB2Z1T6S0R7Q4P3N2M1L0K9J',
        created_at: '2026-12-01T12:00:00.000Z',
        revoked_at: null,
        key: 'dpk_Xb2C1t7oJ0cV58X0bb9Q6y2oLq1pZ1kK',
      },
    ],
  },
);

const present = (k: ApiKeyRecord & { revokedAt: number | null }) => ({
  id: k.id,
  object: 'api_key' as const,
  name: k.name,
  prefix: k.prefix,
  role: k.role,
  project_id: k.projectId,
  created_at: new Date(k.createdAt).toISOString(),
  revoked_at: k.revokedAt === null ? null : new Date(k.revokedAt).toISOString(),
});

/** The account's API keys: made by its owner (the key shown once), listed, revoked. */
export function apiKeysRoutes(accounts: AccountsRepository, auditLog: AuditRepository, keys: ApiKeyAuthenticator, projects: ProjectsRepository, live: LiveHub): FastifyPluginAsyncTypebox {
  const security = [{ bearerAuth: [] }];
  return async (app) => {
    app.post(
      '/v1/api-keys',
      {
        schema: {
          summary: 'Create an API key',
          description: 'The answer carries the key once; it is stored only as its hash. Only an administrator makes `admin` keys. With `project_id` the key is bound to that project of the account.',
          tags: ['api-keys'],
          security,
          body: Type.Object(
            {
              name: Type.String({ minLength: 1, maxLength: 200, examples: ['CRM'] }),
              role: Type.Optional(Type.Enum(['account', 'admin'], { default: 'account' })),
              project_id: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()], { description: 'bind the key to this project (`GET /v1/projects`); absent or null: any project' })),
            },
            { additionalProperties: false },
          ),
          response: { 201: CreatedApiKeySchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 422: ErrorSchema },
        },
      },
      async (request, reply) => {
        const auth = requireRole(request, ['owner', 'administrator']);
        const role = request.body.role ?? 'account';
        if (role === 'admin' && auth.principal !== 'administrator') throw new ApiError('forbidden', 'only an administrator makes admin keys');
        const projectId = request.body.project_id ?? null;
        if (projectId !== null && !(await projects.get(auth.account.id, projectId))) throw new ApiError('unknown_project', `no project ${projectId} in this account`, [{ field: 'project_id', issue: 'names no project' }]);
        // A key of one project cannot make keys of another, nor unbound ones.
        if (auth.projectId !== undefined && projectId !== auth.projectId) throw new ApiError('project_not_allowed', `this API key is bound to project ${auth.projectId}; the keys it makes are bound to it too`, [{ field: 'project_id', issue: `must be ${auth.projectId}` }]);
        const plain = generateApiKey();
        const record = await accounts.createApiKey(auth.account.id, request.body.name, plain, { role, projectId });
        await audit(auditLog, request, auth, 'api_key.create', record.id, { name: record.name, role, ...(projectId !== null ? { project_id: projectId } : {}) });
        return reply.code(201).send({ ...present({ ...record, revokedAt: null }), key: plain });
      },
    );

    app.get(
      '/v1/api-keys',
      {
        schema: {
          summary: 'API keys',
          description: 'The account\'s keys, live and revoked, newest first; `project_id` keeps the keys bound to that project. The keys themselves are never shown again.',
          tags: ['api-keys'],
          security,
          querystring: Type.Object(
            { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })), cursor: Type.Optional(Type.String()), project_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ data: Type.Array(ApiKeySchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), 401: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const limit = request.query.limit ?? 50;
        const rows = await accounts.listApiKeys(auth.account.id, limit + 1, request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, 'key'), request.query.project_id);
        const page = rows.slice(0, limit);
        return { data: page.map(present), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );

    app.delete(
      '/v1/api-keys/:id',
      {
        schema: {
          summary: 'Revoke an API key',
          description: 'Requests with it fail from now on (401); its open event streams end with `event: dropped`, reason `key_revoked` (at once on this node; on the other API nodes of a cluster by the time this answers, or, with Redis away, requests within 30 s and streams within 5 s).',
          tags: ['api-keys'],
          security,
          params: IdParams,
          response: { 204: Type.Null(), 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request, reply) => {
        const auth = requireRole(request, ['owner', 'administrator']);
        if (!(await accounts.revokeApiKey(auth.account.id, request.params.id))) throw new ApiError('not_found', `no live API key ${request.params.id}`);
        live.endKey(auth.account.id, request.params.id, 'key_revoked');
        // Dropped from this node's cache, and (in a cluster) from the other API nodes' before the answer; they end its streams too.
        await keys.forgetKey(auth.account.id, request.params.id);
        await audit(auditLog, request, auth, 'api_key.revoke', request.params.id);
        return reply.code(204).send(null);
      },
    );
  };
}
