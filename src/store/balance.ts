import { sql, type Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import type { DB, LedgerEntriesTable, PricesTable } from './schema.ts';
import { insertChunks } from './shapes.ts';

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

  /** The platform's price list (`account_id` `*`) and, with an account, that account's own prices too. */
  async prices(accountId?: string): Promise<Price[]> {
    const rows = await this.#db
      .selectFrom('prices')
      .selectAll()
      .where('account_id', 'in', accountId === undefined ? ['*'] : ['*', accountId])
      .orderBy('account_id')
      .orderBy('channel')
      .orderBy('operator')
      .orderBy('traffic_type')
      .execute();
    return rows.map((r) => ({ ...r, price_minor: Number(r.price_minor) }));
  }

  /** Every price row of the platform and all accounts (the accept path's cache). */
  async allPrices(): Promise<Price[]> {
    return (await this.#db.selectFrom('prices').selectAll().execute()).map((r) => ({ ...r, price_minor: Number(r.price_minor) }));
  }

  /** Sets the price of one (account, channel, operator, traffic type); `*` for the platform's list, any operator or any traffic type. */
  async setPrice(price: { account_id?: string | undefined; channel: string; operator: string; traffic_type: string; price_minor: number }, now = Date.now()): Promise<Price> {
    const accountId = price.account_id ?? '*';
    const row: Price = { id: newId('prc', now), account_id: accountId, channel: price.channel, operator: price.operator, traffic_type: price.traffic_type, price_minor: price.price_minor, currency: DEFAULT_CURRENCY, updated_at: now };
    await this.#db
      .insertInto('prices')
      .values(row)
      .onConflict((oc) => oc.columns(['account_id', 'channel', 'operator', 'traffic_type']).doUpdateSet({ price_minor: price.price_minor, updated_at: now }))
      .execute();
    const stored = await this.#db
      .selectFrom('prices')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('channel', '=', price.channel)
      .where('operator', '=', price.operator)
      .where('traffic_type', '=', price.traffic_type)
      .executeTakeFirstOrThrow();
    return { ...stored, price_minor: Number(stored.price_minor) };
  }

  /** The price of one part of a message of the account (0 when nothing in the price list applies); see PriceList.priceFor. */
  async priceFor(accountId: string, channel: string, operator: string | null, trafficType: string, templated = false): Promise<number> {
    return new PriceList(await this.allPrices()).priceFor(accountId, channel, operator, trafficType, templated);
  }
}

/**
 * The price list in memory, for the accept path: a price is found with a few
 * map lookups and an empty list costs one comparison. The most specific row
 * wins: the account's own over the platform's, then an exact operator over
 * `*`, then the traffic type (`template` for a text that matched an approved
 * template, then the message's traffic type, then `*`).
 */
export class PriceList {
  readonly #byKey = new Map<string, number>();

  constructor(rows: readonly Price[]) {
    for (const r of rows) this.#byKey.set(`${r.account_id}|${r.channel}|${r.operator}|${r.traffic_type}`, Number(r.price_minor));
  }

  get empty(): boolean {
    return this.#byKey.size === 0;
  }

  /** Minor units per part; 0 when no row applies (the message is free: nothing is reserved). */
  priceFor(accountId: string, channel: string, operator: string | null, trafficType: string, templated = false): number {
    if (this.#byKey.size === 0) return 0;
    const types = templated ? ['template', trafficType, '*'] : [trafficType, '*'];
    for (const account of [accountId, '*']) {
      for (const op of operator === null ? ['*'] : [operator, '*']) {
        for (const type of types) {
          const price = this.#byKey.get(`${account}|${channel}|${op}|${type}`);
          if (price !== undefined) return price;
        }
      }
    }
    return 0;
  }
}

/** How long a process keeps the price list before reading it again (changes made on other nodes). */
export const PRICE_LIST_TTL_MS = 10_000;

/** The process's price list, read at most every 10 s, and at once after a change made here. */
export class PriceCache {
  readonly #repository: BalanceRepository;
  #cached: { list: Promise<PriceList>; expires: number } | undefined;

  constructor(repository: BalanceRepository) {
    this.#repository = repository;
  }

  get(now = Date.now()): Promise<PriceList> {
    if (this.#cached && this.#cached.expires > now) return this.#cached.list;
    const list = this.#repository.allPrices().then((rows) => new PriceList(rows));
    this.#cached = { list, expires: now + PRICE_LIST_TTL_MS };
    list.catch(() => {
      this.#cached = undefined;
    });
    return list;
  }

  invalidate(): void {
    this.#cached = undefined;
  }
}

/** A message's reserve: its price per part times its parts; 0 for a free message. */
export function reserveOf(row: { price_minor?: number | null; parts_count: number }): number {
  return row.price_minor ? Number(row.price_minor) * row.parts_count : 0;
}

function partsNote(row: { price_minor?: number | null; parts_count: number }): string {
  return countNote(row.parts_count, Number(row.price_minor));
}

/** "2 parts × 1.50", what a ledger entry of a message says it is for. */
function countNote(parts: number, priceMinor: number, what = ''): string {
  return `${parts} part${parts === 1 ? '' : 's'} × ${formatMoney(priceMinor)}${what}`;
}

/** What one request (one accept job) wants to reserve: all of it or nothing. */
export interface ReserveDemand<K> {
  key: K;
  accountId: string;
  messages: readonly { id: string; price_minor?: number | null; parts_count: number }[];
}

/**
 * Reserves, in the caller's transaction (the accept writer's), what the
 * demands' messages cost: each demand (one request) whole or not at all, in
 * the order given, while the account's balance plus its credit limit covers
 * it. The balance rows are locked first (an UPDATE that changes nothing but
 * holds the row on PostgreSQL; SQLite's writer holds the database), so two
 * transactions cannot both spend the same money. Two UPDATEs per account and
 * one ledger insert per chunk, whatever the number of messages. Returns the
 * keys of the demands refused, with the amount that was available to them.
 */
export async function reserveInTx<K>(tx: Kysely<DB>, demands: readonly ReserveDemand<K>[], now: number): Promise<Map<K, { neededMinor: number; availableMinor: number }>> {
  const refused = new Map<K, { neededMinor: number; availableMinor: number }>();
  const priced = demands.filter((d) => d.messages.some((m) => reserveOf(m) > 0));
  if (priced.length === 0) return refused;
  // One account at a time in id order, so two processes' writers (a cluster) lock rows in the same order.
  const state = new Map<string, { amount: number; credit: number; taken: number }>();
  for (const accountId of [...new Set(priced.map((d) => d.accountId))].sort()) {
    const b = await tx
      .updateTable('balances')
      .set((eb) => ({ updated_at: eb.ref('updated_at') }))
      .where('account_id', '=', accountId)
      .returning(['amount_minor', 'credit_limit_minor'])
      .executeTakeFirst();
    if (b) state.set(accountId, { amount: Number(b.amount_minor), credit: Number(b.credit_limit_minor), taken: 0 });
  }
  const entries: LedgerEntry[] = [];
  for (const demand of priced) {
    const s = state.get(demand.accountId) ?? { amount: 0, credit: 0, taken: 0 };
    state.set(demand.accountId, s);
    const needed = demand.messages.reduce((sum, m) => sum + reserveOf(m), 0);
    const available = s.amount - s.taken + s.credit;
    if (needed > available) {
      refused.set(demand.key, { neededMinor: needed, availableMinor: Math.max(0, available) });
      continue;
    }
    for (const m of demand.messages) {
      const amount = reserveOf(m);
      if (amount === 0) continue;
      s.taken += amount;
      entries.push({ id: newId('led', now), account_id: demand.accountId, kind: 'reserve', amount_minor: -amount, balance_after_minor: s.amount - s.taken, message_id: m.id, note: partsNote(m), created_at: now });
    }
  }
  for (const [accountId, s] of state) {
    if (s.taken > 0) await tx.updateTable('balances').set({ amount_minor: sql<number>`amount_minor - ${s.taken}`, updated_at: now }).where('account_id', '=', accountId).execute();
  }
  await insertChunks(tx, 'ledger_entries', entries);
  return refused;
}

/** Final statuses of a message that never went out: its reserve comes back. */
const REFUNDED_STATUSES = new Set(['rejected', 'failed', 'expired', 'cancelled', 'undelivered']);

/** A status change as the pipeline records it: the message row after the change. */
export interface SettledChange {
  status: string;
  at: number;
  row?: { id: string; account_id: string; price_minor?: number | null; parts_count: number; sent_at: number | null } | undefined;
  /** on `sent`: parts the provider refused (SendResult.refused); their share of the reserve comes back */
  refusedParts?: number | undefined;
}

/**
 * Charges and refunds, in the caller's transaction (the one recording the
 * status changes, so each happens exactly once: a transition moves a message
 * only once). A message that became `sent` is charged what its sent parts
 * cost (a `charge` entry taken from the reserve, so the balance does not
 * move again); the share of parts the provider refused while taking the
 * others comes back at once as a `refund`. One that ended without ever being
 * sent (rejected, failed, expired, cancelled before sending) gets its whole
 * reserve back (`refund`). Free messages cost nothing here: without a priced
 * change there is no statement at all.
 */
export async function settleInTx(tx: Kysely<DB>, changes: readonly SettledChange[]): Promise<void> {
  let settle: { row: NonNullable<SettledChange['row']>; kind: 'charge' | 'refund'; amount: number; note: string; at: number }[] | undefined;
  for (const c of changes) {
    const row = c.row;
    if (!row || !row.price_minor) continue;
    const price = Number(row.price_minor);
    if (c.status === 'sent') {
      // At least one part went out (a send refused whole is rejected unsent); never more refunded than reserved.
      const refused = Math.min(Math.max(0, c.refusedParts ?? 0), row.parts_count - 1);
      const charged = row.parts_count - refused;
      (settle ??= []).push({ row, kind: 'charge', amount: price * charged, note: countNote(charged, price), at: c.at });
      if (refused > 0) (settle ??= []).push({ row, kind: 'refund', amount: price * refused, note: countNote(refused, price, ' refused by the provider'), at: c.at });
    } else if (REFUNDED_STATUSES.has(c.status) && row.sent_at === null) {
      (settle ??= []).push({ row, kind: 'refund', amount: reserveOf(row), note: partsNote(row), at: c.at });
    }
  }
  if (settle === undefined) return;
  const byAccount = new Map<string, typeof settle>();
  for (const s of settle) {
    const list = byAccount.get(s.row.account_id) ?? [];
    list.push(s);
    byAccount.set(s.row.account_id, list);
  }
  const entries: LedgerEntry[] = [];
  for (const accountId of [...byAccount.keys()].sort()) {
    const list = byAccount.get(accountId)!;
    const refund = list.reduce((sum, s) => sum + (s.kind === 'refund' ? s.amount : 0), 0);
    const after = await tx
      .updateTable('balances')
      .set(refund > 0 ? { amount_minor: sql<number>`amount_minor + ${refund}`, updated_at: list[0]!.at } : (eb) => ({ updated_at: eb.ref('updated_at') }))
      .where('account_id', '=', accountId)
      .returning('amount_minor')
      .executeTakeFirst();
    // A reserve implies the balance row; without it there is nothing to settle against.
    if (!after) continue;
    let running = Number(after.amount_minor) - refund;
    for (const s of list) {
      if (s.kind === 'refund') running += s.amount;
      entries.push({ id: newId('led', s.at), account_id: accountId, kind: s.kind, amount_minor: s.kind === 'refund' ? s.amount : -s.amount, balance_after_minor: running, message_id: s.row.id, note: s.note, created_at: s.at });
    }
  }
  await insertChunks(tx, 'ledger_entries', entries);
}
