import type { TemplateMatcher } from '../domain/template-match.ts';
import { ApiError } from '../errors.ts';
import { formatMoney, reserveOf, type BalanceRepository, type PriceCache, type PriceList } from '../store/balance.ts';
import type { MessageRow } from '../store/messages.ts';
import type { TemplateMatcherCache } from '../store/templates.ts';

/**
 * Pricing and template matching at accept. What a message costs is decided
 * on the main thread from caches (the price list, the account's compiled
 * templates), so an account without prices or approved templates costs no
 * query; the money is taken atomically later, in the accept writer's
 * transaction (`reserveInTx`), and charged or refunded in the transaction
 * that records the message's status change (`settleInTx`).
 */

/** The caches accept reads; one of each per process. */
export interface AcceptBilling {
  prices: PriceCache;
  templates: TemplateMatcherCache;
}

/** Traffic types whose texts operators match against registered templates. */
export const TEMPLATED_TRAFFIC = new Set(['service', 'transactional']);

/** Whether a message is matched against the approved templates: an SMS of service or transactional traffic. */
export function isTemplatedTraffic(channel: string, trafficType: string): boolean {
  return channel === 'sms' && TEMPLATED_TRAFFIC.has(trafficType);
}

/** What an account's templated traffic (service, transactional SMS) gets when its text matches no approved template. */
export const UNMATCHED_TEMPLATES = ['keep', 'advertising', 'reject'] as const;
export type UnmatchedTemplates = (typeof UNMATCHED_TEMPLATES)[number];

export function unmatchedTemplatesPolicy(account: { unmatched_templates?: string | undefined }): UnmatchedTemplates {
  const p = account.unmatched_templates;
  return p === 'advertising' || p === 'reject' ? p : 'keep';
}

/** What accept needs of billing for one account: the price list and its matcher. */
export interface BillingContext {
  prices: PriceList;
  templates: TemplateMatcher;
}

export async function billingContext(billing: AcceptBilling | undefined, accountId: string): Promise<BillingContext | undefined> {
  if (!billing) return undefined;
  const [prices, templates] = await Promise.all([billing.prices.get(), billing.templates.get(accountId)]);
  return { prices, templates };
}

/**
 * The template an SMS matches (service and transactional traffic, against
 * the templates approved for the recipient's operator) and the price of one
 * of its parts; both absent when they do not apply, so the row is written as
 * before.
 */
export function billMessage(context: BillingContext | undefined, accountId: string, channel: string, text: string, trafficType: string, operator: string | null, sender: string | null): { price_minor?: number; template_id?: string } {
  if (!context) return {};
  const templateId = context.templates.size > 0 && isTemplatedTraffic(channel, trafficType) ? context.templates.match(text, operator, sender) : null;
  const price = context.prices.priceFor(accountId, channel, operator, trafficType, templateId !== null);
  return { ...(price > 0 ? { price_minor: price } : {}), ...(templateId !== null ? { template_id: templateId } : {}) };
}

/**
 * A bulk request's items in order while the account's available money
 * (balance plus credit limit, read once) covers them; the rest are refused
 * with `insufficient_balance`. Free messages always fit. The reserve itself
 * is checked again atomically when the request is stored, so a concurrent
 * spend cannot overdraw the account: then the whole request is refused.
 */
export async function affordable(balances: BalanceRepository, accountId: string, rows: readonly MessageRow[]): Promise<{ fits: Set<MessageRow>; refused: Map<MessageRow, ApiError> }> {
  const fits = new Set<MessageRow>();
  const refused = new Map<MessageRow, ApiError>();
  if (!rows.some((r) => reserveOf(r) > 0)) {
    for (const r of rows) fits.add(r);
    return { fits, refused };
  }
  const b = await balances.get(accountId);
  let left = b.amount_minor + b.credit_limit_minor;
  for (const r of rows) {
    const cost = reserveOf(r);
    if (cost <= left) {
      left -= cost;
      fits.add(r);
    } else {
      refused.set(r, insufficientBalance(cost, Math.max(0, left)));
    }
  }
  return { fits, refused };
}

/** The `insufficient_balance` error: what was needed and what was available. */
export function insufficientBalance(neededMinor: number, availableMinor: number, what = 'this message'): ApiError {
  return new ApiError('insufficient_balance', `the balance does not cover ${what}: it costs ${formatMoney(neededMinor)} RUB and ${formatMoney(availableMinor)} RUB is available (balance plus credit limit); top up the balance`, [
    { field: 'balance', issue: `needs ${formatMoney(neededMinor)}, ${formatMoney(availableMinor)} available` },
  ]);
}
