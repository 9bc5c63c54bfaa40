import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { bindClient, type BindMode, type IncomingRequest, type SmppSession } from '../src/smpp/session.ts';
import { freePort, TEST_DATABASE_URL } from './helpers.ts';

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

/** An SMPP customer's bind to an smpp node (login shop / pass1234) that acknowledges every receipt after handing its message id to `onReceipt`. */
export function bindCustomer(port: number, mode: BindMode, onReceipt: (messageId: string) => void): Promise<SmppSession> {
  return bindClient({
    host: '127.0.0.1',
    port,
    systemId: 'shop',
    password: 'pass1234',
    mode,
    windowSize: 20,
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
