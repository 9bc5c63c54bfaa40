import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type, type TSchema } from 'typebox';
import { ApiError } from '../../../errors.ts';
import { formatProblems, parsePorted } from '../../../sms/mno-csv.ts';
import { parseOperatorRef } from '../../../sms/mno.ts';
import { normalizePhone } from '../../../sms/phone.ts';
import type { PortedNumberRow } from '../../../store/mno.ts';
import { requireAdmin, requireAuth } from '../auth.ts';
import { encodeCursor } from '../cursor.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema } from '../schemas.ts';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

const OPERATOR_DESCRIPTION = 'operator code: `mts`, `megafon`, `beeline`, `t2`, or `inn_<INN>` for every other operator';

const RegistrySchema = Type.Object(
  {
    object: Type.Literal('mno_registry'),
    version: Nullable(Type.Integer({ description: 'the current registry version; null before the first import' })),
    source: Nullable(Type.String({ description: 'the file it was imported from' })),
    imported_at: Nullable(Type.String({ format: 'date-time' })),
    ranges: Type.Integer({ description: 'number ranges in the current version' }),
    operators: Type.Integer({ description: 'distinct operators (by INN) in the current version' }),
    ported_numbers: Type.Integer({ description: 'numbers in the ported-numbers table' }),
    loaded_version: Nullable(Type.Integer({ description: 'the version this server has in memory; it follows `version` within a few seconds of an import' })),
  },
  {
    additionalProperties: false,
    examples: [{ object: 'mno_registry', version: 3, source: 'DEF-9xx.csv', imported_at: '2026-11-23T15:00:00.000Z', ranges: 9677, operators: 85, ported_numbers: 2, loaded_version: 3 }],
  },
);

const LookupSchema = Type.Object(
  {
    object: Type.Literal('mno_lookup'),
    number: Type.String({ description: 'E.164' }),
    operator: Nullable(Type.String({ description: `${OPERATOR_DESCRIPTION}; null when neither the registry nor the ported numbers know the number` })),
    operator_name: Nullable(Type.String({ description: 'as the registry writes it' })),
    region: Nullable(Type.String()),
    ported: Type.Boolean({ description: 'true when the ported-numbers table gave the answer' }),
  },
  {
    additionalProperties: false,
    examples: [{ object: 'mno_lookup', number: '+79161234567', operator: 'mts', operator_name: 'ПАО "Мобильные ТелеСистемы"', region: 'г. Москва и Московская область', ported: false }],
  },
);

const PortedSchema = Type.Object(
  {
    object: Type.Literal('ported_number'),
    number: Type.String({ description: 'E.164' }),
    operator: Type.String({ description: OPERATOR_DESCRIPTION }),
    inn: Type.String(),
    operator_name: Nullable(Type.String({ description: 'as given; null: the registry\'s name for the operator is shown by lookups' })),
    region: Nullable(Type.String({ description: 'as given; null: lookups show the region of the number\'s range' })),
    updated_at: Type.String({ format: 'date-time' }),
  },
  {
    additionalProperties: false,
    examples: [{ object: 'ported_number', number: '+79161234567', operator: 'megafon', inn: '7812014560', operator_name: null, region: null, updated_at: '2026-11-23T15:00:00.000Z' }],
  },
);

const PortedBody = Type.Object(
  {
    operator: Type.String({ minLength: 1, maxLength: 64, description: 'an operator code (`megafon`, `inn_7743200179`) or an INN' }),
    operator_name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    region: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  { additionalProperties: false },
);

const NumberParams = Type.Object({ number: Type.String({ minLength: 1, maxLength: 64, description: 'the number in any common form' }) });

const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema };

const presentPorted = (r: PortedNumberRow) => ({
  object: 'ported_number' as const,
  number: `+${r.number}`,
  operator: r.operator,
  inn: r.inn,
  operator_name: r.operator_name,
  region: r.region,
  updated_at: new Date(r.updated_at).toISOString(),
});

/** E.164 digits without "+" of a number in any common form, or invalid_phone_number naming `field`. */
function digitsOf(request: FastifyRequest, input: string, field: string): string {
  const phone = normalizePhone(input, requireAuth(request).account.default_region);
  if (!phone.ok) throw new ApiError('invalid_phone_number', `"${input}" is not a valid phone number: ${phone.issue}`, [{ field, issue: phone.issue }]);
  return phone.e164.slice(1);
}

function decodeNumberCursor(cursor: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { b?: unknown };
    if (typeof parsed.b === 'string' && /^\d{1,15}$/.test(parsed.b)) return parsed.b;
  } catch {
    // fall through
  }
  throw new ApiError('invalid_cursor', 'cursor is not one this API returned; start again without it', [{ field: 'cursor', issue: 'malformed' }]);
}

/**
 * The operator of a number (docs/mno.md): the registry's state, lookups for
 * any key, and the ported-numbers table, which administrators change. Every
 * change reaches this server's in-memory lookup before the answer.
 */
export function mnoRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const repo = deps.mno.repository;
  return async (app) => {
    // The import endpoint takes the CSV file as it is; the rest of the API stays JSON only.
    // At most 16 MiB (some 600,000 rows): parsing and writing run on the thread that accepts messages; larger files go through the CLI.
    app.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: 16 * 1024 * 1024 }, (_request, body, done) => done(null, body));

    app.get(
      '/v1/mno/registry',
      {
        schema: {
          summary: 'The numbering-plan registry',
          description: 'The current version of the imported registry (`depesha mno import <file>`), its counts, and the version this server has loaded.',
          tags: ['mno'],
          security,
          response: { 200: RegistrySchema, 401: ErrorSchema },
        },
      },
      async (request) => {
        requireAuth(request);
        const [current, ported] = await Promise.all([repo.current(), repo.countPorted()]);
        return {
          object: 'mno_registry' as const,
          version: current?.version ?? null,
          source: current?.source ?? null,
          imported_at: current ? new Date(current.imported_at).toISOString() : null,
          ranges: current?.ranges ?? 0,
          operators: current?.operators ?? 0,
          ported_numbers: ported,
          loaded_version: deps.mno.loaded.registryVersion,
        };
      },
    );

    app.get(
      '/v1/mno/lookup',
      {
        schema: {
          summary: 'The operator of a number',
          description: 'What a message to the number would record as its operator and region now: the ported-numbers table first, then the registry.',
          tags: ['mno'],
          security,
          querystring: Type.Object({ number: Type.String({ minLength: 1, maxLength: 64, description: 'any common form', examples: ['+79161234567'] }) }, { additionalProperties: false }),
          response: { 200: LookupSchema, ...errors },
        },
      },
      async (request) => {
        const digits = digitsOf(request, request.query.number, 'number');
        const info = deps.mno.lookup(digits);
        return { object: 'mno_lookup' as const, number: `+${digits}`, operator: info?.operator ?? null, operator_name: info?.operatorName ?? null, region: info?.region ?? null, ported: info?.ported ?? false };
      },
    );

    app.get(
      '/v1/ported-numbers',
      {
        schema: {
          summary: 'Ported numbers',
          description: 'In number order, cursor-paginated. Needs an administrator API key.',
          tags: ['mno'],
          security,
          querystring: Type.Object(
            { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })), cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ data: Type.Array(PortedSchema), next_cursor: Nullable(Type.String()) }), ...errors },
        },
      },
      async (request) => {
        requireAdmin(request);
        const limit = request.query.limit ?? 50;
        const rows = await repo.listPorted({ afterNumber: request.query.cursor === undefined ? undefined : decodeNumberCursor(request.query.cursor), limit: limit + 1 });
        const page = rows.slice(0, limit);
        return { data: page.map(presentPorted), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.number) : null };
      },
    );

    app.get(
      '/v1/ported-numbers/:number',
      {
        schema: { summary: 'A ported number', description: 'Needs an administrator API key.', tags: ['mno'], security, params: NumberParams, response: { 200: PortedSchema, ...errors } },
      },
      async (request) => {
        requireAdmin(request);
        const row = await repo.getPorted(digitsOf(request, request.params.number, 'number'));
        if (!row) throw new ApiError('not_found', `${request.params.number} is not in the ported-numbers table`);
        return presentPorted(row);
      },
    );

    app.put(
      '/v1/ported-numbers/:number',
      {
        schema: {
          summary: 'Add or change a ported number',
          description: 'The number now belongs to `operator`, whatever the registry says. Messages accepted after the answer record it. Needs an administrator API key.',
          tags: ['mno'],
          security,
          params: NumberParams,
          body: PortedBody,
          response: { 200: PortedSchema, 201: PortedSchema, ...errors },
        },
      },
      async (request, reply) => {
        requireAdmin(request);
        const number = digitsOf(request, request.params.number, 'number');
        const ref = parseOperatorRef(request.body.operator);
        if (!ref) {
          throw new ApiError('unknown_operator', `operator "${request.body.operator}" is neither an operator code (mts, megafon, beeline, t2, inn_<INN>) nor an INN`, [
            { field: 'operator', issue: 'not an operator code or INN' },
          ]);
        }
        const row: PortedNumberRow = { number, operator: ref.operator, inn: ref.inn, operator_name: request.body.operator_name ?? null, region: request.body.region ?? null, updated_at: Date.now() };
        const { revision, created } = await repo.putPorted(row);
        await deps.mno.portedChanged(revision, number, { operator: row.operator, operatorName: row.operator_name, region: row.region });
        return reply.code(created ? 201 : 200).send(presentPorted(row));
      },
    );

    app.delete(
      '/v1/ported-numbers/:number',
      {
        schema: {
          summary: 'Remove a ported number',
          description: 'The registry gives the number\'s operator again. Needs an administrator API key.',
          tags: ['mno'],
          security,
          params: NumberParams,
          response: { 204: Type.Null(), ...errors },
        },
      },
      async (request, reply) => {
        requireAdmin(request);
        const number = digitsOf(request, request.params.number, 'number');
        const revision = await repo.deletePorted(number);
        if (revision === null) throw new ApiError('not_found', `${request.params.number} is not in the ported-numbers table`);
        await deps.mno.portedChanged(revision, number, null);
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/v1/ported-numbers/import',
      {
        schema: {
          summary: 'Import ported numbers from CSV',
          description:
            'Body: `Content-Type: text/csv`, at most 16 MiB, rows `number;operator[;operator_name[;region]]` (docs/mno.md), an optional header row. ' +
            'All or nothing: a file with a bad row is refused with every bad line in `details`. `replace=true` empties the table first (a full snapshot); ' +
            'otherwise rows are added or replaced. Repeating an import gives the same table, so it needs no `Idempotency-Key`. Needs an administrator API key.',
          tags: ['mno'],
          security,
          querystring: Type.Object({ replace: Type.Optional(Type.Boolean({ default: false })) }, { additionalProperties: false }),
          body: Type.String({ description: 'the CSV file' }),
          response: {
            200: Type.Object({ imported: Type.Integer({ description: 'rows in the file' }), total: Type.Integer({ description: 'ported numbers in the table now' }), replaced: Type.Boolean() }, { additionalProperties: false }),
            ...errors,
            413: ErrorSchema,
            415: ErrorSchema,
          },
        },
      },
      async (request) => {
        const auth = requireAdmin(request);
        const parsed = parsePorted(request.body, auth.account.default_region);
        if (!parsed.ok) {
          throw new ApiError(
            'invalid_csv',
            `${parsed.problems.length} bad rows; nothing was imported:\n${formatProblems(parsed.problems, 20)}`,
            parsed.problems.slice(0, 1000).map((p) => ({ field: `line ${p.line}`, issue: p.issue })),
          );
        }
        const now = Date.now();
        const replace = request.query.replace ?? false;
        const { total } = await repo.importPorted(
          parsed.rows.map((r) => ({ number: r.number, operator: r.operator, inn: r.inn, operator_name: r.operatorName, region: r.region, updated_at: now })),
          { replace },
          now,
        );
        await deps.mno.refresh();
        return { imported: parsed.rows.length, total, replaced: replace };
      },
    );
  };
}
