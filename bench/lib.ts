/**
 * Shared helpers of the benchmarks: command-line flags, the gateway as a child
 * process (temp data dir, free port, readiness, stop), Prometheus scraping,
 * CPU accounting, phone numbers, statistics and output.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import autocannon, { type Options as CannonOptions, type Result as CannonResult } from 'autocannon';
import pg from 'pg';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const API_KEY = 'bench_' + randomBytes(16).toString('hex');
const DEFAULT_PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

// ---------------------------------------------------------------- flags

export type DbKind = 'sqlite' | 'postgres';

export interface CommonArgs {
  db: DbKind;
  duration: number;
  connections: number;
  runs: number;
  /** PostgreSQL server to create the throwaway databases on */
  pgAdminUrl: string;
  /** DEPESHA_SQLITE_SYNCHRONOUS for the server; undefined keeps the gateway's default (full) */
  sqliteSync: 'full' | 'normal' | undefined;
  /** directory for the server's --cpu-prof output; undefined: no profiling */
  cpuProf: string | undefined;
  /** file for per-statement SQLite timings (bench/sqlite-trace.ts preloaded into the server) */
  sqliteTrace: string | undefined;
  /** file for per-statement PostgreSQL counts and round-trip times (bench/pg-trace.ts preloaded into the server) */
  pgTrace: string | undefined;
  /** extra server environment, `--env NAME=value` (repeatable) */
  env: Record<string, string>;
  /** extra flags for the server's node, `--node-flag=--optimize-for-size` (repeatable) */
  nodeFlags: string[];
  quiet: boolean;
}

type OptionSpec = NonNullable<ParseArgsConfig['options']>;

const COMMON_OPTIONS = {
  db: { type: 'string', default: 'sqlite' },
  duration: { type: 'string' },
  connections: { type: 'string' },
  runs: { type: 'string', default: '1' },
  'pg-url': { type: 'string', default: DEFAULT_PG_ADMIN_URL },
  'sqlite-sync': { type: 'string' },
  'cpu-prof': { type: 'string' },
  'sqlite-trace': { type: 'string' },
  'pg-trace': { type: 'string' },
  env: { type: 'string', multiple: true },
  'node-flag': { type: 'string', multiple: true },
  quiet: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies OptionSpec;

export const COMMON_HELP = `common flags:
  --db sqlite|postgres    store of the gateway under test (default sqlite)
  --duration SECONDS      measured time of one run
  --connections N         concurrent HTTP connections
  --runs N                repeat with a fresh server each time; the median is reported (default 1)
  --pg-url URL            PostgreSQL server on which a throwaway database is created per run
                          (default ${DEFAULT_PG_ADMIN_URL})
  --sqlite-sync full|normal   DEPESHA_SQLITE_SYNCHRONOUS for the server (default: the gateway's, full)
  --cpu-prof DIR          run the server with --cpu-prof, profiles written to DIR
                          (summarise with: node bench/profile-summary.ts DIR/*.cpuprofile)
  --sqlite-trace FILE     time every SQLite statement in the server (bench/sqlite-trace.ts), totals to FILE
                          (with --runs N, FILE is suffixed .1, .2, …; worker threads write FILE.thread<N>)
  --pg-trace FILE         count and time every PostgreSQL query in the server (bench/pg-trace.ts), same naming
  --env NAME=VALUE        extra environment for the server (repeatable)
  --node-flag FLAG        an extra flag for the server's node, e.g. --node-flag=--optimize-for-size (repeatable)
  --quiet                 only the JSON line`;

function positiveNumber(name: string, raw: string | undefined, fallback: number, allowZero = false): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) fail(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(raw)}`);
  return n;
}

export function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

/**
 * Parses the common flags plus the bench's own. `defaults` gives the bench's
 * defaults for --duration and --connections.
 */
export function parseBenchArgs<const T extends OptionSpec>(
  usage: string,
  own: T,
  defaults: { duration: number; connections: number },
): { common: CommonArgs; values: Record<string, string | boolean | string[] | undefined> } {
  let parsed;
  try {
    parsed = parseArgs({ options: { ...COMMON_OPTIONS, ...own }, allowPositionals: false, strict: true });
  } catch (err) {
    fail(`${(err as Error).message}\n\n${usage}\n${COMMON_HELP}`);
  }
  const v = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (v.help) {
    process.stdout.write(`${usage}\n${COMMON_HELP}\n`);
    process.exit(0);
  }
  const db = v.db as string;
  if (db !== 'sqlite' && db !== 'postgres') fail('--db must be sqlite or postgres');
  const sync = v['sqlite-sync'] as string | undefined;
  if (sync !== undefined && sync !== 'full' && sync !== 'normal') fail('--sqlite-sync must be full or normal');
  const env: Record<string, string> = {};
  for (const pair of (v.env as string[] | undefined) ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) fail(`--env wants NAME=VALUE, got ${JSON.stringify(pair)}`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const runs = positiveNumber('runs', v.runs as string, 1);
  if (!Number.isInteger(runs)) fail('--runs must be a whole number');
  return {
    common: {
      db,
      nodeFlags: (v['node-flag'] as string[] | undefined) ?? [],
      duration: positiveNumber('duration', v.duration as string | undefined, defaults.duration),
      connections: Math.round(positiveNumber('connections', v.connections as string | undefined, defaults.connections)),
      runs,
      pgAdminUrl: v['pg-url'] as string,
      sqliteSync: sync as 'full' | 'normal' | undefined,
      cpuProf: v['cpu-prof'] as string | undefined,
      sqliteTrace: v['sqlite-trace'] as string | undefined,
      pgTrace: v['pg-trace'] as string | undefined,
      env,
      quiet: v.quiet as boolean,
    },
    values: v,
  };
}

export function numberFlag(values: Record<string, unknown>, name: string, fallback: number, allowZero = false): number {
  return positiveNumber(name, values[name] as string | undefined, fallback, allowZero);
}

// ---------------------------------------------------------------- server child

/** The code under test: commit, and whether src/ has uncommitted changes (others edit it while benches run). */
export function codeVersion(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+dirty-src` : head;
  } catch {
    return 'unknown';
  }
}

export interface Server {
  url: string;
  /** codeVersion() when the server was started */
  code: string;
  pid: number;
  child: ChildProcess;
  dataDir: string;
  db: DbKind;
  /** the last lines the server wrote to stderr (warnings, errors) */
  stderrTail(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function createPgDatabase(adminUrl: string): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export interface StartOptions {
  common: CommonArgs;
  /** extra environment for this bench (the command line's --env wins) */
  env?: Record<string, string>;
  log?: (line: string) => void;
}

let traceCount = 0;

/** Starts `node src/main.ts start` on a free port with a fresh data dir (and a fresh PostgreSQL database), waits for /readyz. */
export async function startServer(options: StartOptions): Promise<Server> {
  const { common } = options;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'depesha-bench-'));
  const port = await freePort();
  const pgDb = common.db === 'postgres' ? await createPgDatabase(common.pgAdminUrl) : undefined;
  const nodeOptions: string[] = [];
  if (common.cpuProf) nodeOptions.push('--cpu-prof', `--cpu-prof-dir=${path.resolve(common.cpuProf)}`);
  if (common.sqliteTrace) nodeOptions.push(`--import=${path.join(REPO_ROOT, 'bench', 'sqlite-trace.ts')}`);
  if (common.pgTrace) nodeOptions.push(`--import=${path.join(REPO_ROOT, 'bench', 'pg-trace.ts')}`);
  traceCount++;
  const tracePathFor = (file: string | undefined) => file && (common.runs > 1 ? `${path.resolve(file)}.${traceCount}` : path.resolve(file));
  const tracePath = tracePathFor(common.sqliteTrace);
  const pgTracePath = tracePathFor(common.pgTrace);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.tmpdir(),
    DEPESHA_DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    DEPESHA_BOOTSTRAP_API_KEY: API_KEY,
    LOG_LEVEL: 'warn',
    // The per-key rate limit (default 10,000/s) would cap the measurement, not the gateway; --env can set it back.
    DEPESHA_RATE_LIMIT_PER_SECOND: '1000000',
    // The SMPP server would take port 2775; benches that use it turn it on with a port of their own.
    SMPP_ENABLED: 'false',
    ...(pgDb ? { DATABASE_URL: pgDb.url } : {}),
    ...(common.sqliteSync ? { DEPESHA_SQLITE_SYNCHRONOUS: common.sqliteSync } : {}),
    ...(nodeOptions.length > 0 ? { NODE_OPTIONS: nodeOptions.join(' ') } : {}),
    ...(tracePath ? { BENCH_SQLITE_TRACE: tracePath } : {}),
    ...(pgTracePath ? { BENCH_PG_TRACE: pgTracePath } : {}),
    ...options.env,
    ...common.env,
  };
  const code = codeVersion();
  const child = spawn(process.execPath, ['--max-semi-space-size=4', ...common.nodeFlags, 'src/main.ts', 'start'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  child.stdout!.resume(); // the one-time bootstrap notice; we know the key already
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-8000);
  });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });
  const url = `http://127.0.0.1:${port}`;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    rmSync(dataDir, { recursive: true, force: true });
    if (pgDb) await pgDb.drop().catch((err: unknown) => options.log?.(`could not drop ${pgDb.name}: ${String(err)}`));
  };
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        options.log?.('server did not stop within 30 s; killing it');
        child.kill('SIGKILL');
      }, 30_000);
      await exitPromise;
      clearTimeout(timer);
    }
    await cleanup();
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) {
      await cleanup();
      throw new Error(`server exited during start (code ${exited.code}, signal ${exited.signal}):\n${tail}`);
    }
    try {
      const res = await fetch(`${url}/readyz`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`server not ready after 60 s:\n${tail}`);
    }
    await sleep(50);
  }
  return { url, code, pid: child.pid!, child, dataDir, db: common.db, stderrTail: () => tail, stop };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export const authHeaders = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };

// ---------------------------------------------------------------- metrics

export type Metrics = Map<string, number>;

/** GET /metrics, parsed into `name{labels}` → value (labels exactly as the server prints them). */
export async function scrape(url: string): Promise<Metrics> {
  const res = await fetch(`${url}/metrics`);
  const text = await res.text();
  const out: Metrics = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

export function metric(m: Metrics, key: string): number {
  return m.get(key) ?? 0;
}

/**
 * Server RSS in bytes (`depesha_process_resident_memory_bytes`). Commits before
 * the metric prefix was fixed exported it doubled, `depesha_process_process_…`;
 * both are read so older commits can still be measured.
 */
export function rssBytes(m: Metrics): number {
  return m.get('depesha_process_resident_memory_bytes') ?? m.get('depesha_process_process_resident_memory_bytes') ?? NaN;
}

/** A Node.js default metric under either prefix the gateway has used (`depesha_`, formerly `depesha_process_`). */
export function nodeMetric(m: Metrics, name: string): number | undefined {
  return m.get(`depesha_${name}`) ?? m.get(`depesha_process_${name}`);
}

export const M = {
  delivered: 'depesha_message_status_changes_total{status="delivered"}',
  accepted: 'depesha_messages_accepted_total',
  depth: 'depesha_dispatcher_queue_depth',
  status: (s: string) => `depesha_message_status_changes_total{status="${s}"}`,
};

// ---------------------------------------------------------------- CPU accounting

const CLK_TCK = 100; // Linux USER_HZ

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime (fields 14, 15)
  } catch {
    return NaN;
  }
}

/** Busy and total jiffies of the whole machine, from /proc/stat. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** CPU seconds per thread of a process, keyed `name#tid` (the main JS thread has the process's own tid). */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(`${Number(tid) === pid ? 'main' : name}#${tid}`, (Number(fields[11]) + Number(fields[12])) / CLK_TCK);
    } catch {
      // thread gone
    }
  }
  return out;
}

/** CPU seconds used so far by every PostgreSQL server process (they share the 2 cores with the gateway). */
export function postgresCpuSeconds(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (comm !== 'postgres') continue;
      out.set(Number(entry), processCpuSeconds(Number(entry)));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export interface CpuUsage {
  /** gateway process, in cores (1.0 = one core busy all the time) */
  server_cores: number;
  /** this bench process (load generator), in cores */
  bench_cores: number;
  /** PostgreSQL server processes, in cores */
  postgres_cores: number;
  /** everything else on the machine (other people's jobs), in cores */
  other_cores: number;
  /** busy share of all cores */
  machine_busy: number;
  /** the server's busiest threads, in cores: the main (HTTP) thread, the delivery worker, libuv/GC helpers */
  server_threads: Record<string, number>;
}

/** Measures CPU use between start() and stop(): server, bench, PostgreSQL, the rest of the machine. */
export class CpuMeter {
  readonly #pid: number;
  #t0 = 0;
  #server0 = 0;
  #self0 = process.cpuUsage();
  #machine0 = machineCpu();
  #pg0 = new Map<number, number>();
  #threads0 = new Map<string, number>();
  constructor(pid: number) {
    this.#pid = pid;
    this.start();
  }
  start(): void {
    this.#t0 = performance.now();
    this.#server0 = processCpuSeconds(this.#pid);
    this.#self0 = process.cpuUsage();
    this.#machine0 = machineCpu();
    this.#pg0 = postgresCpuSeconds();
    this.#threads0 = threadCpuSeconds(this.#pid);
  }
  stop(): CpuUsage {
    const seconds = (performance.now() - this.#t0) / 1000;
    const server = (processCpuSeconds(this.#pid) - this.#server0) / seconds;
    const u = process.cpuUsage(this.#self0);
    const self = (u.user + u.system) / 1e6 / seconds;
    let pgSeconds = 0;
    for (const [pid, cpu] of postgresCpuSeconds()) pgSeconds += cpu - (this.#pg0.get(pid) ?? 0);
    const postgres = pgSeconds / seconds;
    const m = machineCpu();
    const busyShare = (m.busy - this.#machine0.busy) / Math.max(1, m.total - this.#machine0.total);
    const cores = os.availableParallelism();
    const threads = [...threadCpuSeconds(this.#pid)]
      .map(([k, v]) => [k, (v - (this.#threads0.get(k) ?? 0)) / seconds] as const)
      .filter(([, v]) => v >= 0.02)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4);
    return {
      server_cores: round(server, 2),
      bench_cores: round(self, 2),
      postgres_cores: round(postgres, 2),
      other_cores: round(Math.max(0, busyShare * cores - server - self - postgres), 2),
      machine_busy: round(busyShare, 2),
      server_threads: Object.fromEntries(threads.map(([k, v]) => [k, round(v, 2)])),
    };
  }
}

/**
 * Other people's jobs on a 2-core machine distort every figure: waits (up to
 * `maxWaitMs`) until the machine is nearly idle for a second. Returns the
 * busy share seen last.
 */
export async function waitForQuietMachine(log: (line: string) => void, maxWaitMs = 120_000, threshold = 0.15): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  let warned = false;
  for (;;) {
    const a = machineCpu();
    await sleep(1000);
    const b = machineCpu();
    const busy = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    if (busy <= threshold) return round(busy, 2);
    if (Date.now() > deadline) {
      log(`machine still ${Math.round(busy * 100)}% busy with other work; measuring anyway (see other_cores)`);
      return round(busy, 2);
    }
    if (!warned) log(`machine ${Math.round(busy * 100)}% busy with other work; waiting for it to calm down`);
    warned = true;
  }
}

// ---------------------------------------------------------------- load

/** autocannon as a promise. */
export function cannon(options: CannonOptions): Promise<CannonResult> {
  return new Promise((resolve, reject) => {
    autocannon(options, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

/**
 * A valid Russian mobile number (+7 916 …), different on every call; never
 * ends in 0000–0003, the endings the sandbox fails or delays on purpose.
 */
export function randomPhone(): string {
  let n: number;
  do n = Math.floor(Math.random() * 10_000_000);
  while (n % 10_000 <= 3);
  return '+7916' + String(n).padStart(7, '0');
}

export const SMS_TEXT = 'Your confirmation code is 482913. Do not share it with anyone.';

// ---------------------------------------------------------------- statistics and output

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The p-th percentile (0..100) by nearest rank; NaN for no values. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Least-squares slope of y over x. */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export function machineInfo(): { nproc: number; cpu: string; memory_gib: number; node: string; platform: string } {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1]!.trim();
  } catch {
    // not Linux
  }
  return { nproc: os.availableParallelism(), cpu, memory_gib: round(os.totalmem() / 2 ** 30, 1), node: process.version, platform: `${os.platform()} ${os.release()}` };
}

/** Progress and summaries go to stderr; stdout gets the summary and, last, the one-line JSON. */
export function logger(quiet: boolean): (line: string) => void {
  return (line) => {
    if (!quiet) process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  };
}

export function printResult(quiet: boolean, summary: string[], json: unknown): void {
  if (!quiet) process.stdout.write(summary.join('\n') + '\n');
  process.stdout.write(JSON.stringify(json) + '\n');
}

export function checkNodeVersion(): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) fail(`Node ${process.version} is too old; run with /work/main/node_modules/.bin/node (Node 24)`);
}

/** Stops the server even when the bench is interrupted. */
export function stopOnSignal(getServer: () => Server | undefined): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      const s = getServer();
      void (s ? s.stop() : Promise.resolve()).finally(() => process.exit(130));
    });
  }
}
