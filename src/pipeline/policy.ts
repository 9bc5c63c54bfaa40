import { quietUntil } from '../domain/quiet-hours.ts';
import { timeZoneOfRegion } from '../sms/region-time-zones.ts';
import type { Account } from '../store/accounts.ts';
import { ANY_OPERATOR, type SenderNameStatus, type SenderNamesRepository, type SenderRegistry } from '../store/sender-names.ts';

/**
 * An account's rules applied at accept, beyond the message's own validity:
 * registered sender names and quiet hours.
 */

/** A name's status for an operator: its own entry, else the `*` entry; for a number of unknown operator only `*` counts. */
function statusFor(registry: SenderRegistry, name: string, operator: string | null): SenderNameStatus | undefined {
  const byOperator = registry.get(name);
  if (!byOperator) return undefined;
  return (operator === null ? undefined : byOperator.get(operator)) ?? byOperator.get(ANY_OPERATOR);
}

export type SenderCheck = { ok: true; sender: string | null } | { ok: false; issue: string };

/**
 * With `require_registered_senders`, a message's sender must be a registered
 * name approved for the recipient's operator. One that is not is replaced by
 * the account's fallback sender when that one is approved; otherwise the
 * message is refused, saying which operator and what status. A message
 * without a sender goes with the connector's default and is not checked.
 */
export function checkSender(account: Account, registry: SenderRegistry, sender: string | null, operator: string | null): SenderCheck {
  if (account.require_registered_senders !== 1 || sender === null) return { ok: true, sender };
  const status = statusFor(registry, sender, operator);
  if (status === 'approved') return { ok: true, sender };
  const fallback = account.fallback_sender;
  if (fallback !== null && statusFor(registry, fallback, operator) === 'approved') return { ok: true, sender: fallback };
  const where = operator === null ? 'for numbers of unknown operator' : `for operator ${operator}`;
  const what = status === undefined ? 'is not registered' : status === 'pending' ? 'is awaiting approval' : 'was rejected';
  return { ok: false, issue: `sender "${sender}" ${what} ${where}${fallback === null ? '' : ` (and the fallback sender "${fallback}" is not approved there either)`}` };
}

/**
 * Advertising is held through the account's quiet hours, in the recipient's
 * time zone: the one the caller knows (a mailing's contact's, `recipientZone`),
 * else their number's region's when the numbering plan gives it, else the
 * account's. Returns when the message may go (its due time or the window's
 * end); its validity then counts from there.
 */
export function quietHoursRelease(account: Account, trafficType: string, region: string | null, dueAt: number, recipientZone?: string | null): number {
  if (trafficType !== 'advertising' || account.quiet_hours_start === null || account.quiet_hours_end === null) return dueAt;
  const timeZone = recipientZone ?? timeZoneOfRegion(region) ?? account.time_zone;
  return quietUntil(dueAt, timeZone, { start: account.quiet_hours_start, end: account.quiet_hours_end }) ?? dueAt;
}

const REGISTRY_TTL_MS = 10_000;

/**
 * Each account's sender registry, read once and kept for 10 s, so accept
 * costs no query per message; changes made through this process are seen
 * at once (forget), those of other processes within 10 s.
 */
export class SenderRegistryCache {
  readonly #repository: SenderNamesRepository;
  readonly #cache = new Map<string, { registry: Promise<SenderRegistry>; expires: number }>();

  constructor(repository: SenderNamesRepository) {
    this.#repository = repository;
  }

  get(accountId: string, now = Date.now()): Promise<SenderRegistry> {
    const cached = this.#cache.get(accountId);
    if (cached && cached.expires > now) return cached.registry;
    const registry = this.#repository.registry(accountId);
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(accountId, { registry, expires: now + REGISTRY_TTL_MS });
    registry.catch(() => this.#cache.delete(accountId));
    return registry;
  }

  forget(accountId: string): void {
    this.#cache.delete(accountId);
  }
}
