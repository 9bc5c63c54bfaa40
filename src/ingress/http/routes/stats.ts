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
  },
  { additionalProperties: false, examples: [{ object: 'message_stats', since: '2026-12-01T00:00:00.000Z', until: '2026-12-01T23:59:59.999Z', total: 12, by_status: { delivered: 10, undelivered: 1, queued: 1 } }] },
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
        const byStatus = await stats.messagesByStatus(auth.account.id, since, until);
        return { object: 'message_stats' as const, since: new Date(since).toISOString(), until: new Date(until).toISOString(), total: Object.values(byStatus).reduce((a, b) => a + b, 0), by_status: byStatus };
      },
    );
  };
}
