import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { ApiError } from '../../../errors.ts';
import { isModuleName, MODULES, ModulesRepository, type Integration, type ModuleSwitches } from '../../../store/modules.ts';
import { requireAdmin, requireAuth } from '../auth.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema } from '../schemas.ts';

const ModuleSchema = Type.Object(
  {
    name: Type.Enum(MODULES.map((m) => m.name), { description: 'a channel (`sms`, `telegram`, …) or an integration (`compat_api_v1`, `compat_crm`, `smpp_server`, `verifications`, `mailings`)' }),
    kind: Type.Enum(['channel', 'integration']),
    enabled: Type.Boolean({ description: 'false: switched off with PATCH /v1/modules/{name}; `description` says what is refused then' }),
    description: Type.String(),
    updated_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'when it was last switched; null: never (every module starts on)' }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        name: 'voice',
        kind: 'channel',
        enabled: false,
        description: 'The voice call channel. Off: messages, bulk items, cascade steps and verifications on it are refused at accept with channel_disabled; mailings leave it out.',
        updated_at: '2026-12-03T11:00:00.000Z',
      },
    ],
  },
);

/** Endpoints of /v1 that belong to an integration: with it off, every change there answers 409 module_disabled (reads still work). */
const GATED: readonly { prefix: string; module: Integration }[] = [
  { prefix: '/v1/verifications', module: 'verifications' },
  { prefix: '/v1/mailings', module: 'mailings' },
];
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
/** what stops sending stays allowed while the module is off: a mailing can always be paused or cancelled */
const STOPPING = new Set(['/v1/mailings/:id/pause', '/v1/mailings/:id/cancel']);

/**
 * The module gate: a change under an integration's endpoints is refused while
 * that integration is switched off. One hook, as the audit trail, so an
 * endpoint added there later cannot forget it. (The channels are checked at
 * accept, `prepareMessage`; the compatibility APIs and the SMPP server answer
 * in their own shapes.)
 */
export function moduleGate(app: FastifyInstance, modules: ModuleSwitches): void {
  app.addHook('preValidation', async (request) => {
    const route = request.routeOptions.url;
    if (route === undefined || SAFE.has(request.method) || STOPPING.has(route)) return;
    const gated = GATED.find((g) => route === g.prefix || route.startsWith(`${g.prefix}/`));
    if (gated && !(await modules.enabled(gated.module))) {
      throw new ApiError('module_disabled', `the ${gated.module} module is switched off on this platform; ask the platform administrator (GET /v1/modules)`);
    }
  });
}

/** GET /v1/modules, PATCH /v1/modules/{name}: the platform's channels and integrations, switched on and off (C2, docs/modules.md). */
export function modulesRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const repo = new ModulesRepository(deps.database.db);
  const list = async () => {
    const switches = await repo.switches();
    return MODULES.map((m) => {
      const s = switches.get(m.name);
      return { name: m.name, kind: m.kind, enabled: s?.enabled ?? true, description: m.description, updated_at: s ? new Date(s.updatedAt).toISOString() : null };
    });
  };
  return async (app) => {
    app.get(
      '/v1/modules',
      {
        schema: {
          summary: 'Modules',
          description:
            "The platform's modules, each with whether it is on: every channel, and the integrations (the compatibility APIs of seeds 001 and 004, the SMPP server for customers, verifications, mailings). " +
            'Every caller may read them (so a program can tell why channel_disabled came); platform administrators and staff switch them. See docs/modules.md.',
          tags: ['modules'],
          security: [{ bearerAuth: [] }],
          response: { 200: Type.Object({ data: Type.Array(ModuleSchema), next_cursor: Type.Null() }), 401: ErrorSchema },
        },
      },
      async (request) => {
        requireAuth(request);
        return { data: await list(), next_cursor: null };
      },
    );

    app.patch(
      '/v1/modules/:name',
      {
        schema: {
          summary: 'Switch a module on or off',
          description:
            'A channel switched off refuses new messages on it at accept (channel_disabled); an integration switched off answers as its `description` says. Messages accepted before keep going. ' +
            'Takes effect on this node before the answer and on the other nodes within 2 seconds. Written to the audit log. Needs an administrator API key or a platform administrator or staff.',
          tags: ['modules'],
          security: [{ bearerAuth: [] }],
          params: Type.Object({ name: Type.String({ description: 'the module, e.g. `voice` or `mailings`' }) }),
          body: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false, examples: [{ enabled: false }] }),
          response: { 200: ModuleSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request) => {
        requireAdmin(request);
        const { name } = request.params;
        if (!isModuleName(name)) throw new ApiError('not_found', `no module ${name} (GET /v1/modules lists them)`);
        await repo.set(name, request.body.enabled);
        deps.modules.invalidate();
        // The delivery side (the mailing runner, accepts of mailings) reads its switches again, and in a cluster every node's.
        await deps.delivery.reload();
        request.log.info({ module: name, enabled: request.body.enabled }, 'module switched');
        return (await list()).find((m) => m.name === name)!;
      },
    );
  };
}
