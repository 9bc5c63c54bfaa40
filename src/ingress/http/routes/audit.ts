import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { AuditEntry, AuditRepository, AuditRow } from '../../../store/audit.ts';
import { requireRole, type AuthContext } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { ErrorSchema } from '../schemas.ts';

const AuditEntrySchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('audit_entry'),
    account_id: Type.Union([Type.String(), Type.Null()], { description: 'null for platform-wide changes' }),
    actor: Type.Object({ type: Type.Enum(['user', 'api_key', 'anonymous']), id: Type.Union([Type.String(), Type.Null()]), label: Type.String({ description: 'email or key prefix' }) }),
    action: Type.String({ description: '`session.sign_in`, `api_key.create`, … or the method and route of the change (`POST /v1/webhooks`)' }),
    target_id: Type.Union([Type.String(), Type.Null()]),
    outcome: Type.Enum(['succeeded', 'failed']),
    details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
    ip: Type.Union([Type.String(), Type.Null()]),
    created_at: Type.String({ format: 'date-time' }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        id: 'aud_01KAT0AUDIT000000000000000',
        object: 'audit_entry',
        account_id: 'acc_01KAT0DEMO00000000000000000',
        actor: { type: 'user', id: 'usr_01KAT0USER000000000000000', label: 'owner@example.com' },
        action: 'api_key.revoke',
        target_id: 'key_01KAT0KEY0000000000000000',
        outcome: 'succeeded',
        details: null,
        ip: '192.0.2.10',
        created_at: '2026-12-01T12:00:00.000Z',
      },
    ],
  },
);

const present = (r: AuditRow) => ({
  id: r.id,
  object: 'audit_entry' as const,
  account_id: r.account_id,
  actor: { type: r.actor_type as 'user' | 'api_key' | 'anonymous', id: r.actor_id, label: r.actor_label },
  action: r.action,
  target_id: r.target_id,
  outcome: r.outcome as 'succeeded' | 'failed',
  details: r.details === null ? null : (JSON.parse(r.details) as Record<string, unknown>),
  ip: r.ip,
  created_at: new Date(r.created_at).toISOString(),
});

/** Who did it, as the audit log names them. */
export function auditActor(auth: AuthContext): Pick<AuditEntry, 'actorType' | 'actorId' | 'actorLabel'> {
  return auth.session
    ? { actorType: 'user', actorId: auth.session.userId, actorLabel: auth.session.email }
    : { actorType: 'api_key', actorId: auth.keyId, actorLabel: auth.keyId };
}

/** Writes an entry for what the caller just did in its account. */
export function audit(repo: AuditRepository, request: FastifyRequest, auth: AuthContext, action: string, targetId: string | null, details?: Record<string, unknown>): Promise<void> {
  return repo.record({ accountId: auth.account.id, ...auditActor(auth), action, targetId, outcome: 'succeeded', ip: request.ip, ...(details ? { details } : {}) });
}

// Sending and cancelling messages is traffic, not administration; these routes write their own entries.
const NOT_AUDITED = new Set(['POST /v1/messages', 'POST /v1/messages/bulk', 'POST /v1/messages/:id/cancel', 'POST /v1/sms/segments', 'POST /v1/sessions', 'DELETE /v1/session', 'POST /v1/session/password', 'PATCH /v1/session', 'POST /v1/api-keys', 'DELETE /v1/api-keys/:id', 'POST /v1/users', 'PATCH /v1/users/:id', 'POST /v1/users/:id/reset-password']);
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Every change under /v1 (webhooks, connectors, routes, numbers, settings …)
 * is written to the audit log when it succeeds or is refused, whoever's code
 * serves it: one hook, so a new endpoint cannot forget. The entry names the
 * method and route and the object's id (from the path, or the created object).
 */
export function auditTrail(app: FastifyInstance, repo: AuditRepository): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const auth = request.auth;
    const route = request.routeOptions.url;
    if (!auth || !UNSAFE.has(request.method) || route === undefined || !route.startsWith('/v1/')) return payload;
    const action = `${request.method} ${route}`;
    if (NOT_AUDITED.has(action)) return payload;
    const status = reply.statusCode;
    if (status >= 400 && status !== 403) return payload;
    const params = request.params as Record<string, string> | undefined;
    let targetId = params?.id ?? params?.number ?? params?.name ?? null;
    if (targetId === null && typeof payload === 'string' && payload.startsWith('{')) {
      const id = (JSON.parse(payload) as { id?: unknown }).id;
      if (typeof id === 'string') targetId = id;
    }
    // A switch (connector, route, webhook) says which way it went.
    const enabled = (request.body as { enabled?: unknown } | undefined)?.enabled;
    const details = typeof enabled === 'boolean' ? { status, enabled } : { status };
    await repo.record({ accountId: auth.account.id, ...auditActor(auth), action, targetId, outcome: status < 400 ? 'succeeded' : 'failed', details, ip: request.ip });
    return payload;
  });
}

/** GET /v1/audit-log: the account's owner reads its entries; platform administrators and staff read all, or one account's. */
export function auditRoutes(repo: AuditRepository): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/audit-log',
      {
        schema: {
          summary: 'Audit log',
          description: 'Administrative changes (API keys, webhooks, connectors, routes, users, settings) and sign-ins, newest first. Owners see their account; platform administrators and staff see every account unless `account_id` narrows it.',
          tags: ['audit'],
          security: [{ bearerAuth: [] }],
          querystring: Type.Object(
            { account_id: Type.Optional(Type.String()), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })), cursor: Type.Optional(Type.String()) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ data: Type.Array(AuditEntrySchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), 401: ErrorSchema, 403: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireRole(request, ['owner', 'administrator', 'staff']);
        const q = request.query;
        const accountId = auth.principal === 'owner' ? auth.account.id : q.account_id;
        const limit = q.limit ?? 50;
        const rows = await repo.list(accountId, limit + 1, q.cursor === undefined ? undefined : decodeCursor(q.cursor, 'aud'));
        const page = rows.slice(0, limit);
        return { data: page.map(present), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );
  };
}
