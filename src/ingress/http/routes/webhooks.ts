import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiError } from '../../../errors.ts';
import { generateSecret, isValidSecret } from '../../../events/webhooks/signing.ts';
import { WEBHOOK_EVENT_TYPES } from '../../../events/webhooks/subscriptions.ts';
import { webhookUrlProblem } from '../../../events/webhooks/url.ts';
import { SecretBox } from '../../../store/secrets.ts';
import { WebhooksRepository, type AttemptRow, type WebhookRow } from '../../../store/webhooks.ts';
import { requireAuth } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema, IdParams } from '../schemas.ts';

const Timestamp = Type.String({ format: 'date-time' });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
const EventTypes = Type.Array(Type.Enum([...WEBHOOK_EVENT_TYPES]), { minItems: 1, uniqueItems: true, description: 'the events to receive' });
const Url = Type.String({ minLength: 1, maxLength: 2048, description: 'http or https URL that receives the events', examples: ['https://example.com/hooks/depesha'] });

const webhookFields = {
  id: Type.String({ examples: ['whk_01KAT0WEBHOOK000000000000'] }),
  object: Type.Literal('webhook'),
  url: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  event_types: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  disabled_reason: Type.Union([Type.String(), Type.Null()], { description: 'why the gateway disabled it (after failing for the whole retry window); null otherwise' }),
  disabled_at: NullableTimestamp,
  failing_since: Type.Union([Timestamp, Type.Null()], { description: 'since when every delivery has failed; null while it works' }),
  created_at: Timestamp,
  updated_at: Timestamp,
};
const WebhookSchema = Type.Object({ ...webhookFields, pending_deliveries: Type.Optional(Type.Integer({ description: 'deliveries waiting to be sent (single reads only)' })) }, { additionalProperties: false });
const CreatedWebhookSchema = Type.Object(
  { ...webhookFields, secret: Type.String({ description: 'the signing secret (`whsec_…`); shown only in this answer' }) },
  {
    additionalProperties: false,
    examples: [
      {
        id: 'whk_01KAT0WEBHOOK000000000000',
        object: 'webhook',
        url: 'https://example.com/hooks/depesha',
        description: 'CRM',
        event_types: ['message.delivered', 'message.undelivered'],
        enabled: true,
        disabled_reason: null,
        disabled_at: null,
        failing_since: null,
        created_at: '2026-12-01T12:00:00.000Z',
        updated_at: '2026-12-01T12:00:00.000Z',
        secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      },
    ],
  },
);
const AttemptSchema = Type.Object(
  {
    id: Type.String(),
    delivery_id: Type.String(),
    event_id: Type.String({ description: 'the `webhook-id` header and the envelope id' }),
    event_type: Type.String(),
    url: Type.String(),
    status: Type.Enum(['succeeded', 'failed']),
    status_code: Type.Union([Type.Integer(), Type.Null()], { description: 'HTTP status of the answer; null when there was none' }),
    latency_ms: Type.Integer(),
    response_excerpt: Type.Union([Type.String(), Type.Null()], { description: 'the first 1 KB of the answer' }),
    error: Type.Union([Type.String(), Type.Null()]),
    next_attempt_at: Type.Union([Timestamp, Type.Null()], { description: 'when it is tried again, after a failure' }),
    attempted_at: Timestamp,
  },
  { additionalProperties: false },
);

const GivenUpCallbackSchema = Type.Object(
  {
    id: Type.String({ description: 'the delivery (`whd_…`)' }),
    message_id: Type.String({ description: 'the message whose `callback_url` it was for' }),
    url: Type.String({ description: "the message's `callback_url`" }),
    event_id: Type.String({ description: 'the `webhook-id` header and the envelope id' }),
    event_type: Type.String(),
    status: Type.Literal('failed'),
    attempts: Type.Integer(),
    created_at: Timestamp,
  },
  {
    additionalProperties: false,
    examples: [
      {
        id: 'whd_01KAT1B6Y8W7S5M2K9D4F3Q0ZR',
        message_id: 'msg_01KAT1B6Y8W7S5M2K9D4F3Q0ZA',
        url: 'https://example.com/orders/4711/sms',
        event_id: 'evt_01KAT1B6Y8W7S5M2K9D4F3Q0ZB',
        event_type: 'message.delivered',
        status: 'failed',
        attempts: 2903,
        created_at: '2026-12-01T12:00:00.000Z',
      },
    ],
  },
);

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const present = (r: WebhookRow) => ({
  id: r.id,
  object: 'webhook' as const,
  url: r.url,
  description: r.description,
  event_types: JSON.parse(r.event_types) as string[],
  enabled: r.enabled === 1,
  disabled_reason: r.disabled_reason,
  disabled_at: iso(r.disabled_at),
  failing_since: iso(r.failing_since),
  created_at: new Date(r.created_at).toISOString(),
  updated_at: new Date(r.updated_at).toISOString(),
});
const presentAttempt = (a: AttemptRow) => ({
  id: a.id,
  delivery_id: a.delivery_id,
  event_id: a.event_id,
  event_type: a.event_type,
  url: a.url,
  status: a.succeeded === 1 ? ('succeeded' as const) : ('failed' as const),
  status_code: a.status_code,
  latency_ms: a.latency_ms,
  response_excerpt: a.response_excerpt,
  error: a.error,
  next_attempt_at: iso(a.next_attempt_at),
  attempted_at: new Date(a.attempted_at).toISOString(),
});

function checkUrl(url: string, allowPrivateAddresses: boolean): void {
  const issue = webhookUrlProblem(url, allowPrivateAddresses);
  if (issue) throw new ApiError('invalid_webhook_url', `url ${issue}`, [{ field: 'url', issue }]);
}

const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema };

/**
 * An account's webhook subscriptions, their delivery log and replay. Each
 * change is in use before the answer: the delivery thread reloads the
 * subscriptions first. Creating is not keyed by Idempotency-Key: the answer
 * carries the secret, which is never stored in the clear.
 */
export function webhooksRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const repo = new WebhooksRepository(deps.database.db, SecretBox.fromConfig(deps.config.secretKey, deps.config.dataDir));
  const find = async (accountId: string, id: string) => {
    const row = await repo.get(accountId, id);
    if (!row) throw new ApiError('not_found', `no webhook ${id} in this account`);
    return row;
  };
  return async (app) => {
    app.post(
      '/v1/webhooks',
      {
        schema: {
          summary: 'Subscribe to events',
          description:
            'Events of the chosen types are POSTed to `url`, signed in the Standard Webhooks format; failed deliveries are retried with back-off for 3 days, in order per message. ' +
            'The answer holds the signing `secret` once; it is never shown again. Give your own `secret` (`whsec_…`) or let the gateway make one. See docs/webhooks.md.',
          tags: ['webhooks'],
          security,
          body: Type.Object(
            {
              url: Url,
              event_types: EventTypes,
              description: Type.Optional(Type.String({ maxLength: 256 })),
              secret: Type.Optional(Type.String({ maxLength: 200, description: '`whsec_` and the base64 of 24–64 random bytes; made for you when absent' })),
            },
            { additionalProperties: false },
          ),
          response: { 201: CreatedWebhookSchema, ...errors },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const body = request.body;
        checkUrl(body.url, deps.config.webhooks.allowPrivateAddresses);
        if (body.secret !== undefined && !isValidSecret(body.secret)) {
          throw new ApiError('invalid_webhook_secret', 'secret must be "whsec_" and the base64 of 24–64 bytes', [{ field: 'secret', issue: 'not a whsec_ secret' }]);
        }
        const secret = body.secret ?? generateSecret();
        const row = await repo.create(auth.account.id, { url: body.url, eventTypes: body.event_types, description: body.description ?? null, secret });
        await deps.delivery.reload();
        return reply.code(201).send({ ...present(row), secret });
      },
    );

    app.get(
      '/v1/webhooks',
      {
        schema: {
          summary: 'Webhook subscriptions',
          description: 'Newest first. Secrets are not shown.',
          tags: ['webhooks'],
          security,
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })), cursor: Type.Optional(Type.String()) }, { additionalProperties: false }),
          response: { 200: Type.Object({ data: Type.Array(WebhookSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), 400: ErrorSchema, 401: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const limit = request.query.limit ?? 50;
        const beforeId = request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, 'whk');
        const rows = await repo.list(auth.account.id, { beforeId, limit: limit + 1 });
        const page = rows.slice(0, limit);
        return { data: page.map(present), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );

    app.get(
      '/v1/webhooks/callback-secret',
      {
        schema: {
          summary: 'The secret of callback_url deliveries',
          description: "Deliveries to a message's `callback_url` are signed with this account-wide secret (made on first use), in the same format as subscriptions.",
          tags: ['webhooks'],
          security,
          response: { 200: Type.Object({ secret: Type.String({ examples: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] }) }, { additionalProperties: false }), 401: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        return { secret: await repo.callbackSecret(auth.account.id, generateSecret) };
      },
    );

    app.get(
      '/v1/webhooks/callback-deliveries',
      {
        schema: {
          summary: 'Given-up callback_url deliveries',
          description:
            "The account's deliveries to messages' `callback_url` that were given up (after failing for the whole retry window, or refused by the address rule), newest first. " +
            'Their attempts are in no subscription\'s log; one message\'s are also in GET /v1/messages/{id}/webhooks. Kept for `webhooks.retention_days`.',
          tags: ['webhooks'],
          security,
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })), cursor: Type.Optional(Type.String()) }, { additionalProperties: false }),
          response: { 200: Type.Object({ data: Type.Array(GivenUpCallbackSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), 400: ErrorSchema, 401: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const limit = request.query.limit ?? 50;
        const beforeId = request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, 'whd');
        const rows = await repo.givenUpCallbacks(auth.account.id, { beforeId, limit: limit + 1 });
        const page = rows.slice(0, limit);
        return {
          data: page.map((d) => ({ ...d, status: 'failed' as const, created_at: new Date(d.created_at).toISOString() })),
          next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null,
        };
      },
    );

    app.get(
      '/v1/webhooks/:id',
      { schema: { summary: 'Get a webhook subscription', tags: ['webhooks'], security, params: IdParams, response: { 200: WebhookSchema, ...errors } } },
      async (request) => {
        const auth = requireAuth(request);
        const row = await find(auth.account.id, request.params.id);
        return { ...present(row), pending_deliveries: await repo.pendingCount(auth.account.id, row.id) };
      },
    );

    app.patch(
      '/v1/webhooks/:id',
      {
        schema: {
          summary: 'Change a webhook subscription',
          description: 'Pending deliveries go to the new `url`. `enabled: false` stops deliveries (they wait); `enabled: true` works as POST …/enable.',
          tags: ['webhooks'],
          security,
          params: IdParams,
          body: Type.Object(
            { url: Type.Optional(Url), event_types: Type.Optional(EventTypes), description: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Null()])), enabled: Type.Optional(Type.Boolean()) },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: { 200: WebhookSchema, ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const body = request.body;
        if (body.url !== undefined) checkUrl(body.url, deps.config.webhooks.allowPrivateAddresses);
        const row = await repo.update(auth.account.id, request.params.id, { url: body.url, eventTypes: body.event_types, description: body.description, enabled: body.enabled });
        if (!row) throw new ApiError('not_found', `no webhook ${request.params.id} in this account`);
        await deps.delivery.reload();
        return present(row);
      },
    );

    app.delete(
      '/v1/webhooks/:id',
      {
        schema: { summary: 'Delete a webhook subscription', description: 'Its pending deliveries and its log go with it.', tags: ['webhooks'], security, params: IdParams, response: { 204: Type.Null(), 401: ErrorSchema, 404: ErrorSchema } },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        if (!(await repo.delete(auth.account.id, request.params.id))) throw new ApiError('not_found', `no webhook ${request.params.id} in this account`);
        await deps.delivery.reload();
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/v1/webhooks/:id/enable',
      {
        schema: {
          summary: 'Enable a webhook subscription again',
          description: 'After it was disabled (by you, or by the gateway after failing for the whole retry window): its failure record is cleared and the deliveries that waited are sent at once, in order.',
          tags: ['webhooks'],
          security,
          params: IdParams,
          response: { 200: WebhookSchema, ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const row = await repo.enable(auth.account.id, request.params.id);
        if (!row) throw new ApiError('not_found', `no webhook ${request.params.id} in this account`);
        await deps.delivery.reload();
        return present(row);
      },
    );

    app.post(
      '/v1/webhooks/:id/replay',
      {
        schema: {
          summary: 'Send events again',
          description:
            'Sends one event (`event_id`) or every event of a period (`since`/`until`, inclusive) to this subscription again, delivered or not, with the same `webhook-id`. ' +
            'Only events the subscription received deliveries for can be replayed.',
          tags: ['webhooks'],
          security,
          params: IdParams,
          body: Type.Union([
            Type.Object({ event_id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
            Type.Object({ since: Timestamp, until: Timestamp }, { additionalProperties: false }),
          ]),
          response: { 202: Type.Object({ replayed: Type.Integer({ description: 'deliveries queued again' }) }, { additionalProperties: false }), ...errors },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const row = await find(auth.account.id, request.params.id);
        const body = request.body;
        let replayed: number;
        if ('event_id' in body) {
          replayed = await repo.replay(auth.account.id, row.id, { eventId: body.event_id });
          if (replayed === 0) throw new ApiError('replay_nothing_found', `webhook ${row.id} had no delivery of event ${body.event_id}`, [{ field: 'event_id', issue: 'no delivery of this event' }]);
        } else {
          const since = Date.parse(body.since);
          const until = Date.parse(body.until);
          if (since > until) throw new ApiError('invalid_period', '`since` is after `until`', [{ field: 'since', issue: 'after until' }]);
          replayed = await repo.replay(auth.account.id, row.id, { since, until });
        }
        await deps.delivery.reload();
        return reply.code(202).send({ replayed });
      },
    );

    app.get(
      '/v1/messages/:id/webhooks',
      {
        schema: {
          summary: "A message's webhooks",
          description:
            "The webhook deliveries of this message's events, oldest first: to the account's subscriptions (pending, delivered or failed), and to the message's `callback_url` while pending or once given up (failed). " +
            'For the attempts of one, see GET /v1/webhooks/{id}/deliveries.',
          tags: ['webhooks'],
          security,
          params: IdParams,
          response: {
            200: Type.Object({
              data: Type.Array(
                Type.Object(
                  {
                    id: Type.String(),
                    webhook_id: Type.Union([Type.String(), Type.Null()], { description: 'null: to the message\'s callback_url' }),
                    url: Type.String(),
                    event_id: Type.String(),
                    event_type: Type.String(),
                    status: Type.Enum(['pending', 'delivered', 'failed']),
                    attempts: Type.Integer(),
                    created_at: Type.String({ format: 'date-time' }),
                    delivered_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
                  },
                  { additionalProperties: false },
                ),
              ),
            }),
            ...errors,
          },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        if (!(await deps.messages.get(auth.account.id, request.params.id))) throw new ApiError('not_found', `no message ${request.params.id}`);
        const rows = await repo.deliveriesOfMessage(auth.account.id, request.params.id);
        return {
          data: rows.map((d) => ({
            id: d.id,
            webhook_id: d.webhook_id,
            url: d.url,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status as 'pending' | 'delivered' | 'failed',
            attempts: d.attempts,
            created_at: new Date(d.created_at).toISOString(),
            delivered_at: d.delivered_at === null ? null : new Date(d.delivered_at).toISOString(),
          })),
        };
      },
    );

    app.get(
      '/v1/webhooks/:id/deliveries',
      {
        schema: {
          summary: 'Delivery log',
          description: 'Every attempt to deliver to this subscription, newest first: when, the answer\'s status code, latency, the first 1 KB of the answer, or the error. Filter with `status`.',
          tags: ['webhooks'],
          security,
          params: IdParams,
          querystring: Type.Object(
            {
              status: Type.Optional(Type.Enum(['succeeded', 'failed'])),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
              cursor: Type.Optional(Type.String()),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ data: Type.Array(AttemptSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const row = await find(auth.account.id, request.params.id);
        const q = request.query;
        const limit = q.limit ?? 50;
        const beforeId = q.cursor === undefined ? undefined : decodeCursor(q.cursor, 'wha');
        const rows = await repo.attempts(auth.account.id, row.id, { succeeded: q.status === undefined ? undefined : q.status === 'succeeded', beforeId, limit: limit + 1 });
        const page = rows.slice(0, limit);
        return { data: page.map(presentAttempt), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );
  };
}
