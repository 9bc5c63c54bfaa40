import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiError } from '../../../errors.ts';
import type { StatsRepository } from '../../../store/stats.ts';
import { requireAuth } from '../auth.ts';
import { ErrorSchema } from '../schemas.ts';

const StatsSchema = Type.Object(
  {
    object: Type.Literal('message_stats'),
    since: Type.String({ format: 'date-time' }),
    until: Type.String({ format: 'date-time' }),
    total: Type.Integer(),
    by_status: Type.Record(Type.String(), Type.Integer(), { description: 'only statuses that occur' }),
    by_channel: Type.Record(Type.String(), Type.Integer(), { description: 'sms, email, telegram, …: only channels that occur' }),
    by_operator: Type.Record(Type.String(), Type.Integer(), { description: "the recipient's operator code at accept time; `unknown` where the numbering plan did not cover the number" }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        object: 'message_stats',
        since: '2026-12-01T00:00:00.000Z',
        until: '2026-12-01T23:59:59.999Z',
        total: 12,
        by_status: { delivered: 10, undelivered: 1, queued: 1 },
        by_channel: { sms: 12 },
        by_operator: { mts: 8, beeline: 4 },
      },
    ],
  },
);

const MinuteSchema = Type.Object(
  {
    minute: Type.String({ format: 'date-time', description: 'start of the minute' }),
    accepted: Type.Integer({ description: 'messages accepted in the minute' }),
    sent: Type.Integer({ description: 'of those, handed to a provider' }),
    delivered: Type.Integer({ description: 'of those, delivered' }),
    submit_latency_ms: Type.Union([Type.Integer(), Type.Null()], { description: 'mean time from accepting to the provider taking it, of the sent ones' }),
    delivery_latency_ms: Type.Union([Type.Integer(), Type.Null()], { description: 'mean time from sending to the delivery receipt, of the delivered ones' }),
  },
  { additionalProperties: false },
);

const ThroughputSchema = Type.Object(
  {
    object: Type.Literal('message_throughput'),
    since: Type.String({ format: 'date-time' }),
    until: Type.String({ format: 'date-time' }),
    data: Type.Array(MinuteSchema, { description: 'one entry a minute, oldest first; minutes without messages have zeros' }),
  },
  { additionalProperties: false },
);

/** GET /v1/stats/messages: the dashboard's counts by status for a period (default: the last 24 hours). */
export function statsRoutes(stats: StatsRepository): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/stats/messages',
      {
        schema: {
          summary: 'Messages by status',
          description: 'Counts of the account\'s messages created in the period, by their current status. The period defaults to the last 24 hours and spans at most 31 days.',
          tags: ['stats'],
          security: [{ bearerAuth: [] }],
          querystring: Type.Object({ since: Type.Optional(Type.String({ format: 'date-time' })), until: Type.Optional(Type.String({ format: 'date-time' })) }, { additionalProperties: false }),
          response: { 200: StatsSchema, 400: ErrorSchema, 401: ErrorSchema, 422: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const until = request.query.until === undefined ? Date.now() : Date.parse(request.query.until);
        const since = request.query.since === undefined ? until - 24 * 3600_000 : Date.parse(request.query.since);
        if (since > until || until - since > 31 * 24 * 3600_000) throw new ApiError('invalid_period', '`since` must be before `until`, at most 31 days apart', [{ field: 'since', issue: 'out of range' }]);
        const [byStatus, split] = await Promise.all([stats.messagesByStatus(auth.account.id, since, until), stats.messagesByChannelAndOperator(auth.account.id, since, until)]);
        return {
          object: 'message_stats' as const,
          since: new Date(since).toISOString(),
          until: new Date(until).toISOString(),
          total: Object.values(byStatus).reduce((a, b) => a + b, 0),
          by_status: byStatus,
          by_channel: split.byChannel,
          by_operator: split.byOperator,
        };
      },
    );

    app.get(
      '/v1/stats/throughput',
      {
        schema: {
          summary: 'Messages per minute',
          description: "The account's messages per minute of the last `minutes` minutes (default 60, at most 1440), by when they were accepted: how many were accepted, sent and delivered, and the mean submit and delivery latency. The dashboard polls it for its live charts.",
          tags: ['stats'],
          security: [{ bearerAuth: [] }],
          querystring: Type.Object({ minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440, default: 60 })) }, { additionalProperties: false }),
          response: { 200: ThroughputSchema, 400: ErrorSchema, 401: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const minutes = request.query.minutes ?? 60;
        const until = Date.now();
        const first = Math.floor(until / 60_000) * 60_000 - (minutes - 1) * 60_000;
        const rows = new Map((await stats.perMinute(auth.account.id, first, until)).map((r) => [r.minute, r]));
        const data = [];
        for (let m = first; m <= until; m += 60_000) {
          const r = rows.get(m);
          data.push({
            minute: new Date(m).toISOString(),
            accepted: r?.accepted ?? 0,
            sent: r?.sent ?? 0,
            delivered: r?.delivered ?? 0,
            submit_latency_ms: r?.submit_latency_ms ?? null,
            delivery_latency_ms: r?.delivery_latency_ms ?? null,
          });
        }
        return { object: 'message_throughput' as const, since: new Date(first).toISOString(), until: new Date(until).toISOString(), data };
      },
    );
  };
}
