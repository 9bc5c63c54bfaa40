import type { Kysely } from 'kysely';
import type { Config } from '../config.ts';
import { createConnectors } from '../connectors/registry.ts';
import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../log.ts';
import type { DB } from '../store/schema.ts';
import { InProcessDispatcher } from './dispatcher.ts';
import { ReceiptProcessor } from './receipts.ts';
import { Scheduler } from './scheduler.ts';
import { DefaultRouter, Sender } from './sender.ts';

/** The running delivery side: takes ids of due messages, sends them, applies receipts. */
export interface Delivery {
  enqueue(ids: readonly string[]): void;
  readonly depth: number;
  stop(): Promise<void>;
}

export interface DeliveryOptions {
  /** how often the scheduler looks for due messages, default 250 ms */
  pollMs?: number | undefined;
}

/**
 * Wires dispatcher → sender → connectors → receipts, and the scheduler that
 * finds due work, on one database handle. Runs in the delivery thread (the
 * default) or, with `DEPESHA_PIPELINE=inline`, on the main thread.
 */
export async function startDelivery(db: Kysely<DB>, config: Config, bus: EventBus, log: Logger, options: DeliveryOptions = {}): Promise<Delivery> {
  const connectors = createConnectors(config, { journal: true });
  const dispatcher = new InProcessDispatcher();
  const sender = new Sender(db, new DefaultRouter(connectors), bus, log.child({ component: 'sender' }), { retry: config.retry });
  const receipts = new ReceiptProcessor(db, bus, log.child({ component: 'receipts' }));
  const scheduler = new Scheduler(db, dispatcher, log.child({ component: 'scheduler' }), options.pollMs === undefined ? {} : { pollMs: options.pollMs });

  const recovered = await scheduler.recoverAfterCrash();
  if (recovered > 0) log.info({ recovered }, 'messages left in flight by the last run are due again');
  for (const connector of connectors) await connector.start({ receipt: (r) => receipts.submit(r) });
  dispatcher.start((ids) => sender.process(ids));
  scheduler.start();

  return {
    enqueue: (ids) => dispatcher.enqueue(ids),
    get depth() {
      return dispatcher.depth;
    },
    async stop() {
      await scheduler.stop();
      await dispatcher.stop();
      for (const connector of connectors) await connector.stop();
      await receipts.stop();
    },
  };
}
