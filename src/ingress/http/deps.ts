import type { Config } from '../../config.ts';
import type { LiveHub } from '../../events/live.ts';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import type { Delivery } from '../../pipeline/delivery.ts';
import type { AcceptBilling } from '../../pipeline/billing.ts';
import type { SenderRegistryCache } from '../../pipeline/policy.ts';
import type { Database } from '../../store/db.ts';
import type { Account, AccountsRepository } from '../../store/accounts.ts';
import type { IdempotencyRepository } from '../../store/idempotency.ts';
import type { MessagesRepository } from '../../store/messages.ts';
import type { MnoCache } from '../../store/mno.ts';
import type { ModuleSwitches } from '../../store/modules.ts';

/** What the HTTP layer needs from the rest of the gateway. */
export interface HttpDeps {
  config: Config;
  log: Logger;
  database: Database;
  accounts: AccountsRepository;
  messages: MessagesRepository;
  idempotency: IdempotencyRepository;
  /** stores accepted messages and hands them to dispatch */
  delivery: Pick<Delivery, 'accept' | 'cancel' | 'cancelMailing' | 'depth' | 'connectors' | 'reload' | 'callback'>;
  /** live subscribers of the event bus (the event stream) */
  live: LiveHub;
  metrics: Metrics;
  /** each account's registered sender names, checked at accept */
  senderRegistry: SenderRegistryCache;
  /** the price list and each account's compiled approved templates, read at accept */
  billing: AcceptBilling;
  /** the operator of a number: in-memory registry and ported numbers */
  mno: MnoCache;
  /** the platform's modules switched off (channels, integrations), read at accept and by the module gate */
  modules: ModuleSwitches;
  /** told after an account's settings changed, so what holds them (live SMPP binds) takes them at once */
  accountChanged(account: Account): void;
  /** false while starting or draining: /readyz answers 503 */
  isReady(): boolean;
  /** internal (tests): limits lowered from their defaults, the contact imports' rows (MAX_IMPORT_ROWS) and bytes (MAX_IMPORT_BYTES) */
  limits?: { importRows?: number; importBytes?: number };
}
