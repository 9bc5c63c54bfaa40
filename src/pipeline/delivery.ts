import type { Kysely } from 'kysely';
import type { Config } from '../config.ts';
import { createConnectors } from '../connectors/registry.ts';
import type { ConnectorState } from '../connectors/types.ts';
import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../log.ts';
import type { Dialect } from '../store/db.ts';
import type { DB } from '../store/schema.ts';
import { WriteBatcher } from '../store/write-batcher.ts';
import { AcceptWriter, type AcceptJob } from './accept.ts';
import { InProcessDispatcher } from './dispatcher.ts';
import { InboundProcessor } from './inbound.ts';
import { ReceiptProcessor } from './receipts.ts';
import { Scheduler } from './scheduler.ts';
import { RoutingTable } from './router.ts';
import { Sender } from './sender.ts';

/** The running delivery side: stores accepted messages, sends them when due, applies receipts. */
export interface Delivery {
  /**
   * Stores accepted messages (group commit) and hands those due now to
   * dispatch. Resolves once they are committed: only then may the client be answered.
   */
  accept(job: AcceptJob): Promise<void>;
  /** ids of committed messages that are due now */
  enqueue(ids: readonly string[]): void;
  readonly depth: number;
  /** how each connector is doing */
  connectors(): ConnectorState[];
  stop(): Promise<void>;
}

export interface DeliveryOptions {
  /** how often the scheduler looks for due messages, default 250 ms */
  pollMs?: number | undefined;
}

/**
 * Wires accept writer → dispatcher → sender → connectors → receipts, and the
 * scheduler that finds due work, on one database handle: with SQLite this
 * makes the delivery thread the only writer of messages, so writes never wait
 * on each other's locks. Runs in the delivery thread (the
 * default) or, with `DEPESHA_PIPELINE=inline`, on the main thread.
 */
export async function startDelivery(db: Kysely<DB>, dialect: Dialect, config: Config, bus: EventBus, log: Logger, options: DeliveryOptions = {}): Promise<Delivery> {
  const batcher = new WriteBatcher(db, { batch: dialect === 'sqlite' });
  const writer = new AcceptWriter(batcher);
  const connectors = createConnectors(config, { journal: true });
  const dispatcher = new InProcessDispatcher();
  const sender = new Sender(batcher, new RoutingTable(connectors, config.routes), bus, log.child({ component: 'sender' }), { retry: config.retry });
  const receipts = new ReceiptProcessor(batcher, bus, log.child({ component: 'receipts' }));
  const scheduler = new Scheduler(db, dispatcher, log.child({ component: 'scheduler' }), options.pollMs === undefined ? {} : { pollMs: options.pollMs });

  const recovered = await scheduler.recoverAfterCrash();
  if (recovered > 0) log.info({ recovered }, 'messages left in flight by the last run are due again');
  const inbound = new InboundProcessor(batcher, log.child({ component: 'inbound' }), config.defaults.region);
  for (const connector of connectors) await connector.start({ receipt: (r) => receipts.submit(r), inbound: async (m) => void (await inbound.submit(m)) });
  dispatcher.start((ids) => sender.process(ids));
  scheduler.start();

  return {
    async accept(job) {
      await writer.write(job);
      const now = Date.now();
      const due = job.messages.filter((m) => m.due_at <= now).map((m) => m.id);
      if (due.length > 0) dispatcher.enqueue(due);
    },
    enqueue: (ids) => dispatcher.enqueue(ids),
    get depth() {
      return dispatcher.depth;
    },
    connectors: () => connectors.map((c) => c.state()),
    async stop() {
      await scheduler.stop();
      await dispatcher.stop();
      for (const connector of connectors) await connector.stop();
      await receipts.stop();
    },
  };
}
