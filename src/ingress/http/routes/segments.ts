import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { SEGMENT_FIELDS, SEGMENT_OPERATORS, segmentFilterProblem, type SegmentFilter } from '../../../domain/segments.ts';
import { ApiError } from '../../../errors.ts';
import { ProjectsRepository } from '../../../store/projects.ts';
import { SegmentsRepository, type Segment } from '../../../store/segments.ts';
import { requireAuth } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema, IdParams } from '../schemas.ts';
import { ContactSchema, presentContact } from './contacts.ts';

const Value = Type.Union([Type.String({ maxLength: 1000 }), Type.Number(), Type.Boolean(), Type.Null()]);
const Condition = Type.Object(
  {
    field: Type.String({ minLength: 1, maxLength: 200, description: `${SEGMENT_FIELDS.join(', ')}, or attributes.<name>` }),
    op: Type.Enum([...SEGMENT_OPERATORS]),
    value: Type.Optional(Value),
  },
  { additionalProperties: false },
);
const Filter = Type.Object(
  {
    conditions: Type.Array(Condition, { maxItems: 50, description: 'all must hold' }),
    consent: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 32 }), Type.Null()], { description: 'the channel the contact must have agreed to' })),
  },
  { additionalProperties: false },
);
const EXAMPLE_FILTER = { conditions: [{ field: 'attributes.city', op: 'eq', value: 'Москва' }, { field: 'attributes.age', op: 'gte', value: 18 }], consent: 'sms' };

const SegmentSchema = Type.Object(
  { id: Type.String(), object: Type.Literal('segment'), project_id: Type.String(), name: Type.String(), filter: Filter, created_at: Type.String({ format: 'date-time' }), updated_at: Type.String({ format: 'date-time' }) },
  { additionalProperties: false, examples: [{ id: 'seg_01KB2ZE1B2C3D4E5F6G7H8J9K0', object: 'segment', project_id: 'prj_01KB2Z1T6S0R7Q4P3N2M1L0K9J', name: 'Moscow adults', filter: EXAMPLE_FILTER, created_at: '2026-12-01T10:00:00.000Z', updated_at: '2026-12-01T10:00:00.000Z' }] },
);
const present = (s: Segment) => ({ id: s.id, object: 'segment' as const, project_id: s.project_id, name: s.name, filter: s.filter, created_at: new Date(s.created_at).toISOString(), updated_at: new Date(s.updated_at).toISOString() });
const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };

function checkFilter(filter: SegmentFilter): void {
  const problem = segmentFilterProblem(filter);
  if (problem) throw new ApiError('invalid_segment_filter', `${problem.field} ${problem.issue}`, [problem]);
}

/** Saved segments: filters on contacts' fields, custom attributes and consent, blocklisted contacts always left out; the audiences of mailings. */
export function segmentsRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const repo = new SegmentsRepository(deps.database.db);
  const projects = new ProjectsRepository(deps.database.db);
  const segmentOf = async (accountId: string, id: string) => {
    const s = await repo.get(accountId, id);
    if (!s) throw new ApiError('not_found', `no segment ${id} in this account`);
    return s;
  };
  return async (app) => {
    app.post(
      '/v1/segments',
      {
        schema: {
          summary: 'Create a segment',
          description: 'Conditions on `first_name`, `gender`, `phone`, `attributes.city`… (`eq`, `ne`, `contains`, `gt`, `gte`, `lt`, `lte`, `exists`, `not_exists`), all of which must hold; text compares without case. `consent` asks for the contact\'s agreement to a channel. Blocklisted contacts are never in a segment.',
          tags: ['contacts'],
          security,
          body: Type.Object({ project_id: Type.String({ minLength: 1, maxLength: 64 }), name: Type.String({ minLength: 1, maxLength: 200 }), filter: Filter }, { additionalProperties: false, examples: [{ project_id: 'prj_01KB2Z1T6S0R7Q4P3N2M1L0K9J', name: 'Moscow adults', filter: EXAMPLE_FILTER }] }),
          response: { 201: SegmentSchema, ...errors },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const b = request.body;
        if (!(await projects.get(auth.account.id, b.project_id))) throw new ApiError('unknown_project', `no project ${b.project_id} in this account`, [{ field: 'project_id', issue: 'names no project' }]);
        checkFilter(b.filter as SegmentFilter);
        return reply.code(201).send(present(await repo.create(auth.account.id, { project_id: b.project_id, name: b.name, filter: b.filter as SegmentFilter })));
      },
    );

    app.get(
      '/v1/segments',
      {
        schema: {
          summary: 'List segments',
          tags: ['contacts'],
          security,
          querystring: Type.Object({ project_id: Type.Optional(Type.String({ maxLength: 64 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })), cursor: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ data: Type.Array(SegmentSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const limit = request.query.limit ?? 50;
        const rows = await repo.list(auth.account.id, { projectId: request.query.project_id, beforeId: request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, 'seg'), limit: limit + 1 });
        const page = rows.slice(0, limit);
        return { data: page.map(present), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );

    app.get('/v1/segments/:id', { schema: { summary: 'Get a segment', tags: ['contacts'], security, params: IdParams, response: { 200: SegmentSchema, ...errors } } }, async (request) => present(await segmentOf(requireAuth(request).account.id, request.params.id)));

    app.patch(
      '/v1/segments/:id',
      {
        schema: {
          summary: 'Change a segment',
          description: 'A running mailing reads the segment page by page: a change applies to the contacts it has not reached yet.',
          tags: ['contacts'],
          security,
          params: IdParams,
          body: Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), filter: Type.Optional(Filter) }, { additionalProperties: false }),
          response: { 200: SegmentSchema, ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        await segmentOf(auth.account.id, request.params.id);
        if (request.body.filter) checkFilter(request.body.filter as SegmentFilter);
        return present((await repo.update(auth.account.id, request.params.id, { name: request.body.name, filter: request.body.filter as SegmentFilter | undefined }))!);
      },
    );

    app.delete('/v1/segments/:id', { schema: { summary: 'Delete a segment', description: 'Not while a mailing that is not finished or cancelled uses it (`409 segment_in_use`).', tags: ['contacts'], security, params: IdParams, response: { 204: Type.Null(), ...errors } } }, async (request, reply) => {
      const auth = requireAuth(request);
      const result = await repo.delete(auth.account.id, request.params.id);
      if (result === 'not_found') throw new ApiError('not_found', `no segment ${request.params.id} in this account`);
      if (result === 'in_use') throw new ApiError('segment_in_use', `segment ${request.params.id} is the audience of a mailing that is not finished or cancelled`);
      return reply.code(204).send(null);
    });

    app.get(
      '/v1/segments/:id/preview',
      {
        schema: {
          summary: 'Count a segment and show its first contacts',
          description: 'Walks the project\'s contacts a page at a time (for a large project this takes a few seconds).',
          tags: ['contacts'],
          security,
          params: IdParams,
          querystring: Type.Object({ sample: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, default: 10 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ object: Type.Literal('segment_preview'), segment_id: Type.String(), count: Type.Integer(), sample: Type.Array(ContactSchema) }), ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const s = await segmentOf(auth.account.id, request.params.id);
        const { count, sample } = await repo.count(auth.account.id, s, request.query.sample ?? 10);
        return { object: 'segment_preview' as const, segment_id: s.id, count, sample: sample.map(presentContact) };
      },
    );
  };
}
