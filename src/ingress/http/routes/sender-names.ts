import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiError } from '../../../errors.ts';
import type { SenderRegistryCache } from '../../../pipeline/policy.ts';
import { ANY_OPERATOR, SENDER_NAME_STATUSES, SenderNameExistsError, SenderNamesRepository, type SenderName } from '../../../store/sender-names.ts';
import { requireAdmin, requireAuth } from '../auth.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema } from '../schemas.ts';

const Operator = Type.String({ pattern: '^([a-z0-9_]{1,64}|\\*)$', description: 'an operator code (docs/mno.md), or "*" for every operator not listed' });

const SenderNameSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('sender_name'),
    name: Type.String(),
    operators: Type.Array(
      Type.Object(
        {
          operator: Type.String(),
          status: Type.Enum(['pending', 'approved', 'rejected']),
          reason: Type.Union([Type.String(), Type.Null()], { description: 'why it was rejected' }),
          updated_at: Type.String({ format: 'date-time' }),
        },
        { additionalProperties: false },
      ),
    ),
    created_at: Type.String({ format: 'date-time' }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        id: 'snd_01KAT3Y9J8Q3S9R5V2W7X4Z6B1',
        object: 'sender_name',
        name: 'Shop',
        operators: [
          { operator: 'megafon', status: 'pending', reason: null, updated_at: '2026-12-01T10:00:00.000Z' },
          { operator: 'mts', status: 'approved', reason: null, updated_at: '2026-12-02T09:30:00.000Z' },
        ],
        created_at: '2026-12-01T10:00:00.000Z',
      },
    ],
  },
);

const present = (n: SenderName) => ({
  id: n.id,
  object: 'sender_name' as const,
  name: n.name,
  operators: n.operators.map((o) => ({ operator: o.operator, status: o.status, reason: o.reason, updated_at: new Date(o.updatedAt).toISOString() })),
  created_at: new Date(n.createdAt).toISOString(),
});

const security = [{ bearerAuth: [] }];

/**
 * The registry of an account's sender names and their status per operator.
 * Creating one is not keyed by Idempotency-Key: the name is a natural key (a
 * repeated create answers 409).
 */
export function senderNamesRoutes(deps: HttpDeps, registries: SenderRegistryCache): FastifyPluginAsyncTypebox {
  const repo = new SenderNamesRepository(deps.database.db);
  return async (app) => {
    app.post(
      '/v1/sender-names',
      {
        schema: {
          summary: 'Register a sender name',
          description:
            'Asks for a sender name (the `from` of messages) to be registered with operators: pending for each operator given (default `*`, every operator) ' +
            'until the platform records their answer. With `require_registered_senders` on the account, only approved names may be used.',
          tags: ['sender names'],
          security,
          body: Type.Object(
            {
              name: Type.String({ pattern: '^([A-Za-z0-9 .\\-_&!\'"+]{1,11}|\\+?[0-9]{1,15})$', description: '1–11 Latin letters, digits and spaces, or a number of up to 15 digits' }),
              operators: Type.Optional(Type.Array(Operator, { minItems: 1, maxItems: 100, uniqueItems: true, default: ['*'] })),
            },
            { additionalProperties: false },
          ),
          response: { 201: SenderNameSchema, 400: ErrorSchema, 401: ErrorSchema, 409: ErrorSchema },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        try {
          const created = await repo.create(auth.account.id, request.body.name, request.body.operators ?? [ANY_OPERATOR]);
          registries.forget(auth.account.id);
          return reply.code(201).send(present(created));
        } catch (err) {
          if (err instanceof SenderNameExistsError) throw new ApiError('sender_name_exists', err.message, [{ field: 'name', issue: 'registered already' }]);
          throw err;
        }
      },
    );

    app.get(
      '/v1/sender-names',
      {
        schema: {
          summary: 'List sender names',
          description: 'Your sender names, newest first. An administrator key may name another account with `account_id`.',
          tags: ['sender names'],
          security,
          querystring: Type.Object({ account_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ data: Type.Array(SenderNameSchema), next_cursor: Type.Null() }), 401: ErrorSchema, 403: ErrorSchema },
        },
      },
      async (request) => {
        const auth = request.query.account_id === undefined ? requireAuth(request) : requireAdmin(request);
        return { data: (await repo.list(request.query.account_id ?? auth.account.id)).map(present), next_cursor: null };
      },
    );

    app.get(
      '/v1/sender-names/:id',
      { schema: { summary: 'Get a sender name', tags: ['sender names'], security, params: Type.Object({ id: Type.String() }), response: { 200: SenderNameSchema, 401: ErrorSchema, 404: ErrorSchema } } },
      async (request) => {
        const auth = requireAuth(request);
        const found = await repo.get(auth.account.id, request.params.id);
        if (!found) throw new ApiError('not_found', `no sender name ${request.params.id}`);
        return present(found);
      },
    );

    app.delete(
      '/v1/sender-names/:id',
      {
        schema: {
          summary: 'Remove a sender name',
          description: 'Messages with it are refused from then on when the account requires registered senders.',
          tags: ['sender names'],
          security,
          params: Type.Object({ id: Type.String() }),
          response: { 204: Type.Null(), 401: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        if (!(await repo.delete(auth.account.id, request.params.id))) throw new ApiError('not_found', `no sender name ${request.params.id}`);
        registries.forget(auth.account.id);
        return reply.code(204).send(null);
      },
    );

    app.put(
      '/v1/sender-names/:id/operators/:operator',
      {
        schema: {
          summary: 'Record an operator\'s answer',
          description: 'Sets a sender name\'s status with one operator (or `*`): what the operator or aggregator answered to its registration. Needs an administrator API key.',
          tags: ['sender names'],
          security,
          params: Type.Object({ id: Type.String(), operator: Operator }),
          body: Type.Object(
            { status: Type.Enum([...SENDER_NAME_STATUSES]), reason: Type.Optional(Type.Union([Type.String({ maxLength: 500 }), Type.Null()])) },
            { additionalProperties: false },
          ),
          response: { 200: SenderNameSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request) => {
        requireAdmin(request);
        const { id, operator } = request.params;
        const accountId = await repo.setStatus(id, operator, request.body.status, request.body.reason ?? null);
        if (!accountId) throw new ApiError('not_found', `no sender name ${id}`);
        registries.forget(accountId);
        return present((await repo.get(accountId, id))!);
      },
    );
  };
}
