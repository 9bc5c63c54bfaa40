/**
 * Accept throughput: single `POST /v1/messages` at N concurrent connections,
 * every request to a different number. Target (2-core machine, SQLite):
 * ≥ 5,000 requests/s with p99 < 25 ms at 50 connections.
 *
 *   node bench/accept.ts [--db sqlite|postgres] [--duration 10] [--connections 50] [--runs 3]
 */
import {
  authHeaders,
  cannon,
  checkNodeVersion,
  CpuMeter,
  logger,
  M,
  machineInfo,
  median,
  metric,
  numberFlag,
  parseBenchArgs,
  printResult,
  randomPhone,
  round,
  scrape,
  SMS_TEXT,
  startServer,
  stopOnSignal,
  type CpuUsage,
  type Server,
  waitForQuietMachine,
} from './lib.ts';

const USAGE = `usage: node bench/accept.ts [flags]
  single POST /v1/messages under load; reports 2xx requests/s and latency percentiles
  --warmup SECONDS        unmeasured load before each measured run (default 3)
  --scheduled             give every message a send_at one day ahead, so the delivery pipeline stays
                          idle and only the accept path is measured (diagnostic; the target is without it)`;

const TARGET = { rps: 5000, p99_ms: 25 };

checkNodeVersion();
const { common, values } = parseBenchArgs(USAGE, { warmup: { type: 'string' }, scheduled: { type: 'boolean', default: false } }, { duration: 10, connections: 50 });
const warmup = numberFlag(values, 'warmup', 3, true);
const scheduled = values.scheduled === true;
const sendAt = new Date(Date.now() + 86_400_000).toISOString();
const log = logger(common.quiet);
let server: Server | undefined;
stopOnSignal(() => server);

interface Run {
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  accepted_by_server: number;
  duration_s: number;
  busy_before: number;
  code: string;
  cpu: CpuUsage;
}

function load(url: string, duration: number) {
  return cannon({
    url,
    connections: common.connections,
    duration,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: '/v1/messages',
        headers: authHeaders,
        setupRequest: (req) => ({ ...req, body: JSON.stringify(scheduled ? { to: randomPhone(), text: SMS_TEXT, send_at: sendAt } : { to: randomPhone(), text: SMS_TEXT }) }),
      },
    ],
  });
}

async function oneRun(i: number): Promise<Run> {
  server = await startServer({ common, log });
  try {
    log(`run ${i + 1}/${common.runs}: server ${server.url} (${common.db}), ${warmup} s warm-up`);
    if (warmup > 0) await load(server.url, warmup);
    const busyBefore = await waitForQuietMachine(log);
    const before = await scrape(server.url);
    const cpu = new CpuMeter(server.pid);
    log(`run ${i + 1}/${common.runs}: measuring ${common.duration} s at ${common.connections} connections`);
    const r = await load(server.url, common.duration);
    const usage = cpu.stop();
    const after = await scrape(server.url);
    const ok = r['2xx'];
    const run: Run = {
      rps: round(ok / r.duration, 0),
      p50_ms: r.latency.p50,
      p90_ms: r.latency.p90,
      p99_ms: r.latency.p99,
      p999_ms: r.latency.p99_9,
      max_ms: r.latency.max,
      ok,
      non2xx: r.non2xx,
      errors: r.errors,
      timeouts: r.timeouts,
      accepted_by_server: metric(after, M.accepted) - metric(before, M.accepted),
      duration_s: r.duration,
      busy_before: busyBefore,
      cpu: usage,
      code: server.code,
    };
    if (run.non2xx > 0) log(`warning: ${run.non2xx} non-2xx responses: ${JSON.stringify(r.statusCodeStats)}`);
    log(`run ${i + 1}: ${run.rps} req/s, p50 ${run.p50_ms} ms, p99 ${run.p99_ms} ms, CPU cores: server ${usage.server_cores} ${JSON.stringify(usage.server_threads)}, bench ${usage.bench_cores}, postgres ${usage.postgres_cores}, other ${usage.other_cores}`);
    return run;
  } finally {
    await server.stop();
    server = undefined;
  }
}

const runs: Run[] = [];
for (let i = 0; i < common.runs; i++) runs.push(await oneRun(i));

const rps = median(runs.map((r) => r.rps));
const p99 = median(runs.map((r) => r.p99_ms));
const met = rps >= TARGET.rps && p99 < TARGET.p99_ms;
printResult(
  common.quiet,
  [
    `accept (${common.db}, ${common.connections} connections, ${common.duration} s × ${common.runs} run${common.runs > 1 ? 's' : ''}${scheduled ? ', scheduled: pipeline idle' : ''}):`,
    `  median ${rps} req/s, median p99 ${p99} ms  →  target ≥ ${TARGET.rps} req/s, p99 < ${TARGET.p99_ms} ms: ${met ? 'MET' : 'MISSED'}`,
    ...runs.map((r, i) => `  run ${i + 1}: ${r.rps} req/s  p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  p99.9 ${r.p999_ms} ms  non-2xx ${r.non2xx}  errors ${r.errors}  CPU: server ${r.cpu.server_cores} pg ${r.cpu.postgres_cores} other ${r.cpu.other_cores}`),
  ],
  {
    bench: 'accept',
    db: common.db,
    connections: common.connections,
    duration_s: common.duration,
    warmup_s: warmup,
    scheduled,
    runs: runs.length,
    median: { rps, p99_ms: p99, p50_ms: median(runs.map((r) => r.p50_ms)) },
    target: { ...TARGET, met },
    individual: runs,
    machine: machineInfo(),
  },
);
