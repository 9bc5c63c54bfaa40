import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { BindLeases } from './binds.ts';
import { ReloadBroadcast } from './broadcast.ts';
import { ConnectorStatusBoard, type KnownConnector } from './connector-status.ts';
import { nodeIdentity } from './lease.ts';
import { LeaderLock } from './leader.ts';
import { QueueDispatcher } from './queue.ts';
import { connectRedis } from './redis.ts';
import { StatusRelay } from './status-relay.ts';
import { ClusterSubmitRate } from './submit-rate.ts';
import type { StatusChange } from '../events/bus.ts';
import type { ConnectorView } from '../pipeline/delivery.ts';

/** What the delivery side hands the cluster: how to reload, and the scheduled work to run while this node leads. */
export interface ClusterWork {
  reload: () => Promise<void>;
  /** this node has the scheduler role and may lead */
  scheduled: boolean;
  lead: () => Promise<void>;
  yieldLead: () => Promise<void>;
  /** while leading, every poll: look for webhook deliveries other nodes wrote */
  pollWebhooks: () => Promise<void>;
  /** status changes other nodes committed (on nodes with the api or smpp role) */
  remoteStatus: (changes: StatusChange[]) => void;
  /** this node's own connectors (published by a worker for the api nodes) */
  localConnectors: () => ConnectorView[];
}

/** This node's part in a cluster (REDIS_URL and DATABASE_URL): the shared queue, rate, leader lock and reload broadcast. */
export interface ClusterNode {
  dispatcher: QueueDispatcher;
  rate: ClusterSubmitRate;
  /** the operator connectors' binds spread over the worker nodes (absent on nodes without the worker role) */
  binds: BindLeases | undefined;
  /** tells the other nodes of changes this one committed */
  publishStatus(changes: readonly StatusChange[]): void;
  /** on a node with the api role: the known connectors as the live workers report them (cluster/connector-status.ts); undefined elsewhere */
  connectors(known: readonly KnownConnector[]): ConnectorView[] | undefined;
  start(work: ClusterWork): Promise<void>;
  /** tells the other nodes to reload and waits for them */
  announceReload(): Promise<void>;
  /** gives the lead up (if held) and stops the scheduled work */
  stopLeading(): Promise<void>;
  close(): Promise<void>;
}

export async function startCluster(config: Config, log: Logger, options: { pollMs?: number | undefined } = {}): Promise<ClusterNode> {
  const url = config.redisUrl!;
  const prefix = config.redisPrefix;
  const redis = connectRedis(url, 'depesha');
  // A subscribed connection can do nothing else.
  const sub = connectRedis(url, 'depesha-sub');
  const clog = log.child({ component: 'cluster' });
  for (const r of [redis, sub]) r.on('error', (err) => clog.warn({ err }, 'Redis connection error'));
  await redis.ping();
  const dispatcher = new QueueDispatcher(redis, clog, { prefix, consume: config.roles.includes('worker') });
  const broadcast = new ReloadBroadcast(redis, sub, prefix, clog);
  const relay = new StatusRelay(redis, prefix, clog);
  const binds = config.roles.includes('worker') ? new BindLeases(redis, prefix, clog, { ttlMs: config.bindLeaseMs }) : undefined;
  // A worker's connector reports live as long as its bind leases, under the same node id.
  const board = new ConnectorStatusBoard(redis, prefix, clog, { ttlMs: config.bindLeaseMs, nodeId: binds?.nodeId ?? nodeIdentity() });
  const reads = config.roles.includes('api');
  let leader: LeaderLock | undefined;
  let webhookTimer: NodeJS.Timeout | undefined;
  return {
    dispatcher,
    rate: new ClusterSubmitRate(redis, prefix),
    binds,
    publishStatus: (changes) => relay.publish(changes),
    connectors: (known) => (reads ? board.view(known) : undefined),
    async start(work) {
      binds?.start();
      if (binds) board.publish(work.localConnectors);
      if (reads) board.watch();
      await broadcast.start(work.reload);
      if (config.roles.includes('api') || config.roles.includes('smpp')) await relay.listen(sub, work.remoteStatus);
      if (!work.scheduled) return;
      leader = new LeaderLock(redis, `${prefix}:scheduler-leader`, clog, {
        async onAcquire() {
          await work.lead();
          let polling = false;
          webhookTimer = setInterval(() => {
            if (polling) return;
            polling = true;
            work
              .pollWebhooks()
              .catch((err: unknown) => clog.warn({ err }, 'looking for pending webhook deliveries failed'))
              .finally(() => (polling = false));
          }, options.pollMs ?? 250);
          webhookTimer.unref();
        },
        async onLose() {
          clearInterval(webhookTimer);
          await work.yieldLead();
        },
      });
      leader.start();
    },
    announceReload: () => broadcast.announce(),
    async stopLeading() {
      await leader?.stop();
    },
    /** after the delivery side has stopped the dispatcher */
    async close() {
      await board.stop();
      sub.disconnect();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
