import type { AcceptBilling } from './billing.ts';
import { BalanceRepository, PriceCache } from '../store/balance.ts';
import { TemplateMatcherCache, TemplateRegistrationsRepository } from '../store/templates.ts';
import type { Kysely } from 'kysely';
import type { Config } from '../config.ts';
import { createConnector, createConnectors } from '../connectors/registry.ts';
import { DEFAULT_HTTP_TIMEOUT_MS } from '../connectors/shared/http-client.ts';
import { DEFAULT_SMPP_RESPONSE_TIMEOUT_MS } from '../connectors/smpp/smpp.ts';
import type { CallbackReply, CallbackRequest, Connector, ConnectorContext, ConnectorState, InboundMessage, Receipt } from '../connectors/types.ts';
import { ConnectorsRepository } from '../store/connectors.ts';
import { SecretBox } from '../store/secrets.ts';
import { openParts } from '../store/open-parts.ts';
import type { EventBus, StatusChange } from '../events/bus.ts';
import { WebhookOutboxWriter } from '../events/webhooks/outbox.ts';
import { ThreadPoster } from '../events/webhooks/poster.ts';
import { WebhookSender } from '../events/webhooks/sender.ts';
import { Subscriptions } from '../events/webhooks/subscriptions.ts';
import { WebhookOutbox } from '../store/webhooks.ts';
import type { Logger } from '../log.ts';
import type { Dialect } from '../store/db.ts';
import type { DB } from '../store/schema.ts';
import { WriteBatcher } from '../store/write-batcher.ts';
import { AcceptWriter, type AcceptJob } from './accept.ts';
import type { MessageRow } from '../store/messages.ts';
import { CascadeEngine } from './cascade.ts';
import { cancelMessage, type CancelResult } from './cancel.ts';
import { InProcessDispatcher, type Dispatcher } from './dispatcher.ts';
import type { ClusterNode } from '../cluster/node.ts';
import type { ConnectorNodeView } from '../cluster/connector-status.ts';
import { InboundProcessor } from './inbound.ts';
import { ReceiptProcessor } from './receipts.ts';
import { Scheduler } from './scheduler.ts';
import { RoutingTable } from './router.ts';
import { Rotation, type CircuitState } from './rotation.ts';
import { Sender } from './sender.ts';
import { insertEvents } from './transitions.ts';
import { MailingRunner } from './mailings.ts';
import { MailingCanceller } from './mailing-cancel.ts';
import { VerificationSweeper } from './verification-sweeper.ts';
import { MnoCache, MnoRepository } from '../store/mno.ts';
import { ModuleSwitches, ModulesRepository } from '../store/modules.ts';

/** in a cluster, how long the scheduler leaves a message the accepting node handed to the queue itself */
const HANDED_OVER_MS = 10_000;
/** messages the sender may hold from accepts at once (embedded): as many as the dispatcher's batches in flight */
const HANDOFF_MAX = 2000;

/** The running delivery side: stores accepted messages, sends them when due, applies receipts. */
export interface Delivery {
  /**
   * Stores accepted messages (group commit) and hands those due now to
   * dispatch. Resolves once they are committed: only then may the client be answered.
   */
  accept(job: AcceptJob): Promise<void>;
  /**
   * Cancels a message of the account that no sender holds yet (`accepted`, or
   * `queued` waiting for a retry). Resolves after the commit, once the change
   * is on the event bus.
   */
  cancel(accountId: string, messageId: string): Promise<CancelResult>;
  /**
   * Cancels the messages of a cancelled mailing that no sender holds yet and
   * stops its cascades, a page at a time (pipeline/mailing-cancel.ts). Resolves
   * with how many it stopped once none is left.
   */
  cancelMailing(accountId: string, mailingId: string): Promise<number>;
  /** ids of committed messages that are due now */
  enqueue(ids: readonly string[]): void;
  readonly depth: number;
  /** how each connector is doing */
  connectors(): ConnectorView[];
  /** re-reads the connectors, routes and webhook subscriptions made through the API; resolves once they are in use */
  reload(): Promise<void>;
  /** hands a request to a connector's public callback route to that connector; resolves with its answer once the reports in it are recorded */
  callback(connectorId: string, request: CallbackRequest): Promise<CallbackReply>;
  /**
   * The first half of a shutdown: stops sending. Nothing more is claimed (the
   * scheduler, the queue worker, the mailing runner and the timers stop, the
   * lead is given up), claimed messages not yet submitted are handed back
   * (due at once, another worker or the next start sends them), and it
   * resolves once the submits in flight are answered and their outcomes
   * recorded. Accepts, cancels, callbacks and receipts still work meanwhile
   * (the listeners finish their requests): what is accepted from now on is
   * stored and left due. stop() drains first.
   */
  drain(): Promise<void>;
  /**
   * The longest a submit through this node's connectors may wait for the
   * provider's answer (responseTimeoutMs of each definition): the delivery
   * thread is not stopped hard before it (delivery-thread-handle.ts).
   */
  readonly longestResponseMs: number;
  stop(): Promise<void>;
}

/**
 * How long a submit through a connector of this definition may wait for the
 * provider's answer at most: an SMPP connector's `response_timeout_ms`
 * (default 10 s); for the others the longest `timeout_ms`/`…_timeout_ms`
 * given in the definition (an HTTP connector's requests, a voice connector's
 * place timeout), and at least 15 s, the HTTP clients' default
 * (connectors/shared/http-client.ts, connectors/http/http.ts).
 */
export function responseTimeoutMs(definition: { type: string }): number {
  const d = definition as { type: string; response_timeout_ms?: unknown };
  if (d.type === 'smpp') return typeof d.response_timeout_ms === 'number' ? d.response_timeout_ms : DEFAULT_SMPP_RESPONSE_TIMEOUT_MS;
  let longest = DEFAULT_HTTP_TIMEOUT_MS;
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) for (const v of value) walk(v);
    else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (typeof v === 'number' && k.endsWith('timeout_ms')) longest = Math.max(longest, v);
        else walk(v);
      }
    }
  };
  walk(definition);
  return longest;
}

/** A connector's own state plus what routing makes of it: switched on or off, and its circuit breaker. */
export interface ConnectorView extends ConnectorState {
  enabled: boolean;
  circuit: CircuitState;
  /** in a cluster, on a node with the api role: each live worker's part (the rest is merged over them, cluster/connector-status.ts) */
  nodes?: ConnectorNodeView[];
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
  // One transaction at a time on PostgreSQL too: event ids are made in the transaction, so commits come in id order
  // and a reader resuming after an event id (Last-Event-ID, cursors) cannot miss one that committed later.
  const batcher = new WriteBatcher(db);
  // Embedded (no REDIS_URL): every role in this process, as ever. In a cluster only this node's roles run here.
  // Redis and BullMQ are loaded only by a node that runs in a cluster: the embedded process never needs them.
  const cluster: ClusterNode | undefined = config.redisUrl === undefined ? undefined : await (await import('../cluster/node.ts')).startCluster(config, log, { pollMs: options.pollMs });
  const sends = cluster === undefined || config.roles.includes('worker');
  const fixed = sends ? createConnectors(config, { journal: true, clusterPaced: cluster !== undefined }) : [];
  const box = SecretBox.fromConfig(config.secretKey, config.dataDir);
  const stored = new ConnectorsRepository(db, box);
  /** connectors made through the API, with the definition each was made from */
  const made = new Map<string, { connector: Connector; definition: string }>();
  const all = () => [...fixed, ...[...made.values()].map((m) => m.connector)];
  /** every connector of the gateway, run here or not: the sandbox, the config file's, the store's (an api node of a cluster shows them as the workers report them) */
  let declared: { id: string; type: string }[] = [];
  /** each connector's max_submits_per_second (0: none), which the cluster holds across its nodes */
  const limits = new Map<string, number>();
  /** the longest response timeout of the connectors this node sends through */
  let longestResponseMs = 0;
  const table = new RoutingTable();
  const rotation = new Rotation(config.rotation);
  const loaded = new Map<string, Connector>();
  const dispatcher: Dispatcher = cluster?.dispatcher ?? new InProcessDispatcher();
  const subscriptions = new Subscriptions();
  subscriptions.replace(await WebhookOutbox.subscriptions(db, box));
  // One webhook sender in the cluster (the leading scheduler's): it leases in the database, but its start frees every lease.
  const makeWebhookSender = () =>
    new WebhookSender(db, dialect, batcher, subscriptions, box, log.child({ component: 'webhooks' }), { ...config.webhooks, retentionMs: config.webhooks.retentionDays * 86_400_000, pollMs: options.pollMs ?? 250 }, new ThreadPoster({ allowPrivateAddresses: config.webhooks.allowPrivateAddresses }), handoff);
  // With SQLite's one writer at a time (embedded only), new deliveries go to the sender straight from the transaction that writes them.
  const handoff = dialect === 'sqlite' && !cluster;
  let webhooks: WebhookSender | undefined = cluster ? undefined : makeWebhookSender();
  // Deliveries written in a transaction are looked for once it has committed: the status changes are published then.
  const written = new Set<string>();
  const cascades = new CascadeEngine(db, batcher, bus, log.child({ component: 'cascades' }), { pollMs: options.pollMs });
  const webhookOutbox = new WebhookOutboxWriter(
    subscriptions,
    dialect,
    (endpoints) => {
      for (const e of endpoints) written.add(e);
    },
    handoff
      ? (rows) => {
          const w = webhooks;
          const taken = w ? w.admit(rows, Date.now()) : [];
          if (taken.length > 0) batcher.onSettled((stored) => w!.settle(taken, stored));
          return taken;
        }
      : undefined,
  );
  // Cascades decide in the transaction of the changes they react to: the engine sees every batch of events after the webhooks.
  const outbox = cascades.outbox(webhookOutbox);
  /** After a commit: the endpoints that got deliveries are looked at (not before: a fetch must see the rows). */
  const committed = () => {
    if (written.size === 0) return;
    webhooks?.track(written);
    written.clear();
  };
  /** changes other nodes made: published here for the live streams and receipt feeds, not relayed back */
  const remote = new WeakSet<StatusChange[]>();
  bus.onStatus((changes) => {
    if (remote.has(changes)) return;
    committed();
    cluster?.publishStatus(changes);
  });
  // Embedded, messages due at once are written as claimed by this process's sender and handed to it from the
  // accept (no claim transaction of its own), while it holds few enough; in a cluster any worker claims them.
  const direct = !cluster && sends;
  const writer = new AcceptWriter(batcher, { claims: direct ? { leaseMs: config.leaseSeconds * 1000, outbox } : undefined });
  const pace = cluster ? (connectorId: string, submits: number) => cluster.rate.take(connectorId, limits.get(connectorId) ?? 0, submits) : undefined;
  const sender = new Sender(batcher, { table, rotation, connector: (id) => loaded.get(id) }, bus, log.child({ component: 'sender' }), { retry: config.retry, outbox, leaseMs: config.leaseSeconds * 1000, pace, handBack: cluster ? (ids) => cluster.dispatcher.handBack(ids) : undefined });
  const receipts = new ReceiptProcessor(batcher, bus, log.child({ component: 'receipts' }), { outbox });
  const scheduler = new Scheduler(db, dispatcher, log.child({ component: 'scheduler' }), {
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
    handedOverMs: cluster ? HANDED_OVER_MS : undefined,
    expiry: { batcher, bus, receiptGraceMs: config.receiptGraceSeconds * 1000, outbox },
  });

  // The mailing runner accepts its pages through the same writer, then hands what is due now to dispatch.
  const mno = new MnoCache(new MnoRepository(db), log.child({ component: 'mno' }));
  /** messages handed from accept to the sender and not yet through it, and their runs */
  let handed = 0;
  let stopping = false;
  const handedRuns = new Set<Promise<void>>();
  /** claimed rows of the accepts settled in one turn, handed to the sender together (one outcome write for all) */
  let handing: { rows: MessageRow[]; at: number } | null = null;
  const handOver = (rows: MessageRow[], at: number) => {
    if (handing) {
      handing.rows.push(...rows);
      return;
    }
    handing = { rows: [...rows], at };
    setImmediate(() => {
      const batch = handing!;
      handing = null;
      const run: Promise<void> = sender
        .deliver(batch.rows, batch.at)
        .catch(() => {
          // Logged by the sender; the messages stay leased and are due again when the lease ends.
        })
        .finally(() => {
          handed -= batch.rows.length;
          handedRuns.delete(run);
        });
      handedRuns.add(run);
    });
  };
  const acceptHere = async (job: AcceptJob) => {
    // Handed over only while nothing waits in the dispatcher (first come, first sent) and the sender holds few.
    const count = job.messages.length;
    const claim = direct && !stopping && job.cascades === undefined && dispatcher.depth === 0 && handed + count <= HANDOFF_MAX;
    if (claim) handed += count;
    let claimed;
    try {
      claimed = await writer.write(claim ? { ...job, claim } : job);
    } finally {
      if (claim) handed -= count - (claimed?.rows.length ?? 0);
    }
    if (claimed && claimed.rows.length > 0) {
      bus.publishStatus(claimed.changes);
      handOver(claimed.rows, claimed.at);
    }
    if (job.cascades) cascades.accepted(job.cascades);
    const now = Date.now();
    const taken = new Set(claimed?.rows.map((r) => r.id));
    const due = job.messages.filter((m) => m.due_at <= now && !taken.has(m.id)).map((m) => m.id);
    if (due.length > 0) dispatcher.enqueue(due);
  };
  const billing: AcceptBilling = { prices: new PriceCache(new BalanceRepository(db)), templates: new TemplateMatcherCache(new TemplateRegistrationsRepository(db)) };
  const modules = new ModuleSwitches(new ModulesRepository(db));
  const mailings = new MailingRunner(db, acceptHere, log.child({ component: 'mailings' }), { operators: mno, billing, modules, ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }) });
  const mailingCancels = new MailingCanceller(db, batcher, bus, outbox, cascades, log.child({ component: 'mailings' }), { watchMs: config.leaseSeconds * 1000 });

  if (!cluster) {
    // Only in the embedded process can nobody else hold a lease; in a cluster leases lapse instead.
    const recovered = await scheduler.recoverAfterCrash();
    if (recovered > 0) log.info({ recovered }, 'messages left in flight by the last run are due again');
  }
  // Ended verifications: their codes withdrawn where the provider can (Telegram Gateway), by the connectors of this node.
  const verifications = new VerificationSweeper(db, (id) => loaded.get(id), log.child({ component: 'verifications' }), { pollMs: options.pollMs, stopCascade: (id) => cascades.stopAfterCurrent(id) });
  const inbound = new InboundProcessor(batcher, log.child({ component: 'inbound' }), config.defaults.region, { outbox, committed });
  const context: ConnectorContext = { receipt: (r: Receipt) => receipts.submit(r), inbound: async (m: InboundMessage) => void (await inbound.submit(m)), openParts: (q) => openParts(db, q) };
  /** In a cluster a connector's binds are spread over the workers: none here until this node's leases say how many. */
  const share = async (connector: Connector) => {
    const leases = cluster?.binds;
    if (!leases || connector.bindSlots === undefined || !connector.shareBinds) return;
    await connector.shareBinds(0);
    leases.want(connector.id, connector.bindSlots, (n) => connector.shareBinds!(n));
  };
  for (const connector of fixed) {
    await share(connector);
    await connector.start(context);
  }

  /** Brings the API-made connectors and the routes in line with the store. */
  let reloading = Promise.resolve();
  const reloadHere = () =>
    (reloading = reloading.then(async () => {
      billing.prices.invalidate();
      modules.invalidate();
      const definitions = await stored.list();
      const wanted = new Map(definitions.map((d) => [d.id, d]));
      declared = [{ id: 'sandbox', type: 'sandbox' }, ...[...config.connectors, ...definitions].filter((d) => d.id !== 'sandbox').map((d) => ({ id: d.id, type: d.type }))];
      for (const [id, m] of made) {
        const d = wanted.get(id);
        if (d && JSON.stringify(d) === m.definition) continue;
        made.delete(id);
        await m.connector.stop();
        await cluster?.binds?.forget(id);
      }
      if (sends) {
        for (const d of definitions) {
          if (made.has(d.id) || fixed.some((c) => c.id === d.id)) continue;
          const connector = createConnector(d, config, { journal: true, clusterPaced: cluster !== undefined });
          await share(connector);
          await connector.start(context);
          made.set(d.id, { connector, definition: JSON.stringify(d) });
        }
      }
      limits.clear();
      for (const d of [...config.connectors, ...definitions]) limits.set(d.id, d.type === 'smpp' ? (d.max_submits_per_second ?? 0) : 0);
      longestResponseMs = sends ? Math.max(0, ...[...config.connectors, ...definitions].map(responseTimeoutMs)) : 0;
      table.update(await stored.namedRoutes(config.routes));
      rotation.setDisabled(await stored.disabled());
      loaded.clear();
      for (const c of all()) loaded.set(c.id, c);
      subscriptions.replace(await WebhookOutbox.subscriptions(db, box));
      await webhooks?.refresh();
    }));
  await reloadHere();
  /** this node's own connectors */
  const here = (): ConnectorView[] => all().map((c) => ({ ...c.state(), enabled: rotation.isEnabled(c.id), circuit: rotation.circuit(c.id) }));
  cascades.wire(dispatcher, outbox);
  if (sends) dispatcher.start((ids) => sender.process(ids));
  // Revokes need the connectors: every sending node sweeps (each ended verification is taken by one).
  if (sends) verifications.start();
  if (!cluster) {
    scheduler.start();
    cascades.start();
    await webhooks!.start();
    await mno.start();
    mailings.start();
    await mailingCancels.resume();
  } else {
    await cluster.start({
      reload: reloadHere,
      localConnectors: here,
      scheduled: config.roles.includes('scheduler'),
      async lead() {
        scheduler.start();
        await mno.start();
        mailings.start();
        await mailingCancels.resume();
        cascades.start();
        webhooks = makeWebhookSender();
        await webhooks.start();
      },
      async pollWebhooks() {
        // Deliveries other nodes wrote: the sender learns of endpoints only from its own commits and its start.
        webhooks?.track(await WebhookOutbox.pendingEndpoints(db));
      },
      remoteStatus(changes) {
        remote.add(changes);
        bus.publishStatus(changes);
      },
      async yieldLead() {
        await mailings.stop();
        await mailingCancels.stop();
        mno.stop();
        await scheduler.stop();
        await cascades.stop();
        await webhooks?.stop();
        webhooks = undefined;
      },
    });
  }

  let draining: Promise<void> | undefined;
  const drain = () =>
    (draining ??= (async () => {
      // Stop taking work first; claimed messages not yet submitted are handed back, the rest finish.
      stopping = true;
      sender.stopping();
      log.info('delivery stopping: no more submits; claimed messages not yet submitted are handed back');
      // Then the sends waiting for a slot of the cluster's rate have stopped waiting: the slots they booked go back.
      await cluster?.rate.stop();
      await mailings.stop();
      await mailingCancels.stop();
      mno.stop();
      if (cluster) await cluster.stopLeading();
      else await scheduler.stop();
      await cascades.stop();
      await verifications.stop();
      // A shared queue still takes the ids of what is accepted meanwhile (another worker sends them).
      await (dispatcher.pause ? dispatcher.pause() : dispatcher.stop());
      await new Promise((resolve) => setImmediate(resolve)); // a hand-over scheduled before the stop starts its run
      while (handedRuns.size > 0) await Promise.allSettled([...handedRuns]);
      log.info('delivery drained: the submits in flight are answered and recorded');
    })());

  return {
    accept: acceptHere,
    async cancel(accountId, messageId) {
      const { result, changes } = await batcher.run(async (tx) => {
        const { result, events } = await cancelMessage(tx, accountId, messageId, Date.now());
        return { result, changes: await insertEvents(tx, events, outbox) };
      });
      bus.publishStatus(changes);
      return result;
    },
    cancelMailing: (accountId, mailingId) => mailingCancels.cancel(accountId, mailingId),
    enqueue: (ids) => dispatcher.enqueue(ids),
    get depth() {
      return dispatcher.depth;
    },
    connectors: () => cluster?.connectors(declared.map((d) => ({ ...d, enabled: rotation.isEnabled(d.id) }))) ?? here(),
    async reload() {
      await reloadHere();
      await cluster?.announceReload();
    },
    async callback(connectorId, request) {
      const connector = loaded.get(connectorId);
      if (!connector?.callback) return { status: 404, body: `no connector ${connectorId} takes status reports` };
      return connector.callback(request);
    },
    drain,
    get longestResponseMs() {
      return longestResponseMs;
    },
    async stop() {
      await drain();
      await dispatcher.stop(); // what a shared queue still holds here goes to Redis
      // This node's operator binds close and their slots go back at once: the other workers open them at their next round.
      await cluster?.binds?.stop();
      await webhooks?.stop();
      await reloading;
      for (const connector of all()) await connector.stop();
      await receipts.stop();
      await cluster?.close();
    },
  };
}
