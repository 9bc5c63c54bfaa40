import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiError } from '../../../errors.ts';
import { ProjectCodeTakenError, ProjectsRepository, type Project } from '../../../store/projects.ts';
import { requireAuth } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema, IdParams } from '../schemas.ts';

const Name = Type.String({ minLength: 1, maxLength: 200, description: 'the project name', examples: ['OCM'] });
const Code = Type.String({ minLength: 1, maxLength: 128, description: "the project code, unique in the account; messages name it in `project`", examples: ['010'] });

export const ProjectSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('project'),
    number: Type.Integer({ description: 'the integer id of the compatibility API (`PUT /project/{id}/update`)' }),
    name: Type.String(),
    code: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  {
    additionalProperties: false,
    examples: [{ id: 'prj_01KB2Z1T6S0R7Q4P3N2M1L0K9J', object: 'project', number: 1, name: 'OCM', code: '010', created_at: '2026-12-01T10:00:00.000Z', updated_at: '2026-12-01T10:00:00.000Z' }],
  },
);

export const presentProject = (p: Project) => ({
  id: p.id,
  object: 'project' as const,
  number: p.number,
  name: p.name,
  code: p.code,
  created_at: new Date(p.created_at).toISOString(),
  updated_at: new Date(p.updated_at).toISOString(),
});

const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };

/**
 * Projects group an account's contacts, templates, mailings and messages (S15).
 * Creating one is not keyed by Idempotency-Key: the code is a natural key (a
 * repeated create answers 409).
 */
export function projectsRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const repo = new ProjectsRepository(deps.database.db);
  const taken = (err: unknown) => (err instanceof ProjectCodeTakenError ? new ApiError('project_code_taken', err.message, [{ field: 'code', issue: 'used by another project' }]) : err);
  return async (app) => {
    app.post(
      '/v1/projects',
      {
        schema: {
          summary: 'Create a project',
          tags: ['projects'],
          security,
          body: Type.Object({ name: Name, code: Code }, { additionalProperties: false, examples: [{ name: 'OCM', code: '010' }] }),
          response: { 201: ProjectSchema, ...errors },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        try {
          return reply.code(201).send(presentProject(await repo.create(auth.account.id, request.body)));
        } catch (err) {
          throw taken(err);
        }
      },
    );

    app.get(
      '/v1/projects',
      {
        schema: {
          summary: 'List projects',
          description: 'Newest first, cursor-paginated.',
          tags: ['projects'],
          security,
          querystring: Type.Object(
            { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })), cursor: Type.Optional(Type.String({ maxLength: 200 })) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ data: Type.Array(ProjectSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const limit = request.query.limit ?? 50;
        const rows = await repo.list(auth.account.id, { beforeId: request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, 'prj'), limit: limit + 1 });
        const page = rows.slice(0, limit);
        return { data: page.map(presentProject), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );

    app.get(
      '/v1/projects/:id',
      { schema: { summary: 'Get a project', tags: ['projects'], security, params: IdParams, response: { 200: ProjectSchema, ...errors } } },
      async (request) => {
        const auth = requireAuth(request);
        const project = await repo.get(auth.account.id, request.params.id);
        if (!project) throw new ApiError('not_found', `no project ${request.params.id} in this account`);
        return presentProject(project);
      },
    );

    app.patch(
      '/v1/projects/:id',
      {
        schema: {
          summary: 'Change a project',
          description: 'Changes only the fields given.',
          tags: ['projects'],
          security,
          params: IdParams,
          body: Type.Object({ name: Type.Optional(Name), code: Type.Optional(Code) }, { additionalProperties: false, examples: [{ name: 'ОСМ' }] }),
          response: { 200: ProjectSchema, ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        try {
          const project = await repo.update(auth.account.id, request.params.id, request.body);
          if (!project) throw new ApiError('not_found', `no project ${request.params.id} in this account`);
          return presentProject(project);
        } catch (err) {
          throw taken(err);
        }
      },
    );
  };
}
