/**
 * What one message costs in cluster mode, for the capacity model: a cluster of
 * one API node, one scheduler and `--workers` worker processes (a list: one cluster after another) over a
 * throwaway PostgreSQL database and a Redis server of its own (so that its
 * counters are this cluster's alone), sending through the SMPP connector to
 * the simulator in this process (receipts 50 ms after each submit).
 *
 * After a warm-up of `--warmup` messages, `--messages` messages are offered
 * (`--ingest bulk`: 100 per request, 4 requests in flight; `single`: one
 * `POST /v1/messages` each, 50 in flight) and the bench waits until every one
 * is `delivered`. Between the two snapshots around that window it reports, per
 * message:
 *
 * - CPU µs of each process (API node, scheduler, workers), of the PostgreSQL
 *   backends serving this database (pg_stat_activity; the WAL writer and
 *   checkpointer are shared with the machine and not counted) and of Redis
 *   (`INFO cpu`);
 * - PostgreSQL transactions and rows written (pg_stat_database of this
 *   database) and round trips per node role (bench/pg-trace.ts preloaded in
 *   every node);
 * - Redis commands (`INFO commandstats`), the five most frequent by name.
 *
 * Counts do not depend on what else runs on the machine; CPU figures do (a
 * busy machine inflates them), so every result records the machine's load.
 *
 *   node bench/cluster-costs.ts [--workers 1,2,3] [--messages 20000] [--warmup 1000] [--ingest bulk|single] [--runs 1]
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { SmscSimulator } from '../src/smpp/simulator.ts';
import { clusterEnv, createDatabase, Node, privateRedis, until } from '../test/cluster-nodes.ts';
import { API_KEY, machineCpu, machineInfo, median, processCpuSeconds, REPO_ROOT, round } from './lib.ts';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '1,2,3' },
    messages: { type: 'string', default: '20000' },
    warmup: { type: 'string', default: '1000' },
    ingest: { type: 'string', default: 'bulk' },
    runs: { type: 'string', default: '1' },
  },
});
const LAYOUTS = values.workers.split(',').map(Number);
const MESSAGES = Number(values.messages);
const WARMUP = Number(values.warmup);
const RUNS = Number(values.runs);
const INGEST = values.ingest;
if (INGEST !== 'bulk' && INGEST !== 'single') throw new Error('--ingest is bulk or single');
const log = (line: string) => process.stderr.write(line + '\n');
const headers = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };

interface Snapshot {
  at: number;
  cpu: Map<string, number>;
  machine: { busy: number; total: number };
  pgStats: Record<string, number>;
  redisCpu: number;
  redisCommands: Map<string, number>;
  pgTrips: Map<string, number>;
}

/** `INFO` of one section as a key → value map. */
async function info(redis: Redis, section: string): Promise<Map<string, string>> {
  const text = await redis.info(section);
  return new Map(
    text
      .split('\r\n')
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
  );
}

/** Round trips so far per node, from the pg-trace files (every thread's file of that node summed). */
function pgTrips(traceDir: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const file of readdirSync(traceDir)) {
    const node = file.split('.')[0]!;
    try {
      const t = JSON.parse(readFileSync(path.join(traceDir, file), 'utf8')) as { queries: number };
      out.set(node, (out.get(node) ?? 0) + t.queries);
    } catch {
      // being rewritten this moment: the next snapshot has it
    }
  }
  return out;
}

async function snapshot(nodes: Node[], db: pg.Pool, dbName: string, redis: Redis, traceDir: string): Promise<Snapshot> {
  const stats = await db.query<Record<string, string>>('select xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted from pg_stat_database where datname = $1', [dbName]);
  const cpuInfo = await info(redis, 'cpu');
  const commands = new Map<string, number>();
  for (const [key, value] of await info(redis, 'commandstats')) commands.set(key.replace('cmdstat_', ''), Number(/calls=(\d+)/.exec(value)?.[1] ?? 0));
  return {
    at: Date.now(),
    cpu: new Map(nodes.map((n) => [n.name, processCpuSeconds(n.child.pid!)])),
    machine: machineCpu(),
    pgStats: Object.fromEntries(Object.entries(stats.rows[0] ?? {}).map(([k, v]) => [k, Number(v)])),
    redisCpu: Number(cpuInfo.get('used_cpu_user')) + Number(cpuInfo.get('used_cpu_sys')),
    redisCommands: commands,
    pgTrips: pgTrips(traceDir),
  };
}

/**
 * CPU of the PostgreSQL backends serving one database, sampled every 250 ms
 * (the pool opens and closes connections as it likes): per backend, from its
 * first sample (or its start, if it began after the window opened) to its last.
 */
class BackendCpu {
  readonly #seen = new Map<number, { first: number; last: number }>();
  readonly #timer: NodeJS.Timeout;
  readonly #db: pg.Pool;
  readonly #dbName: string;
  #sampling: Promise<void> = Promise.resolve();
  #opened = false;

  constructor(db: pg.Pool, dbName: string) {
    this.#db = db;
    this.#dbName = dbName;
    this.#timer = setInterval(() => (this.#sampling = this.#sample()), 250);
  }

  async #sample(): Promise<void> {
    const rows = (await this.#db.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [this.#dbName])).rows;
    for (const { pid } of rows) {
      const cpu = processCpuSeconds(pid);
      if (Number.isNaN(cpu)) continue;
      const e = this.#seen.get(pid);
      if (e) e.last = cpu;
      else this.#seen.set(pid, { first: this.#opened ? 0 : cpu, last: cpu });
    }
  }

  /** the window opens: backends seen from now on started inside it */
  async open(): Promise<void> {
    await this.#sampling;
    await this.#sample();
    this.#opened = true;
  }

  async close(): Promise<number> {
    clearInterval(this.#timer);
    await this.#sampling;
    await this.#sample();
    let total = 0;
    for (const e of this.#seen.values()) total += e.last - e.first;
    return total;
  }
}

async function offer(base: string, first: number, count: number): Promise<void> {
  const phone = (i: number) => `+7916${String(i).padStart(7, '0')}`;
  let next = first;
  const end = first + count;
  const loop = async () => {
    while (next < end) {
      if (INGEST === 'bulk') {
        const from = next;
        next = Math.min(end, next + 100);
        const to = [...Array(next - from)].map((_, k) => phone(from + k));
        const res = await fetch(`${base}/v1/messages/bulk`, { method: 'POST', headers, body: JSON.stringify({ to, text: 'capacity' }) });
        if (res.status !== 202) throw new Error(`bulk: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      } else {
        const i = next++;
        const res = await fetch(`${base}/v1/messages`, { method: 'POST', headers, body: JSON.stringify({ to: phone(i), text: 'capacity' }) });
        if (res.status !== 202) throw new Error(`single: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      }
    }
  };
  await Promise.all([...Array(INGEST === 'bulk' ? 4 : 50)].map(loop));
}

async function run(WORKERS: number): Promise<Record<string, unknown>> {
  const sim = new SmscSimulator({ receiptDelayMs: 50 });
  const simPort = await sim.start();
  const redisServer = await privateRedis();
  const database = await createDatabase();
  const dbName = new URL(database.url).pathname.slice(1);
  const traceDir = mkdtempSync(path.join(tmpdir(), 'depesha-costs-'));
  const configFile = { connectors: [{ id: 'operator', type: 'smpp', host: '127.0.0.1', port: simPort, system_id: 'bench', password: 'bench', window: 100 }], routes: [{ connector: 'operator' }] };
  const env = { ...clusterEnv({ databaseUrl: database.url, prefix: `costs-${randomBytes(3).toString('hex')}`, apiKey: API_KEY, configFile }), REDIS_URL: redisServer.url, PORT: '0' };
  const traced = (name: string) => ({ ...env, NODE_OPTIONS: `--import ${path.join(REPO_ROOT, 'bench/pg-trace.ts')}`, BENCH_PG_TRACE: path.join(traceDir, `${name}.json`) });
  const nodes: Node[] = [];
  const db = new pg.Pool({ connectionString: database.url, max: 2 });
  const redis = new Redis(redisServer.url);
  try {
    const api = new Node('api', 'api', traced('api'));
    nodes.push(api);
    const base = String((await api.started()).url);
    nodes.push(new Node('scheduler', 'scheduler', traced('scheduler')), ...[...Array(WORKERS)].map((_, i) => new Node(`worker-${i + 1}`, 'worker', traced(`worker-${i + 1}`))));
    await Promise.all(nodes.map((n) => n.started()));
    await until('binds from every worker', async () => (sim.bound === WORKERS ? true : undefined), 60_000);
    const delivered = async () => Number((await db.query<{ n: string }>("select count(*) as n from messages where status = 'delivered'")).rows[0]!.n);

    await offer(base, 0, WARMUP);
    await until('the warm-up delivered', async () => ((await delivered()) >= WARMUP ? true : undefined), 120_000);
    // Counters are read after a pause on both sides: pg-trace files are written every 2 s, and an idle
    // PostgreSQL backend reports its counters within 10 s. CPU is read at the window's edges.
    await new Promise((resolve) => setTimeout(resolve, 11_000));
    const a = await snapshot(nodes, db, dbName, redis, traceDir);
    const backends = new BackendCpu(db, dbName);
    await backends.open();
    const atStart = Date.now();
    await offer(base, WARMUP, MESSAGES);
    const accepted = Date.now();
    await until('every message delivered', async () => ((await delivered()) >= WARMUP + MESSAGES ? true : undefined), 300_000);
    const done = Date.now();
    const pgCpu = await backends.close();
    const atDone = await snapshot(nodes, db, dbName, redis, traceDir);
    await new Promise((resolve) => setTimeout(resolve, 11_000));
    const b = await snapshot(nodes, db, dbName, redis, traceDir);

    const perMessage = (x: number) => round(x / MESSAGES, 3);
    const us = (seconds: number) => round((seconds * 1e6) / MESSAGES, 0);
    const cpuUs: Record<string, number> = {};
    for (const [name, s] of atDone.cpu) cpuUs[name] = us(s - (a.cpu.get(name) ?? 0));
    cpuUs.workers = [...atDone.cpu.keys()].filter((k) => k.startsWith('worker')).reduce((sum, k) => sum + cpuUs[k]!, 0);
    cpuUs.postgres_backends = us(pgCpu);
    cpuUs.redis = us(atDone.redisCpu - a.redisCpu);
    const commands = [...b.redisCommands].map(([name, calls]) => [name, calls - (a.redisCommands.get(name) ?? 0)] as const).filter(([, n]) => n > 0).sort((x, y) => y[1] - x[1]);
    const trips: Record<string, number> = {};
    for (const [node, n] of b.pgTrips) trips[node] = perMessage(n - (a.pgTrips.get(node) ?? 0));
    const stat = (k: string) => perMessage((b.pgStats[k] ?? 0) - (a.pgStats[k] ?? 0));
    const machine = (atDone.machine.busy - a.machine.busy) / (atDone.machine.total - a.machine.total);
    return {
      workers: WORKERS,
      ingest: INGEST,
      messages: MESSAGES,
      accept_s: round((accepted - atStart) / 1000, 1),
      delivered_s: round((done - atStart) / 1000, 1),
      delivered_per_s: round(MESSAGES / ((done - atStart) / 1000), 0),
      cpu_us_per_message: cpuUs,
      pg_per_message: { transactions: stat('xact_commit'), rollbacks: stat('xact_rollback'), rows_inserted: stat('tup_inserted'), rows_updated: stat('tup_updated'), rows_deleted: stat('tup_deleted'), round_trips: trips },
      redis_per_message: { commands: perMessage(commands.reduce((sum, [, n]) => sum + n, 0)), top: Object.fromEntries(commands.slice(0, 6).map(([name, n]) => [name, perMessage(n)])) },
      machine_busy: round(machine, 2),
      load_average: round(loadavg()[0]!, 1),
    };
  } finally {
    for (const n of nodes) n.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => n.exited));
    redis.disconnect();
    await db.end();
    await sim.stop();
    await redisServer.stop();
    await database.drop();
  }
}

const results: Record<string, unknown>[] = [];
for (let i = 0; i < RUNS; i++) {
  for (const workers of LAYOUTS) {
    log(`run ${i + 1}/${RUNS}: ${workers} worker(s), ${MESSAGES} messages (${INGEST})`);
    const r = await run(workers);
    log(`  ${JSON.stringify(r)}`);
    results.push(r);
  }
}
for (const workers of LAYOUTS) {
  const mine = results.filter((r) => r.workers === workers);
  const cpu = (key: string) => median(mine.map((r) => (r.cpu_us_per_message as Record<string, number>)[key] ?? NaN));
  const pgs = (key: string) => median(mine.map((r) => (r.pg_per_message as Record<string, number>)[key] ?? NaN));
  process.stdout.write(
    `${workers} worker(s), per message, median of ${mine.length}: CPU api ${cpu('api')} µs, workers ${cpu('workers')} µs, scheduler ${cpu('scheduler')} µs, ` +
      `PostgreSQL backends ${cpu('postgres_backends')} µs, Redis ${cpu('redis')} µs; PostgreSQL ${pgs('transactions')} transactions, ${pgs('rows_inserted')} rows inserted, ${pgs('rows_updated')} updated; ` +
      `Redis ${median(mine.map((r) => (r.redis_per_message as { commands: number }).commands))} commands\n`,
  );
}
process.stdout.write(JSON.stringify({ bench: 'cluster-costs', machine: machineInfo(), runs: results }) + '\n');
