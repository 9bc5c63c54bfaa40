import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where `npm run build:web` puts the cabinet (vite.config.ts says the same). */
export const CABINET_DIR = fileURLToPath(new URL('../../../dist/web/', import.meta.url));

export interface Cabinet {
  /** a browser asking for a page of the cabinet (any path the API does not own): it gets index.html and routes itself */
  serves(request: FastifyRequest): boolean;
  index(reply: FastifyReply): FastifyReply;
}

/**
 * Serves the built cabinet at `/`. The API keeps `/v1`, `/docs` and the
 * operations endpoints; every other GET for HTML is a page of the cabinet.
 */
export async function cabinetRoutes(app: FastifyInstance): Promise<Cabinet> {
  const built = existsSync(`${CABINET_DIR}index.html`);
  if (built) await app.register(fastifyStatic, { root: CABINET_DIR, prefix: '/', wildcard: false, index: ['index.html'] });
  return {
    serves: (request) =>
      request.method === 'GET' && !/^\/(v1|docs)(\/|$)/.test(request.url) && (request.headers.accept ?? '').includes('text/html'),
    index: (reply) =>
      built
        ? reply.header('cache-control', 'no-cache').sendFile('index.html')
        : reply.code(503).type('text/plain; charset=utf-8').send('The web cabinet is not built: run `npm run build:web` (npm start does it when needed).\n'),
  };
}
