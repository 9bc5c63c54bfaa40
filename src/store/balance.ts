import { sql, type Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import type { DB, LedgerEntriesTable, PricesTable } from './schema.ts';

export const DEFAULT_CURRENCY = 'RUB';
export const LEDGER_KINDS = ['top_up', 'adjustment', 'reserve', 'charge', 'refund'] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

export type LedgerEntry = LedgerEntriesTable;
export type Price = PricesTable;

export interface Balance {
  currency: string;
  amount_minor: number;
  credit_limit_minor: number;
}

/** "12.5" or "-3.07" → minor units; undefined when it is not a decimal amount with at most two fraction digits. */
export function parseMoney(text: string): number | undefined {
  const m = /^(-)?(\d{1,12})(?:\.(\d{1,2}))?$/.exec(text.trim());
  if (!m) return undefined;
  const minor = Number(m[2]) * 100 + Number((m[3] ?? '').padEnd(2, '0'));
  return m[1] ? -minor : minor;
}

/** Minor units → "12.50" (API conventions: money as a decimal string). */
export function formatMoney(minor: number): string {
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/**
 * Each account's balance and its ledger: every movement of money is an entry
 * that records the balance after it, written in the same transaction as the
 * balance change. The price list is the platform's, by channel, operator and
 * traffic type (`*` matches any).
 */
export class BalanceRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async get(accountId: string): Promise<Balance> {
    const row = await this.#db.selectFrom('balances').select(['currency', 'amount_minor', 'credit_limit_minor']).where('account_id', '=', accountId).executeTakeFirst();
    return row ? { currency: row.currency, amount_minor: Number(row.amount_minor), credit_limit_minor: Number(row.credit_limit_minor) } : { currency: DEFAULT_CURRENCY, amount_minor: 0, credit_limit_minor: 0 };
  }

  /** Adds a (signed) movement to the balance and the ledger, atomically. */
  async post(accountId: string, entry: { kind: LedgerKind; amount_minor: number; note?: string | null; message_id?: string | null }, now = Date.now()): Promise<LedgerEntry> {
    return this.#db.transaction().execute(async (tx) => {
      await tx
        .insertInto('balances')
        .values({ account_id: accountId, currency: DEFAULT_CURRENCY, amount_minor: 0, credit_limit_minor: 0, updated_at: now })
        .onConflict((oc) => oc.column('account_id').doNothing())
        .execute();
      await tx
        .updateTable('balances')
        .set({ amount_minor: sql<number>`amount_minor + ${entry.amount_minor}`, updated_at: now })
        .where('account_id', '=', accountId)
        .execute();
      const after = await tx.selectFrom('balances').select('amount_minor').where('account_id', '=', accountId).executeTakeFirstOrThrow();
      const row: LedgerEntry = {
        id: newId('led', now),
        account_id: accountId,
        kind: entry.kind,
        amount_minor: entry.amount_minor,
        balance_after_minor: Number(after.amount_minor),
        message_id: entry.message_id ?? null,
        note: entry.note ?? null,
        created_at: now,
      };
      await tx.insertInto('ledger_entries').values(row).execute();
      return row;
    });
  }

  async setCreditLimit(accountId: string, creditLimitMinor: number, now = Date.now()): Promise<void> {
    await this.#db
      .insertInto('balances')
      .values({ account_id: accountId, currency: DEFAULT_CURRENCY, amount_minor: 0, credit_limit_minor: creditLimitMinor, updated_at: now })
      .onConflict((oc) => oc.column('account_id').doUpdateSet({ credit_limit_minor: creditLimitMinor, updated_at: now }))
      .execute();
  }

  async entries(accountId: string, options: { beforeId?: string | undefined; limit: number }): Promise<LedgerEntry[]> {
    let q = this.#db.selectFrom('ledger_entries').selectAll().where('account_id', '=', accountId);
    if (options.beforeId) q = q.where('id', '<', options.beforeId);
    return (await q.orderBy('id', 'desc').limit(options.limit).execute()).map((r) => ({ ...r, amount_minor: Number(r.amount_minor), balance_after_minor: Number(r.balance_after_minor) }));
  }

  async prices(): Promise<Price[]> {
    const rows = await this.#db.selectFrom('prices').selectAll().orderBy('channel').orderBy('operator').orderBy('traffic_type').execute();
    return rows.map((r) => ({ ...r, price_minor: Number(r.price_minor) }));
  }

  /** Sets the price of one (channel, operator, traffic type); `*` for any operator or traffic type. */
  async setPrice(price: { channel: string; operator: string; traffic_type: string; price_minor: number }, now = Date.now()): Promise<Price> {
    const row: Price = { id: newId('prc', now), ...price, currency: DEFAULT_CURRENCY, updated_at: now };
    await this.#db
      .insertInto('prices')
      .values(row)
      .onConflict((oc) => oc.columns(['channel', 'operator', 'traffic_type']).doUpdateSet({ price_minor: price.price_minor, updated_at: now }))
      .execute();
    return (await this.#db.selectFrom('prices').selectAll().where('channel', '=', price.channel).where('operator', '=', price.operator).where('traffic_type', '=', price.traffic_type).executeTakeFirstOrThrow());
  }

  /** The most specific price for a message: exact operator beats `*`, then exact traffic type beats `*`. */
  async priceFor(channel: string, operator: string | null, trafficType: string): Promise<Price | undefined> {
    const rows = await this.#db
      .selectFrom('prices')
      .selectAll()
      .where('channel', '=', channel)
      .where('operator', 'in', operator ? [operator, '*'] : ['*'])
      .where('traffic_type', 'in', [trafficType, '*'])
      .execute();
    const rank = (p: Price) => (p.operator === '*' ? 0 : 2) + (p.traffic_type === '*' ? 0 : 1);
    const best = rows.sort((a, b) => rank(b) - rank(a))[0];
    return best && { ...best, price_minor: Number(best.price_minor) };
  }
}
