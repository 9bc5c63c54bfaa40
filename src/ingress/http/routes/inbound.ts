import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiError } from '../../../errors.ts';
import { InboundRepository, NumberTakenError } from '../../../store/inbound.ts';
import { requireAdmin, requireAuth } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { HttpDeps } from '../deps.ts';
import { presentInbound } from '../present.ts';
import { ErrorSchema } from '../schemas.ts';

const NumberSchema = Type.Object(
  { number: Type.String({ description: 'digits only: E.164 without "+", or a short code' }), account_id: Type.String(), created_at: Type.String({ format: 'date-time' }) },
  { additionalProperties: false, examples: [{ number: '79160000001', account_id: 'acc_01KAT0TESTACCOUNT00000000', created_at: '2026-11-23T15:00:00.000Z' }] },
);

const InboundSchema = Type.Object(
  {
    id: Type.String(),
    from: Type.String({ description: 'the sender, E.164 when it is a phone number' }),
    to: Type.String({ description: 'our number it was sent to' }),
    text: Type.String(),
    complete: Type.Boolean({ description: 'false: not every part arrived in time; `text` holds the parts that came' }),
    parts_expected: Type.Integer(),
    parts_received: Type.Integer(),
    connector_id: Type.String(),
    received_at: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);

const security = [{ bearerAuth: [] }];

/** Numbers accounts receive on, and the messages subscribers send to them (MO). */
export function inboundRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const repo = new InboundRepository(deps.database.db);
  return async (app) => {
    app.get(
      '/v1/inbound-messages',
      {
        schema: {
          summary: 'Inbound messages',
          description: 'Messages subscribers sent to the account\'s numbers, newest first. Long messages are reassembled from their parts.',
          tags: ['inbound'],
          security,
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })), cursor: Type.Optional(Type.String()) }, { additionalProperties: false }),
          response: { 200: Type.Object({ data: Type.Array(InboundSchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), 400: ErrorSchema, 401: ErrorSchema },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const limit = request.query.limit ?? 50;
        const beforeId = request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, 'inb');
        const rows = await repo.listMessages(auth.account.id, { beforeId, limit: limit + 1 });
        const page = rows.slice(0, limit);
        return { data: page.map(presentInbound), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );

    app.get(
      '/v1/numbers',
      {
        schema: { summary: "The account's numbers", tags: ['inbound'], security, response: { 200: Type.Object({ data: Type.Array(NumberSchema), next_cursor: Type.Null() }), 401: ErrorSchema } },
      },
      async (request) => {
        const auth = requireAuth(request);
        const rows = await repo.listNumbers(auth.account.id);
        return { data: rows.map((r) => ({ number: r.number, account_id: r.account_id, created_at: new Date(r.created_at).toISOString() })), next_cursor: null };
      },
    );

    app.post(
      '/v1/numbers',
      {
        schema: {
          summary: 'Assign a number to an account',
          description: 'Inbound messages to the number are stored under the account. Needs an administrator API key.',
          tags: ['inbound'],
          security,
          body: Type.Object(
            { number: Type.String({ pattern: '^\\+?[0-9]{3,15}$', description: 'E.164 (with or without "+") or a short code' }), account_id: Type.String({ minLength: 1, maxLength: 64 }) },
            { additionalProperties: false },
          ),
          response: { 201: NumberSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema },
        },
      },
      async (request, reply) => {
        requireAdmin(request);
        const number = request.body.number.replace(/^\+/, '');
        if (!(await deps.accounts.getAccount(request.body.account_id))) {
          throw new ApiError('unknown_account', `no account ${request.body.account_id}`, [{ field: 'account_id', issue: 'no such account' }]);
        }
        try {
          const row = await repo.assignNumber(number, request.body.account_id);
          return reply.code(201).send({ number: row.number, account_id: row.account_id, created_at: new Date(row.created_at).toISOString() });
        } catch (err) {
          if (err instanceof NumberTakenError) throw new ApiError('number_taken', `number ${number} is assigned already; release it first`, [{ field: 'number', issue: 'assigned already' }]);
          throw err;
        }
      },
    );

    app.delete(
      '/v1/numbers/:number',
      {
        schema: {
          summary: 'Release a number',
          description: 'Inbound messages to it are kept without an account from now on. Needs an administrator API key.',
          tags: ['inbound'],
          security,
          params: Type.Object({ number: Type.String() }),
          response: { 204: Type.Null(), 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema },
        },
      },
      async (request, reply) => {
        requireAdmin(request);
        if (!(await repo.releaseNumber(request.params.number.replace(/^\+/, '')))) throw new ApiError('not_found', `number ${request.params.number} is not assigned`);
        return reply.code(204).send(null);
      },
    );
  };
}
