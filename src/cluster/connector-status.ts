import type { Redis } from 'ioredis';
import type { ConnectorState } from '../connectors/types.ts';
import type { Logger } from '../log.ts';
import type { ConnectorView } from '../pipeline/delivery.ts';
import type { CircuitState } from '../pipeline/rotation.ts';
import { REDIS_NOW, within } from './lease.ts';

/** One worker node's part of a connector, as `nodes` of GET /v1/connectors shows it. */
export interface ConnectorNodeView {
  /** the worker's id among the cluster's nodes (host:pid:random, as in its bind leases) */
  node: string;
  status: ConnectorState['status'];
  detail: string | null;
  since: number;
  links: { up: number; total: number };
  inFlight: number;
  /** that node's circuit breaker for the connector */
  circuit: CircuitState['status'];
}

/** What one worker published: the views of the connectors it runs. */
export interface NodeReport {
  node: string;
  connectors: ConnectorView[];
}

/** A connector the answering node knows of (the sandbox, the config file's, the store's), switched on or off there. */
export interface KnownConnector {
  id: string;
  type: string;
  enabled: boolean;
}

const CIRCUIT_RANK: Record<CircuitState['status'], number> = { closed: 0, half_open: 1, open: 2 };

/**
 * The cluster's view of each known connector from the live workers' reports
 * (docs/api.md, "Connectors"). Links and requests in flight are summed over
 * the workers. Only the workers holding some of its links count for `status`
 * (a worker running none of an SMPP connector's binds reports it `up` with 0
 * of 0): `up` when every one of them is up; `degraded` when at least one is
 * up or degraded (traffic flows, with fewer links); otherwise `down` if any is
 * down, else `connecting` if any is, else `stopped`. No worker holding a link:
 * `connecting`; no live worker reporting it at all: `down` (`detail` says
 * which). `detail` is null when up, else the first troubled worker's, after
 * its node id. The circuit is the least open of the workers' (closed, then
 * half open, then open): the connector is in rotation wherever it is closed.
 * `since` is the latest change among the workers counted; ConnectorStatusBoard
 * keeps it steady while the merged status does not change. `unreported`: the
 * detail of a connector no worker reports (default: none runs it).
 */
export function mergeConnectorViews(known: readonly KnownConnector[], reports: readonly NodeReport[], now: number, unreported = 'no live worker node runs it'): ConnectorView[] {
  const sorted = [...reports].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  return known.map((k) => {
    const parts = sorted.flatMap((r) => {
      const view = r.connectors.find((c) => c.id === k.id);
      return view ? [{ node: r.node, view }] : [];
    });
    const nodes: ConnectorNodeView[] = parts.map(({ node, view }) => ({
      node,
      status: view.status,
      detail: view.detail,
      since: view.since,
      links: { up: view.links.up, total: view.links.total },
      inFlight: view.inFlight,
      circuit: view.circuit.status,
    }));
    const links = { up: 0, total: 0 };
    let inFlight = 0;
    for (const { view } of parts) {
      links.up += view.links.up;
      links.total += view.links.total;
      inFlight += view.inFlight;
    }
    const base = { id: k.id, type: k.type, links, inFlight, enabled: k.enabled, nodes };
    if (parts.length === 0) {
      return { ...base, status: 'down', detail: unreported, since: now, circuit: { status: 'closed', reason: null, since: now, until: null, consecutiveFailures: 0 } };
    }
    let circuit = parts[0]!.view.circuit;
    for (const { view } of parts) if (CIRCUIT_RANK[view.circuit.status] < CIRCUIT_RANK[circuit.status]) circuit = view.circuit;
    const latest = (of: typeof parts) => Math.max(...of.map((p) => p.view.since));
    const holders = parts.filter((p) => p.view.links.total > 0);
    if (holders.length === 0) return { ...base, status: 'connecting', detail: 'no worker node holds its links yet', since: latest(parts), circuit };
    const has = (status: ConnectorState['status']) => holders.some((p) => p.view.status === status);
    const troubled = holders.filter((p) => p.view.status !== 'up');
    if (troubled.length === 0) return { ...base, status: 'up', detail: null, since: latest(holders), circuit };
    const status: ConnectorState['status'] = has('up') || has('degraded') ? 'degraded' : has('down') ? 'down' : has('connecting') ? 'connecting' : 'stopped';
    const first = troubled.find((p) => p.view.detail !== null) ?? troubled[0]!;
    return { ...base, status, detail: `${first.node}: ${first.view.detail ?? first.view.status}`, since: latest(holders), circuit };
  });
}

/** Sets the node's report and its heartbeat in the index of reporting nodes, on Redis's clock. KEYS: index, report. */
const PUBLISH = `${REDIS_NOW}
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ttl)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ttl * 10)
return 1`;

/** The reports of the nodes whose heartbeat has not run out: {node, report, …}. KEYS: index; ARGV: the reports' key prefix. */
const READ = `${REDIS_NOW}
local out = {}
for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')) do
  local report = redis.call('GET', ARGV[1] .. node)
  if report then
    table.insert(out, node)
    table.insert(out, report)
  end
end
return out`;

const LEAVE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1`;

export interface ConnectorStatusOptions {
  /** how long a report outlives its node's last heartbeat (the bind lease), renewed every third of it */
  ttlMs: number;
  nodeId: string;
  /** how often a worker compares its connectors with what it published, and an api node reads the reports; default 250 ms */
  checkMs?: number;
}

/**
 * The connectors' live state across a cluster (docs/deploy.md). Each worker
 * publishes its connectors' views to Redis (`<prefix>:connector-status:<node>`,
 * with a TTL of a bind lease, indexed in `<prefix>:connector-status-nodes` by
 * heartbeat) when they change and every third of the TTL; a worker that dies
 * drops out once the TTL runs out, one that stops removes its report at once.
 * An api node reads the live reports and answers GET /v1/connectors with
 * them merged (mergeConnectorViews).
 */
export class ConnectorStatusBoard {
  readonly #redis: Redis;
  readonly #log: Logger;
  readonly #index: string;
  readonly #reportPrefix: string;
  readonly #ttlMs: number;
  readonly #checkMs: number;
  readonly nodeId: string;
  #published = '';
  #publishedAt = 0;
  #publishing: Promise<unknown> | undefined;
  #publishTimer: NodeJS.Timeout | undefined;
  #reading: Promise<unknown> | undefined;
  #readTimer: NodeJS.Timeout | undefined;
  #reports: NodeReport[] = [];
  /** when the reports were last read (the read's start); from the start, so that the first reads have a TTL to come */
  #readAt = Date.now();
  /** each known connector's last merged status and since, and when it was first known here */
  readonly #seen = new Map<string, { status: ConnectorState['status']; since: number; known: number }>();
  #stopped = false;
  readonly #startedAt = Date.now();

  constructor(redis: Redis, prefix: string, log: Logger, options: ConnectorStatusOptions) {
    this.#redis = redis;
    this.#log = log;
    this.#index = `${prefix}:connector-status-nodes`;
    this.#reportPrefix = `${prefix}:connector-status:`;
    this.#ttlMs = options.ttlMs;
    this.#checkMs = options.checkMs ?? 250;
    this.nodeId = options.nodeId;
  }

  /** A worker: publishes `local()` now, again whenever it changes (in flight aside) and every third of the TTL. */
  publish(local: () => ConnectorView[]): void {
    const tick = () => {
      if (this.#stopped) return;
      if (!this.#publishing) {
        const views = local();
        // Requests in flight change all the time under load: they go out with the heartbeat only.
        const signature = JSON.stringify(views.map((v) => ({ ...v, inFlight: 0 })));
        if (signature !== this.#published || Date.now() - this.#publishedAt >= this.#ttlMs / 3) {
          const at = Date.now();
          this.#publishing = this.#redis
            .eval(PUBLISH, 2, this.#index, this.#reportPrefix + this.nodeId, this.nodeId, this.#ttlMs, JSON.stringify({ connectors: views }))
            .then(
              () => {
                this.#published = signature;
                this.#publishedAt = at;
              },
              (err: unknown) => this.#log.warn({ err }, 'connector status: Redis did not take this node\'s report'),
            )
            .finally(() => (this.#publishing = undefined));
        }
      }
      this.#publishTimer = setTimeout(tick, this.#checkMs);
      this.#publishTimer.unref();
    };
    tick();
  }

  /** An api node: reads the live workers' reports every check. */
  watch(): void {
    const tick = () => {
      if (this.#stopped) return;
      if (!this.#reading) {
        const at = Date.now();
        this.#reading = this.#redis
          .eval(READ, 1, this.#index, this.#reportPrefix)
          .then(
            (flat) => {
              const list = flat as string[];
              const reports: NodeReport[] = [];
              for (let i = 0; i + 1 < list.length; i += 2) reports.push({ node: list[i]!, connectors: (JSON.parse(list[i + 1]!) as { connectors: ConnectorView[] }).connectors });
              this.#reports = reports;
              this.#readAt = at;
            },
            (err: unknown) => this.#log.warn({ err }, 'connector status: could not read the workers\' reports'),
          )
          .finally(() => (this.#reading = undefined));
      }
      this.#readTimer = setTimeout(tick, this.#checkMs);
      this.#readTimer.unref();
    };
    tick();
  }

  /**
   * The known connectors as the live workers report them (mergeConnectorViews).
   * Reports older than a TTL (Redis has not answered since) count for none.
   * A connector known here for less than half a TTL (just made, or this node just
   * started) that no worker reports yet is `connecting`, not `down`. A
   * connector's `since` moves only when its merged status changes.
   */
  view(known: readonly KnownConnector[], now = Date.now()): ConnectorView[] {
    const fresh = now - this.#readAt <= this.#ttlMs;
    const merged = mergeConnectorViews(known, fresh ? this.#reports : [], now, fresh ? undefined : 'the workers\' reports cannot be read: Redis does not answer');
    for (const v of merged) {
      const seen = this.#seen.get(v.id);
      const since = seen?.known ?? Math.min(now, this.#startedAt);
      if (fresh && v.nodes?.length === 0 && now - since < this.#ttlMs / 2) {
        v.status = 'connecting';
        v.detail = 'waiting for the workers\' reports';
      }
      if (seen && seen.status === v.status) v.since = seen.since;
      else if (seen) v.since = now;
      this.#seen.set(v.id, { status: v.status, since: v.since, known: since });
    }
    for (const id of this.#seen.keys()) if (!known.some((k) => k.id === id)) this.#seen.delete(id);
    return merged;
  }

  /** Stops publishing and reading; a worker's report is removed at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#publishTimer);
    clearTimeout(this.#readTimer);
    if (this.#publishTimer === undefined) return;
    // After a report in flight (one connection: in order). Redis away: the report runs out by itself, so the stop does not wait long.
    await within(this.#redis.eval(LEAVE, 2, this.#index, this.#reportPrefix + this.nodeId, this.nodeId), Math.min(this.#ttlMs, 1000));
  }
}
