import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Readable } from 'node:stream';
import { Type, type Static } from 'typebox';
import { ApiError } from '../../../errors.ts';
import { findDuplicates, type DuplicateField } from '../../../store/contact-duplicates.ts';
import { ContactGuidTakenError, ContactsRepository, normalizeContact, type Contact, type ContactInput } from '../../../store/contacts.ts';
import { ProjectsRepository } from '../../../store/projects.ts';
import { requireAuth } from '../auth.ts';
import { decodeCursor, decodeKeyCursor, encodeCursor, encodeKeyCursor } from '../cursor.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema, IdParams } from '../schemas.ts';
import { idempotentCreate } from './idempotent-create.ts';
import { ContactImportRunner, ContactImportSchema, contactImportReadRoutes, ImportTooLarge, MAX_IMPORT_BYTES, presentImport } from './contact-imports.ts';
import { csvExport, MAX_IMPORT_ROWS, XLSX_TYPE, xlsxExport } from './contacts-files.ts';

const Str = (maxLength: number, description?: string) => Type.Union([Type.String({ maxLength }), Type.Null()], description ? { description } : {});
const Attribute = Type.Union([Type.String({ maxLength: 2000 }), Type.Number(), Type.Boolean(), Type.Null()]);
const Key = { propertyNames: { minLength: 1, maxLength: 64 }, maxProperties: 100 };

const contactFields = {
  guid: Type.Optional(Str(200, "the client's own id, unique in the project")),
  first_name: Type.Optional(Str(200)),
  last_name: Type.Optional(Str(200)),
  middle_name: Type.Optional(Str(200)),
  gender: Type.Optional(Str(16, 'male or female (also m/f, м/ж); null: unknown')),
  phones: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 20, description: 'in any common form; stored in E.164' })),
  emails: Type.Optional(Type.Array(Type.String({ minLength: 3, maxLength: 320 }), { maxItems: 20 })),
  messenger_ids: Type.Optional(Type.Record(Type.String(), Type.String({ minLength: 1, maxLength: 200 }), { ...Key, description: 'messenger → id (telegram, whatsapp, viber, vk, max…)' })),
  time_zone: Type.Optional(Str(64, 'IANA time zone, for sending at local time')),
  attributes: Type.Optional(Type.Record(Type.String(), Attribute, { ...Key, description: 'custom fields; templates see them' })),
  consent: Type.Optional(Type.Record(Type.String(), Type.Boolean(), { ...Key, description: 'channel → agreed (true) or refused (false)' })),
  blocked: Type.Optional(Type.Boolean({ description: 'never send to this contact' })),
};

const ContactBody = Type.Object({ project_id: Type.String({ minLength: 1, maxLength: 64 }), ...contactFields }, { additionalProperties: false });
const ContactPatchBody = Type.Object(contactFields, { additionalProperties: false });

const example = {
  id: 'cnt_01KB2Z4M8P0R7Q4P3N2M1L0K9J',
  object: 'contact',
  project_id: 'prj_01KB2Z1T6S0R7Q4P3N2M1L0K9J',
  guid: 'crm-1042',
  first_name: 'Иван',
  last_name: 'Иванов',
  middle_name: 'Иванович',
  gender: 'male',
  phones: ['+79161234567'],
  emails: ['ivan@example.com'],
  messenger_ids: { telegram: '123456789' },
  time_zone: 'Europe/Moscow',
  attributes: { city: 'Москва', tier: 'gold' },
  consent: { sms: true, email: false },
  blocked: false,
  created_at: '2026-12-01T10:00:00.000Z',
  updated_at: '2026-12-01T10:00:00.000Z',
};

export const ContactSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('contact'),
    project_id: Type.String(),
    guid: Type.Union([Type.String(), Type.Null()]),
    first_name: Type.Union([Type.String(), Type.Null()]),
    last_name: Type.Union([Type.String(), Type.Null()]),
    middle_name: Type.Union([Type.String(), Type.Null()]),
    gender: Type.Union([Type.Enum(['male', 'female']), Type.Null()]),
    phones: Type.Array(Type.String()),
    emails: Type.Array(Type.String()),
    messenger_ids: Type.Record(Type.String(), Type.String()),
    time_zone: Type.Union([Type.String(), Type.Null()]),
    attributes: Type.Record(Type.String(), Attribute),
    consent: Type.Record(Type.String(), Type.Boolean()),
    blocked: Type.Boolean(),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false, examples: [example] },
);

const DuplicateGroupSchema = Type.Object(
  {
    object: Type.Literal('contact_duplicate'),
    field: Type.Enum(['phone', 'email'], { description: 'what the contacts share' }),
    value: Type.String({ description: 'the shared phone (E.164) or e-mail (lower case)' }),
    contact_ids: Type.Array(Type.String(), { description: 'every contact of the project with it, oldest first' }),
  },
  { additionalProperties: false, examples: [{ object: 'contact_duplicate', field: 'phone', value: '+79161234567', contact_ids: ['cnt_01KB2Z4M8P0R7Q4P3N2M1L0K9J', 'cnt_01KB2Z9X2C0R7Q4P3N2M1L0K9J'] }] },
);

export const presentContact = (c: Contact) => ({ ...c, object: 'contact' as const, created_at: new Date(c.created_at).toISOString(), updated_at: new Date(c.updated_at).toISOString() });

const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema, 422: ErrorSchema };
const IdempotencyHeader = Type.Object({ 'idempotency-key': Type.Optional(Type.String({ description: 'repeat-safe key, 24 h' })) });

function toInput(body: Static<typeof ContactPatchBody>): ContactInput {
  return body;
}

/**
 * Contacts of an account's projects (M3): create, find, change, delete, merge
 * duplicates, and import/export whole files. A contact's `guid` is unique in
 * its project.
 */
export function contactsRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const repo = new ContactsRepository(deps.database.db);
  const projects = new ProjectsRepository(deps.database.db);
  const projectOf = async (accountId: string, projectId: string, field = 'project_id') => {
    const project = await projects.get(accountId, projectId);
    if (!project) throw new ApiError('unknown_project', `no project ${projectId} in this account`, [{ field, issue: 'names no project' }]);
    return project;
  };
  const guidTaken = (err: unknown) => (err instanceof ContactGuidTakenError ? new ApiError('contact_guid_taken', err.message, [{ field: 'guid', issue: 'used by another contact of the project' }]) : err);
  const imports = new ContactImportRunner(deps.database, deps.log, { rows: deps.limits?.importRows, bytes: deps.limits?.importBytes });
  /** The upload as a stream (never the whole file in memory), checked and staged: the job once checked; a file past the limits is a 413 `import_too_large`. */
  const receive = async (request: { body: unknown; headers: Record<string, unknown> }, auth: ReturnType<typeof requireAuth>, projectId: string) => {
    const body = request.body;
    const type = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!(body instanceof Readable) || (type !== 'text/csv' && type !== XLSX_TYPE)) throw new ApiError('unsupported_media_type', `send the file as text/csv or ${XLSX_TYPE}`);
    try {
      return await imports.receive({ accountId: auth.account.id, projectId, defaultRegion: auth.account.default_region, format: type === 'text/csv' ? 'csv' : 'xlsx', body, createdBy: auth.session?.userId ?? auth.keyId });
    } catch (err) {
      throw err instanceof ImportTooLarge ? err.toApiError() : err;
    }
  };
  return async (app) => {
    // Imports come as files, read as they stream in (contact-imports.ts counts the bytes); the parsers are this plugin's alone.
    app.addContentTypeParser('text/csv', (_request, payload, done) => done(null, payload));
    app.addContentTypeParser(XLSX_TYPE, (_request, payload, done) => done(null, payload));
    await imports.keep(app);
    contactImportReadRoutes(app, imports);

    app.post(
      '/v1/contacts/imports',
      {
        schema: {
          summary: 'Import contacts from a file, in the background',
          description:
            `Body: a CSV file (\`Content-Type: text/csv\`, \`,\` or \`;\` separated, UTF-8) or an XLSX workbook (\`${XLSX_TYPE}\`, its first sheet), at most 1 GiB and ${MAX_IMPORT_ROWS.toLocaleString('en')} rows, with a header row; columns as for POST /v1/contacts/import. ` +
            'The file is read as it arrives, every row checked and staged; answers 202 with the import once the whole file is in and checked: `failed` with `bad_rows` and the first 100 `problems` (nothing is imported), or `applying`. A file past the size or the row limit is refused as soon as it passes it: 413 `import_too_large` (the import is `failed`, nothing staged is kept; the rest of the upload is read and dropped). ' +
            'Poll GET /v1/contacts/imports/{id} until `completed`. A guid twice in a file is a bad row. All or nothing: once applying, every row is written, even across a restart of the gateway.',
          tags: ['contacts'],
          security,
          querystring: Type.Object({ project_id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
          response: { 202: ContactImportSchema, ...errors },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const projectId = (await projectOf(auth.account.id, request.query.project_id)).id;
        const { job } = await receive(request, auth, projectId);
        return reply.code(202).send(presentImport(job));
      },
    );

    app.post(
      '/v1/contacts',
      { schema: { summary: 'Create a contact', description: 'Supports `Idempotency-Key`.', tags: ['contacts'], security, headers: IdempotencyHeader, body: ContactBody, response: { 201: ContactSchema, ...errors } } },
      async (request, reply) => {
        const auth = requireAuth(request);
        const { project_id: projectId, ...fields } = request.body;
        await projectOf(auth.account.id, projectId);
        const normalized = normalizeContact(toInput(fields), auth.account.default_region);
        if (!normalized.ok) throw new ApiError('invalid_contact', normalized.details.map((d) => `${d.field}: ${d.issue}`).join('; '), normalized.details);
        try {
          return await idempotentCreate(deps, request, reply, auth.account.id, async (db) => presentContact(await new ContactsRepository(db).create(auth.account.id, projectId, normalized.patch)));
        } catch (err) {
          throw guidTaken(err);
        }
      },
    );

    app.get(
      '/v1/contacts',
      {
        schema: {
          summary: 'List contacts',
          description: 'Newest first, cursor-paginated; filter by project, guid or phone (any common form).',
          tags: ['contacts'],
          security,
          querystring: Type.Object(
            {
              project_id: Type.Optional(Type.String({ maxLength: 64 })),
              guid: Type.Optional(Type.String({ maxLength: 200 })),
              phone: Type.Optional(Type.String({ maxLength: 64 })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
              cursor: Type.Optional(Type.String({ maxLength: 200 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ data: Type.Array(ContactSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const q = request.query;
        let phone: string | undefined;
        if (q.phone !== undefined) {
          const normalized = normalizeContact({ phones: [q.phone] }, auth.account.default_region);
          if (!normalized.ok) throw new ApiError('invalid_phone_number', `"${q.phone}" is not a valid phone number`, [{ field: 'phone', issue: 'not a valid phone number' }]);
          phone = (JSON.parse(normalized.patch.phones!) as string[])[0];
        }
        const limit = q.limit ?? 50;
        const rows = await repo.list(auth.account.id, { projectId: q.project_id, guid: q.guid, phone, beforeId: q.cursor === undefined ? undefined : decodeCursor(q.cursor, 'cnt'), limit: limit + 1 });
        const page = rows.slice(0, limit);
        return { data: page.map(presentContact), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );

    app.get(
      '/v1/contacts/duplicates',
      {
        schema: {
          summary: 'Find duplicate contacts',
          description:
            'Groups of the project\'s contacts that share a phone or an e-mail, each with the shared value and the contact ids, to merge with POST /v1/contacts/{id}/merge (a contact with a shared phone and a shared e-mail is in both groups). ' +
            'Newest first by the group\'s newest contact, cursor-paginated. Each page reads the project\'s contacts.',
          tags: ['contacts'],
          security,
          querystring: Type.Object(
            {
              project_id: Type.String({ minLength: 1, maxLength: 64 }),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
              cursor: Type.Optional(Type.String({ maxLength: 2000 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ data: Type.Array(DuplicateGroupSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const q = request.query;
        const project = await projectOf(auth.account.id, q.project_id);
        const after = q.cursor === undefined ? undefined : decodeKeyCursor(q.cursor, ['n', 'f', 'v'], (f, v) => (f === 'n' ? /^cnt_[0-9A-Z]{26}$/.test(v) : f === 'f' ? v === 'phone' || v === 'email' : true));
        const limit = q.limit ?? 50;
        const groups = await findDuplicates(deps.database, auth.account.id, project.id, { after: after && { newestId: after.n, field: after.f as DuplicateField, value: after.v }, limit: limit + 1 });
        const page = groups.slice(0, limit);
        const last = page[page.length - 1];
        return {
          data: page.map((g) => ({ object: 'contact_duplicate' as const, field: g.field, value: g.value, contact_ids: g.contactIds })),
          next_cursor: groups.length > limit && last ? encodeKeyCursor({ n: last.newestId, f: last.field, v: last.value }) : null,
        };
      },
    );

    app.get('/v1/contacts/:id', { schema: { summary: 'Get a contact', tags: ['contacts'], security, params: IdParams, response: { 200: ContactSchema, ...errors } } }, async (request) => {
      const auth = requireAuth(request);
      const contact = await repo.get(auth.account.id, request.params.id);
      if (!contact) throw new ApiError('not_found', `no contact ${request.params.id} in this account`);
      return presentContact(contact);
    });

    app.patch(
      '/v1/contacts/:id',
      { schema: { summary: 'Change a contact', description: 'Changes only the fields given; `phones`, `emails`, `attributes`, `consent` and `messenger_ids` are replaced whole.', tags: ['contacts'], security, params: IdParams, body: ContactPatchBody, response: { 200: ContactSchema, ...errors } } },
      async (request) => {
        const auth = requireAuth(request);
        const normalized = normalizeContact(toInput(request.body), auth.account.default_region);
        if (!normalized.ok) throw new ApiError('invalid_contact', normalized.details.map((d) => `${d.field}: ${d.issue}`).join('; '), normalized.details);
        try {
          const contact = await repo.update(auth.account.id, request.params.id, normalized.patch);
          if (!contact) throw new ApiError('not_found', `no contact ${request.params.id} in this account`);
          return presentContact(contact);
        } catch (err) {
          throw guidTaken(err);
        }
      },
    );

    app.delete('/v1/contacts/:id', { schema: { summary: 'Delete a contact', tags: ['contacts'], security, params: IdParams, response: { 204: Type.Null(), ...errors } } }, async (request, reply) => {
      const auth = requireAuth(request);
      if (!(await repo.delete(auth.account.id, request.params.id))) throw new ApiError('not_found', `no contact ${request.params.id} in this account`);
      return reply.code(204).send(null);
    });

    app.post(
      '/v1/contacts/:id/merge',
      {
        schema: {
          summary: 'Merge duplicates into a contact',
          description: 'Joins the phones, e-mails and messenger ids of `contact_ids` into this contact, fills its blank names and attributes from them, keeps any refusal of consent and any block, and deletes them. All must be in the same project.',
          tags: ['contacts'],
          security,
          params: IdParams,
          body: Type.Object({ contact_ids: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 100, uniqueItems: true }) }, { additionalProperties: false }),
          response: { 200: ContactSchema, ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const others = request.body.contact_ids.filter((id) => id !== request.params.id);
        const merged = others.length === 0 ? await repo.get(auth.account.id, request.params.id) : await repo.merge(auth.account.id, request.params.id, others);
        if (!merged) throw new ApiError('not_found', 'the contact or one of contact_ids is not in this account, or not in the same project');
        return presentContact(merged);
      },
    );

    app.post(
      '/v1/contacts/import',
      {
        schema: {
          summary: 'Import contacts from a file',
          description:
            `Body: a CSV file (\`Content-Type: text/csv\`, \`,\` or \`;\` separated, UTF-8) or an XLSX workbook (\`${XLSX_TYPE}\`, its first sheet), at most 1 GiB and ${MAX_IMPORT_ROWS.toLocaleString('en')} rows, with a header row. ` +
            'Columns: guid, first_name, last_name, middle_name, gender, phones (or phone), emails (or email), time_zone, blocked, consent.<channel>, messenger.<name>, ' +
            'attributes/consent/messenger_ids as JSON, any other column a custom attribute (docs/contacts.md). A row whose guid the project has replaces that contact\'s columns the file has. ' +
            'Every row is checked first; if any is bad (a guid twice in the file too), nothing is imported and `invalid_import` lists the rows; a file past the size or the row limit is refused as soon as it passes it with 413 `import_too_large`. Otherwise all rows are written, all or nothing, and the answer waits for it: the same staged job as POST /v1/contacts/imports (which answers at once and suits large files).',
          tags: ['contacts'],
          security,
          querystring: Type.Object({ project_id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
          response: {
            200: Type.Object(
              { object: Type.Literal('contact_import'), rows: Type.Integer(), skipped_rows: Type.Integer({ description: 'rows with no value in any cell, not imported' }), created: Type.Integer(), updated: Type.Integer() },
              { examples: [{ object: 'contact_import', rows: 2, skipped_rows: 0, created: 1, updated: 1 }] },
            ),
            ...errors,
          },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const projectId = (await projectOf(auth.account.id, request.query.project_id)).id;
        // The same staged job as POST /v1/contacts/imports, waited for.
        const { job, applied } = await receive(request, auth, projectId);
        if (job.status === 'failed' && job.bad_rows === 0) throw new ApiError('invalid_import', job.error ?? 'the file cannot be read', [{ field: '(body)', issue: 'unreadable' }]);
        if (job.status === 'failed') throw new ApiError('invalid_import', `${job.bad_rows} bad row(s) (the first ${presentImport(job).problems.length} problems listed); nothing was imported`, presentImport(job).problems);
        await applied;
        const done = (await imports.repo.get(auth.account.id, job.id))!;
        if (done.status !== 'completed') throw new Error(`contact import ${job.id} is ${done.status}${done.error ? `: ${done.error}` : ''}`);
        return { object: 'contact_import' as const, rows: done.rows, skipped_rows: done.skipped_rows, created: done.created, updated: done.updated };
      },
    );

    app.get(
      '/v1/contacts/export',
      {
        schema: {
          summary: 'Export a project\'s contacts',
          description: 'Every contact of the project, oldest first, streamed as CSV (default) or XLSX; the import reads the file back.',
          tags: ['contacts'],
          security,
          querystring: Type.Object({ project_id: Type.String({ minLength: 1, maxLength: 64 }), format: Type.Optional(Type.Enum(['csv', 'xlsx'])) }, { additionalProperties: false }),
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const project = await projectOf(auth.account.id, request.query.project_id);
        const contacts = repo.stream(auth.account.id, project.id);
        if (request.query.format === 'xlsx') {
          reply.type(XLSX_TYPE).header('content-disposition', `attachment; filename="contacts-${project.number}.xlsx"`);
          return reply.send(xlsxExport(contacts));
        }
        reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="contacts-${project.number}.csv"`);
        return reply.send(Readable.from(csvExport(contacts)));
      },
    );
  };
}
