import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { parseRange } from '../../../domain/ip-ranges.ts';
import { ApiError } from '../../../errors.ts';
import { SmppCredentialsRepository, SystemIdTakenError, type SmppCredentialRow } from '../../../store/smpp-credentials.ts';
import { requireAuth } from '../auth.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema } from '../schemas.ts';

const CredentialSchema = Type.Object(
  {
    id: Type.String(),
    system_id: Type.String(),
    allowed_ips: Type.Array(Type.String(), { description: 'CIDR ranges or addresses a bind may come from; empty: any' }),
    max_binds: Type.Integer(),
    max_submits_per_second: Type.Integer(),
    receipt_hold_seconds: Type.Integer(),
    created_at: Type.String({ format: 'date-time' }),
  },
  {
    additionalProperties: false,
    examples: [{ id: 'smc_01KAT3Y9J8Q3S9R5V2W7X4Z6B1', system_id: 'shop42', allowed_ips: ['203.0.113.0/24'], max_binds: 4, max_submits_per_second: 100, receipt_hold_seconds: 259200, created_at: '2026-11-23T15:00:00.000Z' }],
  },
);

const CreateCredentialSchema = Type.Object(
  {
    system_id: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,15}$', description: 'the login of the bind: 1–15 letters, digits, "_", "." or "-"; unique across the gateway' }),
    password: Type.String({ minLength: 6, maxLength: 8, description: 'SMPP 3.4 allows at most 8 characters; stored hashed, never shown again' }),
    allowed_ips: Type.Optional(Type.Array(Type.String(), { maxItems: 100, description: 'CIDR ranges or addresses; empty or missing: any address' })),
    max_binds: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 4 })),
    max_submits_per_second: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 100, description: 'above it submit_sm gets 0x58 (throttled)' })),
    receipt_hold_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 2592000, default: 259200, description: 'how long receipts wait for a receiver or transceiver bind' })),
  },
  { additionalProperties: false },
);

const present = (r: SmppCredentialRow) => ({
  id: r.id,
  system_id: r.system_id,
  allowed_ips: JSON.parse(r.allowed_ips) as string[],
  max_binds: r.max_binds,
  max_submits_per_second: r.max_submits_per_second,
  receipt_hold_seconds: r.receipt_hold_seconds,
  created_at: new Date(r.created_at).toISOString(),
});

const security = [{ bearerAuth: [] }];

/**
 * An account's SMPP logins. Creating one is not keyed by Idempotency-Key:
 * the body holds the password, and the system_id is a natural key already
 * (a repeated create answers 409).
 */
export function smppCredentialsRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const repo = new SmppCredentialsRepository(deps.database.db);
  return async (app) => {
    app.post(
      '/v1/smpp/credentials',
      {
        schema: {
          summary: 'Create SMPP credentials',
          description: 'A login for the SMPP server (port 2775). The password is stored hashed and never returned. A repeated create with the same `system_id` answers 409.',
          tags: ['smpp'],
          security,
          body: CreateCredentialSchema,
          response: { 201: CredentialSchema, 400: ErrorSchema, 401: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const b = request.body;
        const allowedIps = b.allowed_ips ?? [];
        const bad = allowedIps.map((ip, i) => ({ ip, i })).filter(({ ip }) => parseRange(ip) === undefined);
        if (bad.length > 0) {
          throw new ApiError(
            'invalid_ip_range',
            `allowed_ips must hold CIDR ranges or addresses, like 203.0.113.0/24 or 2001:db8::1`,
            bad.map(({ ip, i }) => ({ field: `allowed_ips[${i}]`, issue: `"${ip}" is not an address or CIDR range` })),
          );
        }
        try {
          const row = await repo.create(auth.account.id, {
            systemId: b.system_id,
            password: b.password,
            allowedIps,
            maxBinds: b.max_binds ?? 4,
            maxSubmitsPerSecond: b.max_submits_per_second ?? 100,
            receiptHoldSeconds: b.receipt_hold_seconds ?? 259200,
          });
          return reply.code(201).send(present(row));
        } catch (err) {
          if (err instanceof SystemIdTakenError) throw new ApiError('smpp_system_id_taken', `system_id ${b.system_id} is taken; choose another`, [{ field: 'system_id', issue: 'taken' }]);
          throw err;
        }
      },
    );

    app.get(
      '/v1/smpp/credentials',
      {
        schema: {
          summary: 'List SMPP credentials',
          tags: ['smpp'],
          security,
          response: { 200: Type.Object({ data: Type.Array(CredentialSchema), next_cursor: Type.Null() }), 401: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        return { data: (await repo.list(auth.account.id)).map(present), next_cursor: null };
      },
    );

    app.get(
      '/v1/smpp/credentials/:id',
      {
        schema: { summary: 'Get SMPP credentials', tags: ['smpp'], security, params: Type.Object({ id: Type.String() }), response: { 200: CredentialSchema, 401: ErrorSchema, 404: ErrorSchema } },
      },
      async (request) => {
        const auth = requireAuth(request);
        const row = await repo.get(auth.account.id, request.params.id);
        if (!row) throw new ApiError('not_found', `no SMPP credentials ${request.params.id}`);
        return present(row);
      },
    );

    app.delete(
      '/v1/smpp/credentials/:id',
      {
        schema: {
          summary: 'Revoke SMPP credentials',
          description: 'The credentials stop working at once for new binds; binds made with them are closed within 5 s.',
          tags: ['smpp'],
          security,
          params: Type.Object({ id: Type.String() }),
          response: { 204: Type.Null(), 401: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        if (!(await repo.revoke(auth.account.id, request.params.id))) throw new ApiError('not_found', `no SMPP credentials ${request.params.id}`);
        return reply.code(204).send(null);
      },
    );
  };
}
