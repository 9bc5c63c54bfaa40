import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { parseRange } from '../../../domain/ip-ranges.ts';
import { ApiError } from '../../../errors.ts';
import { CompatRepository } from '../../../store/compat-requests.ts';
import { requireAdmin } from '../auth.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema } from '../schemas.ts';

const EntrySchema = Type.Object(
  { id: Type.String(), object: Type.Literal('compat_ip_range'), account_id: Type.String(), range: Type.String(), created_at: Type.String({ format: 'date-time' }) },
  { additionalProperties: false, examples: [{ id: 'cip_01KB2ZC1B2C3D4E5F6G7H8J9K0', object: 'compat_ip_range', account_id: 'acc_01KB2Z0A1B2C3D4E5F6G7H8J9K', range: '10.20.0.0/16', created_at: '2026-12-01T10:00:00.000Z' }] },
);
const present = (e: { id: string; account_id: string; range: string; created_at: number }) => ({ id: e.id, object: 'compat_ip_range' as const, account_id: e.account_id, range: e.range, created_at: new Date(e.created_at).toISOString() });
const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema };

/** The addresses an administrator opens the compatibility APIs to without a key, each for one account (G3). */
export function compatAllowlistRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const repo = new CompatRepository(deps.database.db);
  return async (app) => {
    app.get('/v1/compat/ip-ranges', { schema: { summary: 'List keyless compat ranges', description: 'Needs an administrator API key.', tags: ['compatibility'], security, response: { 200: Type.Object({ data: Type.Array(EntrySchema), next_cursor: Type.Null() }), ...errors } } }, async (request) => {
      requireAdmin(request);
      return { data: (await repo.allowlist()).map(present), next_cursor: null };
    });

    app.post(
      '/v1/compat/ip-ranges',
      {
        schema: {
          summary: 'Open the compat APIs to a range',
          description: 'Requests from this address or CIDR range to `/api/v1`, `/project/…`, `/client/…` and `/mailing/…` without an API key act for `account_id`. Needs an administrator API key.',
          tags: ['compatibility'],
          security,
          body: Type.Object({ account_id: Type.String({ minLength: 1, maxLength: 64 }), range: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false, examples: [{ account_id: 'acc_01KB2Z0A1B2C3D4E5F6G7H8J9K', range: '10.20.0.0/16' }] }),
          response: { 201: EntrySchema, 409: ErrorSchema, ...errors },
        },
      },
      async (request, reply) => {
        requireAdmin(request);
        const { account_id: accountId, range } = request.body;
        if (!parseRange(range)) throw new ApiError('invalid_ip_range', `${range} is not an IP address or CIDR range`, [{ field: 'range', issue: 'not an IP address or CIDR range' }]);
        if (!(await deps.accounts.getAccount(accountId))) throw new ApiError('unknown_account', `no account ${accountId}`, [{ field: 'account_id', issue: 'names no account' }]);
        const existing = (await repo.allowlist()).find((e) => e.range === range.trim());
        if (existing) throw new ApiError('ip_range_taken', `${range} is opened already (${existing.id}); close it first`, [{ field: 'range', issue: 'opened already' }]);
        return reply.code(201).send(present(await repo.allow(accountId, range.trim())));
      },
    );

    app.delete('/v1/compat/ip-ranges/:id', { schema: { summary: 'Close a keyless compat range', tags: ['compatibility'], security, params: Type.Object({ id: Type.String({ maxLength: 64 }) }), response: { 204: Type.Null(), ...errors } } }, async (request, reply) => {
      requireAdmin(request);
      if (!(await repo.disallow(request.params.id))) throw new ApiError('not_found', `no range ${request.params.id}`);
      return reply.code(204).send(null);
    });
  };
}
