import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiError, type ErrorDetail } from '../../../errors.ts';
import { newId } from '../../../domain/ids.ts';
import { findNul, nulDetail } from '../../../domain/nul.ts';
import { acceptContext, prepareMessage, type AcceptContext, type SendRequest } from '../../../pipeline/accept.ts';
import { prepareCascade } from '../../../pipeline/cascade.ts';
import type { Account } from '../../../store/accounts.ts';
import { CascadesRepository, type CascadeRow } from '../../../store/cascades.ts';
import { affordable } from '../../../pipeline/billing.ts';
import { BalanceRepository } from '../../../store/balance.ts';
import { normalizePhone } from '../../../sms/phone.ts';
import type { BatchRow, MessageRow } from '../../../store/messages.ts';
import { ProjectsRepository } from '../../../store/projects.ts';
import { requireAuth } from '../auth.ts';
import { projectScope } from '../message-projects.ts';
import type { HttpDeps } from '../deps.ts';
import { detailsFromAjv } from '../errors.ts';
import { underIdempotencyKey } from '../idempotency.ts';
import { presentBatch, presentMessage } from '../present.ts';
import {
  BatchSchema,
  BulkBodySchema,
  BulkResultSchema,
  ErrorSchema,
  IdParams,
  ListMessagesQuery,
  MAX_BULK_ITEMS,
  MessageListSchema,
  MessageSchema,
  SendMessageSchema,
} from '../schemas.ts';
import type { ValidateFunction } from 'ajv';
import { decodeCursor, encodeCursor } from '../cursor.ts';

const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 413: ErrorSchema, 422: ErrorSchema };
const security = [{ bearerAuth: [] }];

/** One message, or a cascade (its parent, first step and cascade row): the rows to store and the one to answer with. */
type PreparedSend = { ok: true; rows: MessageRow[]; head: MessageRow; cascade: CascadeRow | undefined } | { ok: false; error: ApiError };

function prepareSend(deps: HttpDeps, account: Account, req: SendRequest, now: number, batchId: string | null, context: AcceptContext, prefix = ''): PreparedSend {
  if (req.cascade === undefined) {
    const p = prepareMessage(account, req, now, batchId, context, prefix);
    return p.ok ? { ok: true, rows: [p.row], head: p.row, cascade: undefined } : p;
  }
  const known = new Set(deps.delivery.connectors().map((c) => c.id));
  const c = prepareCascade(account, req, now, batchId, context, prefix, (id) => known.has(id));
  return c.ok ? { ok: true, rows: [c.parent, c.first], head: c.parent, cascade: c.cascade } : c;
}

export function messagesRoutes(deps: HttpDeps, validateItem: ValidateFunction): FastifyPluginAsyncTypebox {
  const balances = new BalanceRepository(deps.database.db);
  const cascades = new CascadesRepository(deps.database.db);
  const projects = new ProjectsRepository(deps.database.db);
  return async (app) => {
    app.post(
      '/v1/messages',
      {
        schema: {
          summary: 'Send one message',
          description: 'Stores the message durably, then answers 202; delivery continues in the background. Supports `Idempotency-Key`.',
          tags: ['messages'],
          security,
          headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ description: 'repeat-safe key, 24 h' })) }),
          body: SendMessageSchema,
          response: { 202: MessageSchema, ...errors },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        return underIdempotencyKey(deps.idempotency, request, reply, auth.account.id, async (idem) => {
          const now = Date.now();
          const scoped = (await projectScope(projects, auth, [request.body.project])).apply(request.body);
          if (!scoped.ok) throw scoped.error;
          const prepared = prepareSend(deps, auth.account, scoped.req, now, null, await acceptContext(auth.account, deps));
          if (!prepared.ok) throw prepared.error;
          const body = presentMessage(prepared.head);
          await deps.delivery.accept({ messages: prepared.rows, ...(prepared.cascade ? { cascades: [prepared.cascade] } : {}), idempotency: idem && { ...idem, status: 202, body: JSON.stringify(body) } });
          deps.metrics.messagesAccepted.inc();
          return reply.code(202).send(body);
        });
      },
    );

    app.post(
      '/v1/messages/bulk',
      {
        bodyLimit: 32 * 1024 * 1024,
        schema: {
          summary: 'Send many messages',
          description: `Either \`{"messages":[…]}\` (each with its own text) or \`{"to":[…],"text":…}\` (one text, many numbers); up to ${MAX_BULK_ITEMS} items. Every valid item is accepted; every invalid one is listed in \`errors\` with its index. Supports \`Idempotency-Key\`.`,
          tags: ['messages'],
          security,
          headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ description: 'repeat-safe key, 24 h' })) }),
          body: BulkBodySchema,
          response: { 202: BulkResultSchema, ...errors },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const now = Date.now();
        const body = request.body;
        const items: { raw: unknown; prefix: string }[] =
          'messages' in body
            ? body.messages.map((raw, i) => ({ raw, prefix: `messages.${i}` }))
            : body.to.map((to, i) => ({ raw: { ...body, to }, prefix: `to.${i}` }));
        if (items.length > MAX_BULK_ITEMS) {
          throw new ApiError('too_many_items', `${items.length} items; at most ${MAX_BULK_ITEMS} per request`, [{ field: 'messages' in body ? 'messages' : 'to', issue: `at most ${MAX_BULK_ITEMS} items` }]);
        }
        // A repeat is answered before the balance is looked at: the first request may have spent it.
        return underIdempotencyKey(deps.idempotency, request, reply, auth.account.id, async (idem) => {
          const batchId = newId('bat', now);
          const context = await acceptContext(auth.account, deps);
          const scope = await projectScope(projects, auth, items.map(({ raw }) => (raw as { project?: unknown }).project));
          const rows: MessageRow[] = [];
          const cascadeRows: CascadeRow[] = [];
          const accepted: { index: number; id: string; to: string; status: 'accepted'; parts_count: number; encoding: string; reference: string | null }[] = [];
          const rejected: { index: number; code: string; message: string; details: ErrorDetail[] }[] = [];
          items.forEach(({ raw, prefix }, index) => {
            // In the one-text form only the number varies, so problems are reported on `to.N`.
            const oneText = !('messages' in body);
            if (!validateItem(raw)) {
              const details = detailsFromAjv(validateItem.errors ?? [], oneText ? '' : prefix).map((d) => (oneText && d.field === 'to' ? { ...d, field: prefix } : d));
              rejected.push({ index, code: 'validation_failed', message: details.map((d) => `${d.field} ${d.issue}`).join('; '), details });
              return;
            }
            const nul = findNul(raw);
            if (nul !== undefined) {
              const detail = nulDetail(oneText ? (nul === 'to' ? prefix : nul) : `${prefix}.${nul}`);
              rejected.push({ index, code: 'validation_failed', message: `${detail.field} ${detail.issue}`, details: [detail] });
              return;
            }
            const scoped = scope.apply(raw as SendRequest, oneText ? '' : `${prefix}.`);
            if (!scoped.ok) {
              rejected.push({ index, code: scoped.error.code, message: scoped.error.message, details: scoped.error.details });
              return;
            }
            const p = prepareSend(deps, auth.account, scoped.req, now, batchId, context, oneText ? '' : `${prefix}.`);
            if (!p.ok) {
              const details = oneText ? p.error.details.map((d) => (d.field === 'to' ? { ...d, field: prefix } : d)) : p.error.details;
              rejected.push({ index, code: p.error.code, message: p.error.message, details });
              return;
            }
            rows.push(...p.rows);
            if (p.cascade) cascadeRows.push(p.cascade);
            const h = p.head;
            accepted.push({ index, id: h.id, to: h.recipient, status: 'accepted', parts_count: h.parts_count, encoding: h.encoding, reference: h.reference });
          });
          if (rows.some((r) => r.price_minor)) {
            // Items beyond what the account can pay are refused like invalid ones; the rest go. A cascade
            // is one item: its parent is free, its first step is what is reserved.
            const { refused } = await affordable(balances, auth.account.id, rows);
            const dropped = new Set<string>();
            for (const [row, error] of refused) {
              const head = row.parent_id ?? row.id;
              if (dropped.has(head)) continue;
              dropped.add(head);
              const at = accepted.findIndex((a) => a.id === head);
              rejected.push({ index: accepted[at]!.index, code: error.code, message: error.message, details: error.details });
              accepted.splice(at, 1);
            }
            if (dropped.size > 0) {
              for (let i = rows.length - 1; i >= 0; i--) if (dropped.has(rows[i]!.parent_id ?? rows[i]!.id)) rows.splice(i, 1);
              for (let i = cascadeRows.length - 1; i >= 0; i--) if (dropped.has(cascadeRows[i]!.id)) cascadeRows.splice(i, 1);
            }
            rejected.sort((x, y) => x.index - y.index);
            if (accepted.length === 0 && rejected.every((r) => r.code === 'insufficient_balance')) {
              throw new ApiError('insufficient_balance', `the balance does not cover any of the ${items.length} items; nothing was sent: top up the balance`, rejected.map((r) => ({ field: `${'messages' in body ? 'messages' : 'to'}.${r.index}`, issue: r.details[0]?.issue ?? 'not covered by the balance' })));
            }
          }
          if (accepted.length === 0) {
            const details = rejected.flatMap((r) => r.details.map((d) => ({ field: d.field, issue: d.issue })));
            throw new ApiError('bulk_all_invalid', `none of the ${items.length} items is valid; nothing was sent`, details);
          }
          const batch: BatchRow = { id: batchId, account_id: auth.account.id, total: items.length, accepted: accepted.length, rejected: rejected.length, created_at: now };
          const result = { batch_id: batchId, accepted: accepted.length, rejected: rejected.length, messages: accepted, errors: rejected };
          await deps.delivery.accept({ messages: rows, batch, ...(cascadeRows.length > 0 ? { cascades: cascadeRows } : {}), idempotency: idem && { ...idem, status: 202, body: JSON.stringify(result) } });
          deps.metrics.messagesAccepted.inc(accepted.length);
          return reply.code(202).send(result);
        });
      },
    );

    app.get(
      '/v1/messages',
      {
        schema: {
          summary: 'Search message history',
          description: 'Newest first, cursor-paginated. Filters combine; `since`/`until` bound the period (inclusive).',
          tags: ['messages'],
          security,
          querystring: ListMessagesQuery,
          response: { 200: MessageListSchema, ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const q = request.query;
        let recipient: string | undefined;
        if (q.to !== undefined) {
          const phone = normalizePhone(q.to, auth.account.default_region);
          if (!phone.ok) throw new ApiError('invalid_phone_number', `"${q.to}" is not a valid phone number: ${phone.issue}`, [{ field: 'to', issue: phone.issue }]);
          recipient = phone.e164;
        }
        const since = q.since === undefined ? undefined : Date.parse(q.since);
        const until = q.until === undefined ? undefined : Date.parse(q.until);
        if (since !== undefined && until !== undefined && since > until) {
          throw new ApiError('invalid_period', '`since` is after `until`', [{ field: 'since', issue: 'must not be after until' }]);
        }
        const limit = q.limit ?? 50;
        const rows = await deps.messages.list(auth.account.id, {
          recipient,
          group: q.group,
          project: q.project,
          status: q.status,
          batchId: q.batch_id,
          operator: q.operator,
          since,
          until,
          beforeId: q.cursor === undefined ? undefined : decodeCursor(q.cursor, 'msg'),
          limit: limit + 1,
        });
        const page = rows.slice(0, limit);
        return { data: page.map((r) => presentMessage(r)), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );

    app.get(
      '/v1/messages/:id',
      {
        schema: {
          summary: 'Get a message',
          description: 'The message with its parts and its status timeline.',
          tags: ['messages'],
          security,
          params: IdParams,
          response: { 200: MessageSchema, ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const row = await deps.messages.get(auth.account.id, request.params.id);
        if (!row) throw new ApiError('not_found', `no message ${request.params.id} in this account`);
        const [parts, events] = await Promise.all([deps.messages.parts(auth.account.id, row.id), deps.messages.events(auth.account.id, row.id)]);
        const cascade = row.cascade_step === 0 ? await cascades.get(auth.account.id, row.id) : undefined;
        if (!cascade) return presentMessage(row, { parts, events });
        const children = await cascades.children(auth.account.id, row.id);
        const childEvents = (await Promise.all(children.map((c) => deps.messages.events(auth.account.id, c.id)))).flat();
        return presentMessage(row, { parts: [], events, cascade: { row: cascade, children, childEvents } });
      },
    );

    app.post(
      '/v1/messages/:id/cancel',
      {
        schema: {
          summary: 'Cancel a message',
          description: 'Cancels a message that is not sent yet: `accepted` (waiting for dispatch or its `send_at`) or `queued` while it waits for a retry. It becomes `cancelled` with reason `cancelled_by_client`; the answer is the message. A message a sender holds, or one sent or finished, is refused with `409 message_not_cancellable`.',
          tags: ['messages'],
          security,
          params: IdParams,
          response: { 200: MessageSchema, ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const id = request.params.id;
        const result = await deps.delivery.cancel(auth.account.id, id);
        if (result.outcome === 'not_found') throw new ApiError('not_found', `no message ${id} in this account`);
        if (result.outcome === 'not_cancellable') {
          const why = result.leased ? 'a sender is handing it to the operator now' : `it is ${result.status}`;
          throw new ApiError('message_not_cancellable', `message ${id} cannot be cancelled: ${why}`, [{ field: 'status', issue: result.status }]);
        }
        const row = await deps.messages.get(auth.account.id, id);
        if (!row) throw new ApiError('not_found', `no message ${id} in this account`);
        return presentMessage(row);
      },
    );

    app.get(
      '/v1/batches/:id',
      {
        schema: {
          summary: 'Get a batch',
          description: 'A bulk request: how many items it had, how many were accepted, and its messages counted by current status.',
          tags: ['messages'],
          security,
          params: IdParams,
          response: { 200: BatchSchema, ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const batch = await deps.messages.getBatch(auth.account.id, request.params.id);
        if (!batch) throw new ApiError('not_found', `no batch ${request.params.id} in this account`);
        const counts = await deps.messages.countBatchByStatus(auth.account.id, batch.id);
        return presentBatch(batch, counts);
      },
    );
  };
}
