import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiError } from '../../../errors.ts';
import { ContactListsRepository, type ContactList } from '../../../store/contact-lists.ts';
import { ProjectsRepository } from '../../../store/projects.ts';
import type { ContactListsTable } from '../../../store/schema.ts';
import { requireAuth } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema, IdParams } from '../schemas.ts';
import { ContactSchema, presentContact } from './contacts.ts';

const ListSchema = Type.Object(
  { id: Type.String(), object: Type.Literal('contact_list'), project_id: Type.String(), name: Type.String(), size: Type.Union([Type.Integer(), Type.Null()], { description: 'members; null in lists of lists' }), created_at: Type.String({ format: 'date-time' }) },
  { additionalProperties: false, examples: [{ id: 'lst_01KB2ZD1B2C3D4E5F6G7H8J9K0', object: 'contact_list', project_id: 'prj_01KB2Z1T6S0R7Q4P3N2M1L0K9J', name: 'VIP', size: 120, created_at: '2026-12-01T10:00:00.000Z' }] },
);
const present = (l: ContactListsTable | ContactList) => ({ id: l.id, object: 'contact_list' as const, project_id: l.project_id, name: l.name, size: 'size' in l ? l.size : null, created_at: new Date(l.created_at).toISOString() });
const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema };
const Page = { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })), cursor: Type.Optional(Type.String({ maxLength: 200 })) };

/** Contact lists: named sets of a project's contacts, the audiences of mailings. */
export function contactListsRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const repo = new ContactListsRepository(deps.database.db);
  const projects = new ProjectsRepository(deps.database.db);
  const listOf = async (accountId: string, id: string) => {
    const list = await repo.get(accountId, id);
    if (!list) throw new ApiError('not_found', `no contact list ${id} in this account`);
    return list;
  };
  return async (app) => {
    app.post(
      '/v1/contact-lists',
      {
        schema: {
          summary: 'Create a contact list',
          tags: ['contacts'],
          security,
          body: Type.Object({ project_id: Type.String({ minLength: 1, maxLength: 64 }), name: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false, examples: [{ project_id: 'prj_01KB2Z1T6S0R7Q4P3N2M1L0K9J', name: 'VIP' }] }),
          response: { 201: ListSchema, ...errors },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        if (!(await projects.get(auth.account.id, request.body.project_id))) throw new ApiError('unknown_project', `no project ${request.body.project_id} in this account`, [{ field: 'project_id', issue: 'names no project' }]);
        return reply.code(201).send(present(await repo.create(auth.account.id, request.body.project_id, request.body.name)));
      },
    );

    app.get(
      '/v1/contact-lists',
      { schema: { summary: 'List contact lists', tags: ['contacts'], security, querystring: Type.Object({ project_id: Type.Optional(Type.String({ maxLength: 64 })), ...Page }, { additionalProperties: false }), response: { 200: Type.Object({ data: Type.Array(ListSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), ...errors } } },
      async (request) => {
        const auth = requireAuth(request);
        const limit = request.query.limit ?? 50;
        const rows = await repo.list(auth.account.id, { projectId: request.query.project_id, beforeId: request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, 'lst'), limit: limit + 1 });
        const page = rows.slice(0, limit);
        return { data: page.map(present), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );

    app.get('/v1/contact-lists/:id', { schema: { summary: 'Get a contact list', tags: ['contacts'], security, params: IdParams, response: { 200: ListSchema, ...errors } } }, async (request) => present(await listOf(requireAuth(request).account.id, request.params.id)));

    app.delete('/v1/contact-lists/:id', { schema: { summary: 'Delete a contact list', description: 'The contacts stay. Not while a mailing that is not finished or cancelled uses it (`409 contact_list_in_use`).', tags: ['contacts'], security, params: IdParams, response: { 204: Type.Null(), ...errors, 409: ErrorSchema } } }, async (request, reply) => {
      const auth = requireAuth(request);
      const result = await repo.delete(auth.account.id, request.params.id);
      if (result === 'not_found') throw new ApiError('not_found', `no contact list ${request.params.id} in this account`);
      if (result === 'in_use') throw new ApiError('contact_list_in_use', `contact list ${request.params.id} is the audience of a mailing that is not finished or cancelled`);
      return reply.code(204).send(null);
    });

    app.post(
      '/v1/contact-lists/:id/members',
      {
        schema: {
          summary: 'Add contacts to a list',
          description: 'Contacts of the list\'s project; ones already in the list stay. `not_added` names the ids that are not contacts of the project.',
          tags: ['contacts'],
          security,
          params: IdParams,
          body: Type.Object({ contact_ids: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 10000, uniqueItems: true }) }, { additionalProperties: false }),
          response: { 200: Type.Object({ list: ListSchema, not_added: Type.Array(Type.String()) }), ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const list = await listOf(auth.account.id, request.params.id);
        const notAdded = await repo.add(auth.account.id, list, request.body.contact_ids);
        return { list: present(await listOf(auth.account.id, list.id)), not_added: notAdded };
      },
    );

    app.get(
      '/v1/contact-lists/:id/members',
      { schema: { summary: 'List a list\'s members', description: 'In id order (oldest contact first), cursor-paginated.', tags: ['contacts'], security, params: IdParams, querystring: Type.Object(Page, { additionalProperties: false }), response: { 200: Type.Object({ data: Type.Array(ContactSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), ...errors } } },
      async (request) => {
        const auth = requireAuth(request);
        const list = await listOf(auth.account.id, request.params.id);
        const limit = request.query.limit ?? 50;
        const rows = await repo.members(auth.account.id, list.id, { afterId: request.query.cursor === undefined ? '' : decodeCursor(request.query.cursor, 'cnt'), limit: limit + 1 });
        const page = rows.slice(0, limit);
        return { data: page.map(presentContact), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );

    app.delete('/v1/contact-lists/:id/members/:contact_id', { schema: { summary: 'Remove a contact from a list', tags: ['contacts'], security, params: Type.Object({ id: Type.String({ maxLength: 64 }), contact_id: Type.String({ maxLength: 64 }) }), response: { 204: Type.Null(), ...errors } } }, async (request, reply) => {
      const auth = requireAuth(request);
      if (!(await repo.remove(auth.account.id, request.params.id, request.params.contact_id))) throw new ApiError('not_found', `contact ${request.params.contact_id} is not in list ${request.params.id}`);
      return reply.code(204).send(null);
    });
  };
}
