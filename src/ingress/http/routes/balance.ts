import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiError } from '../../../errors.ts';
import { BalanceRepository, formatMoney, parseMoney, type Balance, type LedgerEntry, type Price } from '../../../store/balance.ts';
import { requireAdmin, requireAuth } from '../auth.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { HttpDeps } from '../deps.ts';
import { ErrorSchema } from '../schemas.ts';
import { TEMPLATE_CHANNELS } from './templates.ts';

const Money = Type.String({ pattern: '^-?\\d{1,12}(\\.\\d{1,2})?$', description: 'a decimal amount', examples: ['100.00'] });

const BalanceSchema = Type.Object(
  { object: Type.Literal('balance'), account_id: Type.String(), amount: Type.String(), credit_limit: Type.String(), available: Type.String({ description: 'amount plus credit limit' }), currency: Type.String() },
  { additionalProperties: false, examples: [{ object: 'balance', account_id: 'acc_01KB2Z0A1B2C3D4E5F6G7H8J9K', amount: '97.90', credit_limit: '0.00', available: '97.90', currency: 'RUB' }] },
);

const EntrySchema = Type.Object(
  { id: Type.String(), object: Type.Literal('ledger_entry'), kind: Type.String(), amount: Type.String(), balance_after: Type.String(), currency: Type.String(), message_id: Type.Union([Type.String(), Type.Null()]), note: Type.Union([Type.String(), Type.Null()]), created_at: Type.String({ format: 'date-time' }) },
  { additionalProperties: false, examples: [{ id: 'led_01KB2Z8E3F0R7Q4P3N2M1L0K9J', object: 'ledger_entry', kind: 'top_up', amount: '100.00', balance_after: '100.00', currency: 'RUB', message_id: null, note: 'invoice 17', created_at: '2026-12-01T10:00:00.000Z' }] },
);

const PriceSchema = Type.Object(
  { object: Type.Literal('price'), account_id: Type.Union([Type.String(), Type.Null()], { description: 'the account the price is for; null: the platform\'s price list' }), channel: Type.String(), operator: Type.String(), traffic_type: Type.String(), price: Type.String(), currency: Type.String(), updated_at: Type.String({ format: 'date-time' }) },
  { additionalProperties: false, examples: [{ object: 'price', account_id: null, channel: 'sms', operator: '*', traffic_type: '*', price: '2.08', currency: 'RUB', updated_at: '2026-12-01T10:00:00.000Z' }] },
);

const presentEntry = (e: LedgerEntry) => ({
  id: e.id,
  object: 'ledger_entry' as const,
  kind: e.kind,
  amount: formatMoney(e.amount_minor),
  balance_after: formatMoney(e.balance_after_minor),
  currency: 'RUB',
  message_id: e.message_id,
  note: e.note,
  created_at: new Date(e.created_at).toISOString(),
});
const presentPrice = (p: Price) => ({ object: 'price' as const, account_id: p.account_id === '*' ? null : p.account_id, channel: p.channel, operator: p.operator, traffic_type: p.traffic_type, price: formatMoney(p.price_minor), currency: p.currency, updated_at: new Date(p.updated_at).toISOString() });

const presentBalance = (accountId: string, b: Balance) => ({
  object: 'balance' as const,
  account_id: accountId,
  amount: formatMoney(b.amount_minor),
  credit_limit: formatMoney(b.credit_limit_minor),
  available: formatMoney(b.amount_minor + b.credit_limit_minor),
  currency: b.currency,
});

const security = [{ bearerAuth: [] }];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 422: ErrorSchema };
const AccountQuery = Type.Object({ account_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'another account (administrator keys only)' })) }, { additionalProperties: false });

/** The account's balance and ledger, and the platform's price list (administrators change both). */
export function balanceRoutes(deps: HttpDeps): FastifyPluginAsyncTypebox {
  const repo = new BalanceRepository(deps.database.db);
  return async (app) => {
    app.get('/v1/balance', { schema: { summary: 'Get the balance', tags: ['balance'], security, querystring: AccountQuery, response: { 200: BalanceSchema, ...errors } } }, async (request) => {
      const auth = request.query.account_id === undefined ? requireAuth(request) : requireAdmin(request);
      const accountId = request.query.account_id ?? auth.account.id;
      return presentBalance(accountId, await repo.get(accountId));
    });

    app.get(
      '/v1/balance/entries',
      {
        schema: {
          summary: 'List ledger entries',
          description: 'Every movement of the balance, newest first.',
          tags: ['balance'],
          security,
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })), cursor: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ data: Type.Array(EntrySchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }), ...errors },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const limit = request.query.limit ?? 50;
        const rows = await repo.entries(auth.account.id, { beforeId: request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, 'led'), limit: limit + 1 });
        const page = rows.slice(0, limit);
        return { data: page.map(presentEntry), next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null };
      },
    );

    app.post(
      '/v1/balance/entries',
      {
        schema: {
          summary: 'Top up or adjust a balance',
          description: 'Adds a signed amount to an account\'s balance as a ledger entry. Needs an administrator API key.',
          tags: ['balance'],
          security,
          body: Type.Object(
            { account_id: Type.String({ minLength: 1, maxLength: 64 }), kind: Type.Enum(['top_up', 'adjustment']), amount: Money, note: Type.Optional(Type.String({ maxLength: 500 })) },
            { additionalProperties: false, examples: [{ account_id: 'acc_01KB2Z0A1B2C3D4E5F6G7H8J9K', kind: 'top_up', amount: '100.00', note: 'invoice 17' }] },
          ),
          response: { 201: EntrySchema, ...errors },
        },
      },
      async (request, reply) => {
        requireAdmin(request);
        const b = request.body;
        if (!(await deps.accounts.getAccount(b.account_id))) throw new ApiError('unknown_account', `no account ${b.account_id}`, [{ field: 'account_id', issue: 'names no account' }]);
        const entry = await repo.post(b.account_id, { kind: b.kind, amount_minor: parseMoney(b.amount)!, note: b.note ?? null });
        return reply.code(201).send(presentEntry(entry));
      },
    );

    app.get(
      '/v1/prices',
      {
        schema: {
          summary: 'List prices',
          description: 'The platform\'s price list and the caller\'s account\'s own prices (which win over it); an administrator may name another account.',
          tags: ['balance'],
          security,
          querystring: AccountQuery,
          response: { 200: Type.Object({ data: Type.Array(PriceSchema), next_cursor: Type.Null() }), ...errors },
        },
      },
      async (request) => {
        const auth = request.query.account_id === undefined ? requireAuth(request) : requireAdmin(request);
        return { data: (await repo.prices(request.query.account_id ?? auth.account.id)).map(presentPrice), next_cursor: null };
      },
    );

    app.put(
      '/v1/balance/credit-limit',
      {
        schema: {
          summary: 'Set a credit limit',
          description: 'How far below zero the account\'s balance may go: sending is refused with `insufficient_balance` when the balance plus this limit does not cover a message. Needs an administrator API key.',
          tags: ['balance'],
          security,
          body: Type.Object({ account_id: Type.String({ minLength: 1, maxLength: 64 }), credit_limit: Type.String({ pattern: '^\\d{1,9}(\\.\\d{1,2})?$' }) }, { additionalProperties: false, examples: [{ account_id: 'acc_01KB2Z0A1B2C3D4E5F6G7H8J9K', credit_limit: '500.00' }] }),
          response: { 200: BalanceSchema, ...errors },
        },
      },
      async (request) => {
        requireAdmin(request);
        const b = request.body;
        if (!(await deps.accounts.getAccount(b.account_id))) throw new ApiError('unknown_account', `no account ${b.account_id}`, [{ field: 'account_id', issue: 'names no account' }]);
        await repo.setCreditLimit(b.account_id, parseMoney(b.credit_limit)!);
        return presentBalance(b.account_id, await repo.get(b.account_id));
      },
    );

    app.put(
      '/v1/prices',
      {
        schema: {
          summary: 'Set a price',
          description: 'The price of one message (one SMS part) by channel, operator and traffic type, for the platform or (with `account_id`) one account; `*` matches any operator or traffic type, `template` is the price of a text that matched an approved template; the most specific price applies (docs/balance.md). Needs an administrator API key.',
          tags: ['balance'],
          security,
          body: Type.Object(
            {
              account_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'the account\'s own price; absent: the platform\'s price list' })),
              channel: Type.Enum([...TEMPLATE_CHANNELS]),
              operator: Type.String({ pattern: '^([a-z0-9_]{1,64}|\\*)$', default: '*' }),
              traffic_type: Type.Enum(['service', 'transactional', 'advertising', 'informational', 'template', '*'], { default: '*' }),
              price: Type.String({ pattern: '^\\d{1,9}(\\.\\d{1,2})?$' }),
            },
            { additionalProperties: false, examples: [{ channel: 'sms', operator: '*', traffic_type: '*', price: '2.08' }] },
          ),
          response: { 200: PriceSchema, ...errors },
        },
      },
      async (request) => {
        requireAdmin(request);
        const b = request.body;
        if (b.account_id !== undefined && !(await deps.accounts.getAccount(b.account_id))) throw new ApiError('unknown_account', `no account ${b.account_id}`, [{ field: 'account_id', issue: 'names no account' }]);
        const price = await repo.setPrice({ account_id: b.account_id, channel: b.channel, operator: b.operator, traffic_type: b.traffic_type, price_minor: parseMoney(b.price)! });
        deps.billing.prices.invalidate();
        // The delivery side prices the mailings' messages: it reads the list again too (every node, in a cluster).
        await deps.delivery.reload();
        return presentPrice(price);
      },
    );
  };
}
