import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { CallbackRequest } from '../../../connectors/types.ts';
import type { HttpDeps } from '../deps.ts';

const Params = Type.Object({ connector_id: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'the connector the provider reports to' }) });

const description =
  'Public: status reports (and webhook handshakes) from a provider, for one connector. No API key: the connector checks the ' +
  "provider's signature or the per-connector secret in the URL (docs/connectors/). The reply is what the provider expects, " +
  '2xx only once the reports are recorded, so a provider that gets an error sends them again. ' +
  'Example: `POST /v1/callbacks/smsc?token=…` with `id=123&phone=79161234567&status=1&err=0` answers `200 OK`.';

/**
 * The public callback route of every connector. The raw body is handed on
 * untouched: signatures are computed over its exact bytes.
 */
export function callbacksRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    // This plugin's own parsers (encapsulated): whatever the provider sends arrives as text.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

    const handle = async (request: FastifyRequest, connectorId: string, method: CallbackRequest['method']) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(request.headers)) if (typeof v === 'string') headers[k] = v;
      const query: Record<string, string> = {};
      for (const [k, v] of Object.entries((request.query ?? {}) as Record<string, unknown>)) if (typeof v === 'string') query[k] = v;
      const body = typeof request.body === 'string' ? request.body : '';
      return deps.delivery.callback(connectorId, { method, headers, query, body });
    };
    const schema = (summary: string) => ({
      summary,
      description,
      tags: ['callbacks'],
      params: Params,
    });

    app.post('/v1/callbacks/:connector_id', { schema: schema('Receive status reports from a provider') }, async (request, reply) => {
      const answer = await handle(request, request.params.connector_id, 'POST');
      return reply.code(answer.status).type(answer.contentType ?? 'text/plain').send(answer.body);
    });
    app.get('/v1/callbacks/:connector_id', { schema: schema('Answer a provider\'s webhook verification (WhatsApp hub.challenge)') }, async (request, reply) => {
      const answer = await handle(request, request.params.connector_id, 'GET');
      return reply.code(answer.status).type(answer.contentType ?? 'text/plain').send(answer.body);
    });
  };
}
