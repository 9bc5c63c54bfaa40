import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { HttpDeps } from '../deps.ts';

/** Liveness, readiness and Prometheus metrics: public, for load balancers and monitoring. */
export function opsRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/healthz',
      { schema: { summary: 'Liveness', description: 'The process is up.', tags: ['operations'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/readyz',
      {
        schema: {
          summary: 'Readiness',
          description: 'The process takes traffic: started, not draining, and its database answers.',
          tags: ['operations'],
          response: { 200: Type.Object({ status: Type.Literal('ready') }), 503: Type.Object({ status: Type.Literal('not_ready'), reason: Type.String() }) },
        },
      },
      async (_request, reply) => {
        if (!deps.isReady()) return reply.code(503).send({ status: 'not_ready' as const, reason: 'starting or shutting down' });
        try {
          await deps.database.ping();
        } catch {
          return reply.code(503).send({ status: 'not_ready' as const, reason: 'database unreachable' });
        }
        return { status: 'ready' as const };
      },
    );

    app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['operations'], response: { 200: Type.String({ description: 'Prometheus text format' }) } } }, async (_request, reply) => {
      deps.metrics.dispatcherDepth.set(deps.delivery.depth);
      deps.metrics.connectorUp.reset();
      deps.metrics.connectorLinksUp.reset();
      for (const c of deps.delivery.connectors()) {
        deps.metrics.connectorUp.set({ connector: c.id, type: c.type }, c.status === 'up' || c.status === 'degraded' ? 1 : 0);
        deps.metrics.connectorLinksUp.set({ connector: c.id }, c.links.up);
      }
      return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
    });
  };
}
