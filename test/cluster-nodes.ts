import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { generateApiKey } from '../src/store/accounts.ts';
import { SmscSimulator, type SimulatorOptions } from '../src/smpp/simulator.ts';
import { bindClient, type BindMode, type IncomingRequest, type SmppSession } from '../src/smpp/session.ts';
import { freePort, postgresUnavailable, TEST_DATABASE_URL } from './helpers.ts';

export { freePort };

export const TEST_REDIS_URL = process.env.DEPESHA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** undefined when Redis answers; otherwise why not. */
export async function redisUnavailable(): Promise<string | undefined> {
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (err) {
    return `Redis is not reachable at ${TEST_REDIS_URL}: ${(err as Error).message}`;
  } finally {
    redis.disconnect();
  }
}

/**
 * A cluster test's `skip`: why PostgreSQL or Redis cannot be reached, or false
 * when both answer; with CI=true an unreachable one fails instead.
 */
export async function clusterSkip(): Promise<string | false> {
  const why = (await postgresUnavailable()) ?? (await redisUnavailable());
  if (why && process.env.CI === 'true') throw new Error(`CI=true but ${why}`);
  return why ?? false;
}

/** A database of its own on the test server (the nodes are separate processes: a schema per suite would not reach them). */
export async function createDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `cluster_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** Removes every key of a cluster's prefix. */
export async function dropRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}

/** One node of the cluster: `depesha start --roles …` as a child process; its JSON log lines are kept. */
export class Node {
  readonly name: string;
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters: { check: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = [];
  #buffer = '';

  constructor(name: string, roles: string, env: Record<string, string>) {
    this.name = name;
    const dataDir = mkdtempSync(path.join(tmpdir(), `depesha-${name}-`));
    this.child = spawn(process.execPath, ['src/main.ts', 'start', '--roles', roles], { env: { ...process.env, ...env, DEPESHA_DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => this.#take(chunk));
    let stderr = '';
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        if (code !== 0 && signal === null && stderr) process.stderr.write(`[${name}] ${stderr}\n`);
        resolve({ code, signal });
      }),
    );
  }

  #take(chunk: string): void {
    this.#buffer += chunk;
    let nl;
    while ((nl = this.#buffer.indexOf('\n')) >= 0) {
      const text = this.#buffer.slice(0, nl);
      this.#buffer = this.#buffer.slice(nl + 1);
      if (!text.startsWith('{')) continue; // the bootstrap notice
      const line = JSON.parse(text) as Record<string, unknown>;
      this.lines.push(line);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.check(line)) return true;
        w.resolve(line);
        return false;
      });
    }
  }

  /** Resolves with the first log line (already seen or to come) that matches; fails if the node exits first or on timeout. */
  waitForLine(check: (line: Record<string, unknown>) => boolean, what: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const seen = this.lines.find(check);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: ${what} did not happen within ${timeoutMs} ms; last log lines:\n${this.lines.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`)), timeoutMs);
      void this.exited.then(({ code, signal }) => reject(new Error(`${this.name} exited (${code ?? signal}) before ${what}`)));
      this.#waiters.push({ check, resolve: (line) => (clearTimeout(timer), resolve(line)) });
    });
  }

  started(): Promise<Record<string, unknown>> {
    // Generous: six processes type-strip and start at once on a shared 2-core machine.
    return this.waitForLine((l) => l.msg === 'depesha started', 'start', 60_000);
  }
}

/** binds the node runs now, from its last 'binds of this connector on this node' line */
export function bindsOn(node: Node): number {
  const lines = node.lines.filter((l) => l.msg === 'binds of this connector on this node');
  return lines.length === 0 ? 0 : Number(lines[lines.length - 1]!.binds);
}

/**
 * After a cluster test: the customer's sessions closed, every node still
 * running SIGKILLed and awaited, then the rest (simulator, pools) closed, the
 * database dropped and the prefix's keys removed.
 */
export async function endCluster(parts: { sessions?: { close(): Promise<void> }[]; nodes: Node[]; close?: (() => Promise<unknown>)[]; database: { drop(): Promise<void> }; prefix: string }): Promise<void> {
  await Promise.all((parts.sessions ?? []).map((s) => s.close()));
  for (const n of parts.nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
  await Promise.all(parts.nodes.map((n) => n.exited));
  for (const close of parts.close ?? []) await close();
  await parts.database.drop();
  await dropRedisPrefix(parts.prefix);
}

/**
 * An SMPP customer's bind to an smpp node (login shop / pass1234) that acknowledges every receipt after handing its
 * message id to `onReceipt`; `windowSize` (its submits in flight at most) 20 unless given.
 */
export function bindCustomer(port: number, mode: BindMode, onReceipt: (messageId: string) => void, options: { windowSize?: number } = {}): Promise<SmppSession> {
  return bindClient({
    host: '127.0.0.1',
    port,
    systemId: 'shop',
    password: 'pass1234',
    mode,
    windowSize: options.windowSize ?? 20,
    onRequest: (request: IncomingRequest) => {
      if (request.command !== 'deliver_sm') return;
      if (request.tlvs.receiptedMessageId) onReceipt(request.tlvs.receiptedMessageId);
      return { command: 'deliver_sm_resp' };
    },
  });
}

/** The environment every node of one cluster shares. */
export function clusterEnv(options: { databaseUrl: string; prefix: string; apiKey: string; configFile: unknown }): Record<string, string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'depesha-cluster-'));
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(options.configFile));
  return {
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: TEST_REDIS_URL,
    DEPESHA_REDIS_PREFIX: options.prefix,
    DEPESHA_CONFIG: file,
    DEPESHA_BOOTSTRAP_API_KEY: options.apiKey,
    // Every node must open the same sealed secrets (webhook signing keys, connector passwords).
    DEPESHA_SECRET_KEY: randomBytes(32).toString('base64'),
    SMPP_ENABLED: 'false',
    // The test's webhook receiver listens on 127.0.0.1.
    DEPESHA_WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
  };
}

/** A cluster on the SMSC simulator, as `smppCluster` sets it up; every node it starts is stopped after the test. */
export interface SmppCluster {
  /** the operator: the connector `operator`, the only route */
  sim: SmscSimulator;
  /** a pool on the cluster's database, for what only the database shows */
  db: pg.Pool;
  /** the cluster's database, for a connection of a test's own (a lock held across steps) */
  databaseUrl: string;
  prefix: string;
  /** the bootstrap API key */
  apiKey: string;
  /** every node started with `node`, in order */
  nodes: Node[];
  /** the receipts each bind made with `bind` got: bind name → message id → times */
  receipts: Map<string, Map<string, number>>;
  /** a node on the cluster's environment (clusterEnv, PORT 0: its URL is in its "depesha started" line, the test's `env`) and `extra`; not awaited (`started()`) */
  node(name: string, roles: string, extra?: Record<string, string>): Node;
  /** a node with the SMPP server on 127.0.0.1:`port` */
  smppNode(name: string, roles: string, port: number): Node;
  /** resolves once the operator sees `binds` binds (fails after `timeoutMs`, 20 s unless given) */
  bound(binds: number, what?: string, timeoutMs?: number): Promise<true>;
  /** makes the SMPP login shop / pass1234 (the one `bindCustomer` binds as) through the API at `url` */
  smppLogin(url: string, settings?: Record<string, unknown>): Promise<void>;
  /** the customer binds as shop; the receipts the bind gets are counted in `receipts` under `name` */
  bind(name: string, port: number, mode: BindMode): Promise<SmppSession>;
  /** the last event id the login shop's receipts are stored as sent up to, undefined before any */
  receiptPosition(): Promise<string | undefined>;
}

/**
 * The set-up the SMPP cluster tests share: the SMSC simulator (account
 * depesha / secret1, receipts after 50 ms unless `simulator` says otherwise)
 * behind the connector `operator`, a database of its own, a Redis prefix
 * (`prefix` and the time), a bootstrap API key and the nodes' environment;
 * after the test everything is torn down (endCluster).
 */
export async function smppCluster(
  t: TestContext,
  options: {
    /** the Redis prefix's start */
    prefix: string;
    /** the operator connector's settings beyond its address, account and reconnect delays (binds, window, max_submits_per_second) */
    connector: Record<string, unknown>;
    /** every node's environment beyond clusterEnv (leases, retry delays) */
    env: Record<string, string>;
    simulator?: Omit<SimulatorOptions, 'accounts'>;
    /** the connections of `db`, 1 unless given */
    poolSize?: number;
    /** closed after the nodes and the simulator, before the database is dropped */
    close?: (() => Promise<unknown>)[];
  },
): Promise<SmppCluster> {
  const sim = new SmscSimulator({ accounts: { depesha: 'secret1' }, receiptDelayMs: 50, ...options.simulator });
  const simPort = await sim.start();
  const database = await createDatabase();
  const db = new pg.Pool({ connectionString: database.url, max: options.poolSize ?? 1 });
  const prefix = `${options.prefix}-${Date.now().toString(36)}`;
  const apiKey = generateApiKey();
  const nodes: Node[] = [];
  const sessions: SmppSession[] = [];
  t.after(() => endCluster({ sessions, nodes, close: [() => db.end(), () => sim.stop(), ...(options.close ?? [])], database, prefix }));
  const env = {
    ...clusterEnv({
      databaseUrl: database.url,
      prefix,
      apiKey,
      configFile: {
        connectors: [{ id: 'operator', type: 'smpp', host: '127.0.0.1', port: simPort, system_id: 'depesha', password: 'secret1', reconnect_min_ms: 20, reconnect_max_ms: 200, ...options.connector }],
        routes: [{ connector: 'operator' }],
      },
    }),
    PORT: '0',
    ...options.env,
  };
  const receipts = new Map<string, Map<string, number>>();
  const cluster: SmppCluster = {
    sim,
    db,
    databaseUrl: database.url,
    prefix,
    apiKey,
    nodes,
    receipts,
    node(name, roles, extra = {}) {
      const node = new Node(name, roles, { ...env, ...extra });
      nodes.push(node);
      return node;
    },
    smppNode(name, roles, port) {
      return cluster.node(name, roles, { SMPP_ENABLED: 'true', SMPP_HOST: '127.0.0.1', SMPP_PORT: String(port) });
    },
    bound(binds, what = 'the operator bound', timeoutMs = 20_000) {
      return until(what, async () => (sim.bound === binds ? true : undefined), timeoutMs);
    },
    async smppLogin(url, settings = {}) {
      const res = await fetch(`${url}/v1/smpp/credentials`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ system_id: 'shop', password: 'pass1234', ...settings }) });
      assert.equal(res.status, 201, await res.text());
    },
    async bind(name, port, mode) {
      const mine = new Map<string, number>();
      receipts.set(name, mine);
      const session = await bindCustomer(port, mode, (id) => mine.set(id, (mine.get(id) ?? 0) + 1));
      sessions.push(session);
      return session;
    },
    async receiptPosition() {
      const rows = await db.query<{ last_event_id: string }>(`select c.last_event_id from smpp_receipt_cursors c join smpp_credentials s on s.id = c.credential_id where s.system_id = 'shop'`);
      return rows.rows[0]?.last_event_id;
    },
  };
  return cluster;
}

/**
 * The customer SMPP tests' cluster: an API and scheduler node, smpp nodes A
 * and B on free ports and a worker, all started; the operator bound `binds`
 * times and the login shop made (max_binds 2, and `login`'s settings).
 */
export async function twoSmppNodes(cluster: SmppCluster, binds: number, login: Record<string, unknown> = {}): Promise<{ url: string; a: Node; b: Node; portA: number; portB: number }> {
  const [portA, portB] = [await freePort(), await freePort()];
  const api = cluster.node('api', 'api,scheduler');
  const url = String((await api.started()).url);
  const a = cluster.smppNode('smpp-a', 'smpp', portA);
  const b = cluster.smppNode('smpp-b', 'smpp', portB);
  const worker = cluster.node('worker', 'worker');
  await Promise.all([a, b, worker].map((n) => n.started()));
  await cluster.bound(binds);
  await cluster.smppLogin(url, { max_binds: 2, ...login });
  return { url, a, b, portA, portB };
}

/** The customer's submit_sm to `to` with a receipt asked for; asserts it was taken and gives the message id. */
export async function submitSm(via: SmppSession, to: string, text: string): Promise<string> {
  const resp = await via.request({ command: 'submit_sm', sourceAddr: 'Shop', sourceAddrTon: 5, destAddrTon: 1, destAddrNpi: 1, destinationAddr: to, registeredDelivery: 1, shortMessage: Buffer.from(text) });
  assert.ok(resp.command === 'submit_sm_resp' && resp.status === 0, `submit ${text}: ${JSON.stringify(resp)}`);
  return resp.messageId;
}

/** A bounded wait for what only the database or the simulator shows (polled: they have no events to wait on). */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}


/**
 * A Redis server of the test's own (the machine's is shared with the other
 * suites, so it cannot be restarted): no persistence, so a restart loses
 * every key, the worst case for the cluster.
 */
export async function privateRedis(): Promise<{ url: string; kill(): Promise<void>; start(): Promise<void>; stop(): Promise<void> }> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async () => {
    const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    child = c;
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    await until('the private Redis answering', async () => {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {}); // refused until it is up: the connect() below says so
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG' ? true : undefined;
      } catch {
        return undefined;
      } finally {
        probe.disconnect();
      }
    }, 10_000);
  };
  const kill = async () => {
    child?.kill('SIGKILL');
    await exited;
  };
  await start();
  return { url, kill, start, stop: kill };
}

/**
 * A PostgreSQL server of the test's own, in a temporary directory (initdb as
 * the postgres user when the test runs as root), so that it can be stopped
 * and started again under load without touching the machine's server.
 */
export async function privatePostgres(): Promise<{ url: string; crash(): Promise<void>; start(): Promise<void>; stop(): Promise<void> }> {
  const bin = await postgresBin();
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'depesha-pg-'));
  const asPostgres = process.getuid?.() === 0;
  if (asPostgres) await run('chown', ['postgres:postgres', dir]);
  const pgRun = (tool: string, args: string[]) => (asPostgres ? run('runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args]) : run(path.join(bin, tool), args));
  await pgRun('initdb', ['-D', path.join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
  const start = () => pgRun('pg_ctl', ['-D', path.join(dir, 'data'), '-o', options, '-l', path.join(dir, 'log'), '-w', 'start']);
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    // An immediate stop is a crash: no checkpoint, every connection cut; the next start recovers from the WAL.
    crash: () => pgRun('pg_ctl', ['-D', path.join(dir, 'data'), '-m', 'immediate', '-w', 'stop']),
    start,
    stop: () => pgRun('pg_ctl', ['-D', path.join(dir, 'data'), '-m', 'immediate', '-w', 'stop']).catch(() => {}),
  };
}

/** The directory of the PostgreSQL server binaries (initdb, pg_ctl): Debian keeps them under /usr/lib/postgresql/<version>/bin. */
async function postgresBin(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(path.join(root, v, 'bin', 'pg_ctl'))) return path.join(root, v, 'bin');
  throw new Error('no PostgreSQL server binaries (pg_ctl, initdb) under /usr/lib/postgresql/*/bin');
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.once('error', reject);
    c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.trim()}`))));
  });
}
