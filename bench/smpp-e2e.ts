/**
 * End to end over SMPP: HTTP `POST /v1/messages` → the gateway's SMPP
 * connector → the SMSC simulator (in this process) → receipt → `delivered`.
 * The gateway runs as a child (`node src/main.ts start`) with a DEPESHA_CONFIG
 * that declares one smpp connector to the simulator and routes everything to it.
 * Targets (issue 3, 2-core machine, SQLite):
 *   throughput: ≥ 4,000 messages/s delivered;
 *   latency (--mode latency, 100 msg/s): p99 from accept (the HTTP 202) to submit_sm < 50 ms;
 *   throttling (--throttle-rate 0,0.05): with 5 % of submits answered 0x58, delivered/s stays above half
 *   of the unthrottled figure and every message ends delivered.
 *
 *   node bench/smpp-e2e.ts [--rate 4000] [--throttle-rate 0,0.05] [--mode throughput|latency] [--runs 3]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SmscSimulator } from '../src/smpp/simulator.ts';
import {
  authHeaders,
  cannon,
  checkNodeVersion,
  CpuMeter,
  fail,
  logger,
  M,
  machineInfo,
  median,
  metric,
  numberFlag,
  parseBenchArgs,
  percentile,
  printResult,
  randomPhone,
  round,
  scrape,
  sleep,
  SMS_TEXT,
  startServer,
  stopOnSignal,
  waitForQuietMachine,
  type CpuUsage,
  type Server,
} from './lib.ts';

const USAGE = `usage: node bench/smpp-e2e.ts [flags]
  --mode throughput|latency   throughput (default): messages offered at --rate for --warmup + --duration s, delivered/s
                          measured, then the backlog drained and the final counts checked;
                          latency: one POST /v1/messages at a time at --rate (default 100), time from the 202 to submit_sm
  --rate N                messages offered per second (throughput default 4000, 0 = as fast as accepted; latency default 100)
  --ingest single|bulk    one POST /v1/messages per message (default), or /v1/messages/bulk with --batch items
  --batch N               items per bulk request (default 100)
  --binds N               binds of the connector (default 2)
  --window N              window per bind (default 50)
  --throttle-rate R[,R…]  share of submits the simulator answers 0x58 (default 0); a list runs each in turn,
                          and the summary compares each with the first
  --submit-delay-ms MS    simulator delay before submit_sm_resp (default 0)
  --receipt-delay-ms MS   simulator delay before the receipt (default 100)
  --warmup SECONDS        load before the measured window (default 5)
  --drain SECONDS         after the load, wait up to this long for every message to reach a final status (default 30)`;

const FINAL = ['delivered', 'undelivered', 'rejected', 'failed', 'expired'];
const TARGET = { delivered_per_s: 4000, latency_p99_ms: 50, throttled_share_of_unthrottled: 0.5 };

checkNodeVersion();
const { common, values } = parseBenchArgs(
  USAGE,
  {
    mode: { type: 'string', default: 'throughput' },
    rate: { type: 'string' },
    ingest: { type: 'string', default: 'single' },
    batch: { type: 'string' },
    binds: { type: 'string' },
    window: { type: 'string' },
    'throttle-rate': { type: 'string', default: '0' },
    'submit-delay-ms': { type: 'string' },
    'receipt-delay-ms': { type: 'string' },
    warmup: { type: 'string' },
    drain: { type: 'string' },
  },
  { duration: 20, connections: 50 },
);
const mode = values.mode as string;
if (mode !== 'throughput' && mode !== 'latency') fail('--mode must be throughput or latency');
const rate = numberFlag(values, 'rate', mode === 'latency' ? 100 : 4000, mode === 'throughput');
const ingest = values.ingest as string;
if (ingest !== 'single' && ingest !== 'bulk') fail('--ingest must be single or bulk');
const batch = ingest === 'bulk' ? Math.round(numberFlag(values, 'batch', 100)) : 1;
const binds = Math.round(numberFlag(values, 'binds', 2));
const window = Math.round(numberFlag(values, 'window', 50));
const throttleRates = String(values['throttle-rate']).split(',').map((r) => {
  const n = Number(r);
  if (r.trim() === '' || !(n >= 0 && n <= 1)) fail(`--throttle-rate wants shares in 0..1, got ${JSON.stringify(values['throttle-rate'])}`);
  return n;
});
const submitDelayMs = numberFlag(values, 'submit-delay-ms', 0, true);
const receiptDelayMs = numberFlag(values, 'receipt-delay-ms', 100, true);
const warmup = numberFlag(values, 'warmup', 5, true);
const drainS = numberFlag(values, 'drain', 30, true);
const log = logger(common.quiet);
let server: Server | undefined;
stopOnSignal(() => server);

interface Setup {
  sim: SmscSimulator;
  srv: Server;
  cleanup(): Promise<void>;
}

/** The simulator here, the gateway as a child with one smpp connector to it; resolves once every bind is up. */
async function setUp(throttleRate: number): Promise<Setup> {
  const sim = new SmscSimulator({ accounts: { depesha: 'bench' }, submitDelayMs, receiptDelayMs, throttleRate });
  sim.recordSubmits = mode === 'latency';
  const port = await sim.start();
  const configDir = mkdtempSync(path.join(os.tmpdir(), 'depesha-bench-smpp-'));
  const configFile = path.join(configDir, 'depesha.json');
  const connector = { id: 'smsc', type: 'smpp', host: '127.0.0.1', port, system_id: 'depesha', password: 'bench', binds, window, reconnect_min_ms: 100, reconnect_max_ms: 1000 };
  writeFileSync(configFile, JSON.stringify({ connectors: [connector], routes: [{ connector: 'smsc' }] }));
  const cleanupConfig = () => rmSync(configDir, { recursive: true, force: true });
  try {
    server = await startServer({ common, log, env: { DEPESHA_CONFIG: configFile } }); // lib.ts starts it without its own SMPP server
  } catch (err) {
    cleanupConfig();
    await sim.stop();
    throw err;
  }
  const srv = server;
  const deadline = Date.now() + 15_000;
  while (sim.bound < binds) {
    if (Date.now() > deadline) {
      await srv.stop();
      await sim.stop();
      cleanupConfig();
      throw new Error(`the connector bound ${sim.bound} of ${binds} binds within 15 s:\n${srv.stderrTail()}`);
    }
    await sleep(50);
  }
  return {
    sim,
    srv,
    async cleanup() {
      await srv.stop();
      server = undefined;
      await sim.stop();
      cleanupConfig();
    },
  };
}

interface Counts {
  t: number;
  accepted: number;
  delivered: number;
  done: number;
}

async function counts(url: string, t0: number): Promise<Counts> {
  const m = await scrape(url);
  return { t: (performance.now() - t0) / 1000, accepted: metric(m, M.accepted), delivered: metric(m, M.delivered), done: FINAL.reduce((a, s) => a + metric(m, M.status(s)), 0) };
}

interface ThroughputRun {
  throttle_rate: number;
  delivered_per_s: number;
  accepted_per_s: number;
  backlog_start: number;
  backlog_end: number;
  accept_p50_ms: number;
  accept_p99_ms: number;
  non2xx: number;
  errors: number;
  drained_s: number | null;
  final: { accepted: number; delivered: number; other_final: number; all_delivered: boolean };
  sim: { submits: number; accepted: number; refused: number; receipts: number; binds: number; disconnects: number };
  busy_before: number;
  code: string;
  cpu: CpuUsage;
}

async function throughputRun(throttleRate: number, i: number): Promise<ThroughputRun> {
  const busyBefore = await waitForQuietMachine(log);
  const { sim, srv, cleanup } = await setUp(throttleRate);
  try {
    log(`run ${i + 1}/${common.runs}, throttle ${throttleRate}: server ${srv.url}, ${binds} binds × window ${window}; offering ${rate === 0 ? 'as many as accepted' : rate} msg/s via ${ingest === 'single' ? 'POST /v1/messages' : `bulk × ${batch}`}, ${warmup} s warm-up + ${common.duration} s measured`);
    const t0 = performance.now();
    const samples: Counts[] = [];
    let loadDone = false;
    let cpu: CpuMeter | undefined;
    const sampler = (async () => {
      let lastLog = 0;
      while (!loadDone) {
        const c = await counts(srv.url, t0);
        samples.push(c);
        if (!cpu && c.t >= warmup) cpu = new CpuMeter(srv.pid);
        if (c.t - lastLog >= 5) {
          const prev = samples.find((x) => x.t >= c.t - 5) ?? samples[0]!;
          log(`  t=${Math.round(c.t)} s: ${c.t > prev.t ? Math.round((c.delivered - prev.delivered) / (c.t - prev.t)) : 0} delivered/s, backlog ${c.accepted - c.done}, sim submits ${sim.stats.submits} (refused ${sim.stats.refused})`);
          lastLog = c.t;
        }
        await sleep(Math.max(0, (samples.length * 1000) - (performance.now() - t0)));
      }
    })();
    const requestsPerS = rate === 0 ? 0 : rate / batch;
    const result = await cannon({
      url: srv.url,
      connections: requestsPerS > 0 ? Math.max(1, Math.min(common.connections, Math.floor(requestsPerS))) : common.connections,
      duration: warmup + common.duration,
      timeout: 60,
      ...(requestsPerS > 0 ? { overallRate: requestsPerS } : {}),
      requests: [
        {
          method: 'POST',
          path: ingest === 'single' ? '/v1/messages' : '/v1/messages/bulk',
          headers: authHeaders,
          setupRequest: (req) => ({
            ...req,
            body: ingest === 'single' ? JSON.stringify({ to: randomPhone(), text: SMS_TEXT }) : JSON.stringify({ to: Array.from({ length: batch }, randomPhone), text: SMS_TEXT }),
          }),
        },
      ],
    });
    const usage = cpu?.stop();
    loadDone = true;
    await sampler;
    const window_ = samples.filter((s) => s.t >= warmup - 0.5);
    if (window_.length < 2) throw new Error('too few samples in the measured window');
    const first = window_[0]!;
    const last = window_[window_.length - 1]!;
    const span = last.t - first.t;

    const tDrain = performance.now();
    let drained: number | null = null;
    let final = await counts(srv.url, t0);
    for (;;) {
      if (final.done >= final.accepted) {
        drained = round((performance.now() - tDrain) / 1000, 1);
        break;
      }
      if (performance.now() - tDrain > drainS * 1000) break;
      await sleep(250);
      final = await counts(srv.url, t0);
    }
    const run: ThroughputRun = {
      throttle_rate: throttleRate,
      delivered_per_s: Math.round((last.delivered - first.delivered) / span),
      accepted_per_s: Math.round((last.accepted - first.accepted) / span),
      backlog_start: first.accepted - first.done,
      backlog_end: last.accepted - last.done,
      accept_p50_ms: result.latency.p50,
      accept_p99_ms: result.latency.p99,
      non2xx: result.non2xx,
      errors: result.errors,
      drained_s: drained,
      final: { accepted: final.accepted, delivered: final.delivered, other_final: final.done - final.delivered, all_delivered: final.delivered === final.accepted },
      sim: { submits: sim.stats.submits, accepted: sim.stats.accepted, refused: sim.stats.refused, receipts: sim.stats.receipts, binds: sim.stats.binds, disconnects: sim.stats.disconnects },
      busy_before: busyBefore,
      code: srv.code,
      cpu: usage ?? { server_cores: NaN, bench_cores: NaN, postgres_cores: NaN, other_cores: NaN, machine_busy: NaN, server_threads: {} },
    };
    if (run.non2xx > 0 || run.errors > 0) log(`warning: ${run.non2xx} non-2xx responses, ${run.errors} errors: ${JSON.stringify(result.statusCodeStats)}`);
    log(
      `run ${i + 1}, throttle ${throttleRate}: ${run.delivered_per_s} delivered/s (accepted ${run.accepted_per_s}/s), backlog ${run.backlog_start} → ${run.backlog_end}, ` +
        `drained ${drained === null ? 'NO' : `in ${drained} s`}, final ${run.final.delivered} of ${run.final.accepted} delivered (${run.final.other_final} other final); ` +
        `sim ${run.sim.submits} submits, ${run.sim.refused} refused, ${run.sim.receipts} receipts; accept p99 ${run.accept_p99_ms} ms; ` +
        `CPU server ${run.cpu.server_cores} ${JSON.stringify(run.cpu.server_threads)} bench+sim ${run.cpu.bench_cores} other ${run.cpu.other_cores}`,
    );
    return run;
  } finally {
    await cleanup();
  }
}

interface LatencyRun {
  sent: number;
  matched: number;
  /** submit_sm at the simulator minus the 202's arrival here (same clock) */
  after_202_ms: { p50: number; p99: number; max: number };
  /** submit_sm minus the moment the request was sent: includes the HTTP accept */
  after_request_ms: { p50: number; p99: number; max: number };
  accept_p99_ms: number;
  busy_before: number;
  code: string;
  cpu: CpuUsage;
}

async function latencyRun(i: number): Promise<LatencyRun> {
  const busyBefore = await waitForQuietMachine(log);
  const { sim, srv, cleanup } = await setUp(throttleRates[0]!);
  try {
    log(`run ${i + 1}/${common.runs}: server ${srv.url}; one POST /v1/messages every ${round(1000 / rate, 2)} ms for ${warmup} s warm-up + ${common.duration} s measured`);
    const sentAt = new Map<string, { request: number; response: number }>();
    const acceptMs: number[] = [];
    const inflight = new Set<Promise<void>>();
    const t0 = performance.now();
    let cpu: CpuMeter | undefined;
    let k = 0;
    for (;;) {
      const due = t0 + (k * 1000) / rate;
      const now = performance.now();
      if (now - t0 >= (warmup + common.duration) * 1000) break;
      if (due > now) await sleep(due - now);
      const measured = performance.now() - t0 >= warmup * 1000;
      if (measured && !cpu) cpu = new CpuMeter(srv.pid);
      k++;
      const to = randomPhone();
      const request = Date.now();
      const p = fetch(`${srv.url}/v1/messages`, { method: 'POST', headers: authHeaders, body: JSON.stringify({ to, text: SMS_TEXT }) }).then(async (res) => {
        await res.arrayBuffer();
        const response = Date.now();
        if (res.status !== 202) throw new Error(`POST /v1/messages answered ${res.status}`);
        if (!measured) return;
        acceptMs.push(response - request);
        sentAt.set(to.slice(1), { request, response });
      });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
    await Promise.all(inflight);
    const usage = cpu!.stop();
    // The last submits follow their 202 within milliseconds; give them a second.
    const deadline = Date.now() + 5000;
    const matched = () => sim.submits.filter((s) => sentAt.has(s.destinationAddr)).length;
    while (matched() < sentAt.size && Date.now() < deadline) await sleep(100);
    const after202: number[] = [];
    const afterRequest: number[] = [];
    // A number drawn twice in a run (7 random digits: about one run in five) is timed by its first submit only.
    const seen = new Set<string>();
    for (const s of sim.submits) {
      const sent = sentAt.get(s.destinationAddr);
      if (!sent || seen.has(s.destinationAddr)) continue;
      seen.add(s.destinationAddr);
      after202.push(s.at - sent.response);
      afterRequest.push(s.at - sent.request);
    }
    const summary = (xs: number[]) => ({ p50: percentile(xs, 50), p99: percentile(xs, 99), max: Math.max(...xs) });
    const run: LatencyRun = {
      sent: sentAt.size,
      matched: after202.length,
      after_202_ms: summary(after202),
      after_request_ms: summary(afterRequest),
      accept_p99_ms: percentile(acceptMs, 99),
      busy_before: busyBefore,
      code: srv.code,
      cpu: usage,
    };
    log(
      `run ${i + 1}: ${run.matched} of ${run.sent} submits matched; 202 → submit_sm p50 ${run.after_202_ms.p50} ms, p99 ${run.after_202_ms.p99} ms, max ${run.after_202_ms.max} ms; ` +
        `request → submit_sm p99 ${run.after_request_ms.p99} ms; HTTP accept p99 ${run.accept_p99_ms} ms; CPU server ${usage.server_cores}`,
    );
    return run;
  } finally {
    await cleanup();
  }
}

const offered = rate === 0 ? 'max' : `${rate} msg/s`;
const heading = `smpp-e2e (${common.db}, ${binds} binds × window ${window}, offered ${offered} via ${ingest === 'single' ? 'POST /v1/messages' : `bulk × ${batch}`}, receipt delay ${receiptDelayMs} ms, ${common.duration} s measured × ${common.runs} run${common.runs > 1 ? 's' : ''}):`;
const shared = { db: common.db, binds, window, offered_per_s: rate, ingest, batch, submit_delay_ms: submitDelayMs, receipt_delay_ms: receiptDelayMs, warmup_s: warmup, duration_s: common.duration, runs: common.runs };

if (mode === 'latency') {
  const runs: LatencyRun[] = [];
  for (let i = 0; i < common.runs; i++) runs.push(await latencyRun(i));
  const p99 = median(runs.map((r) => r.after_202_ms.p99));
  const met = p99 < TARGET.latency_p99_ms && runs.every((r) => r.matched === r.sent);
  printResult(
    common.quiet,
    [
      heading,
      `  median p99 from the 202 to submit_sm: ${p99} ms  →  target < ${TARGET.latency_p99_ms} ms: ${met ? 'MET' : 'MISSED'}`,
      ...runs.map((r, k) => `  run ${k + 1}: 202 → submit_sm p50 ${r.after_202_ms.p50} / p99 ${r.after_202_ms.p99} / max ${r.after_202_ms.max} ms; request → submit_sm p99 ${r.after_request_ms.p99} ms; ${r.matched} of ${r.sent} matched`),
    ],
    { bench: 'smpp-e2e', mode, ...shared, median: { after_202_p99_ms: p99, after_request_p99_ms: median(runs.map((r) => r.after_request_ms.p99)) }, target: { latency_p99_ms: TARGET.latency_p99_ms, met }, individual: runs, machine: machineInfo() },
  );
} else {
  const byRate: { throttle_rate: number; median_delivered_per_s: number; all_delivered: boolean; runs: ThroughputRun[] }[] = [];
  for (const throttleRate of throttleRates) {
    const runs: ThroughputRun[] = [];
    for (let i = 0; i < common.runs; i++) runs.push(await throughputRun(throttleRate, i));
    byRate.push({ throttle_rate: throttleRate, median_delivered_per_s: median(runs.map((r) => r.delivered_per_s)), all_delivered: runs.every((r) => r.final.all_delivered), runs });
  }
  const base = byRate[0]!;
  const verdicts = byRate.map((r) => {
    if (r.throttle_rate === 0) return { ...r, met: r.median_delivered_per_s >= TARGET.delivered_per_s && r.all_delivered, target: `≥ ${TARGET.delivered_per_s} delivered/s, all delivered` };
    const share = base.throttle_rate === 0 ? r.median_delivered_per_s / base.median_delivered_per_s : NaN;
    return { ...r, share_of_unthrottled: round(share, 3), met: share > TARGET.throttled_share_of_unthrottled && r.all_delivered, target: `> ${TARGET.throttled_share_of_unthrottled} × unthrottled (${base.median_delivered_per_s}/s), all delivered` };
  });
  printResult(
    common.quiet,
    [
      heading,
      ...verdicts.flatMap((r) => [
        `  throttle ${r.throttle_rate}: median ${r.median_delivered_per_s} delivered/s, ${r.all_delivered ? 'every message delivered' : 'NOT every message delivered'}  →  target ${r.target}: ${r.met ? 'MET' : 'MISSED'}`,
        ...r.runs.map((x, k) => `    run ${k + 1}: ${x.delivered_per_s} delivered/s, accepted ${x.accepted_per_s}/s, backlog ${x.backlog_start} → ${x.backlog_end}, final ${x.final.delivered}/${x.final.accepted} delivered, ${x.sim.refused} refused by the simulator, accept p99 ${x.accept_p99_ms} ms`),
      ]),
    ],
    { bench: 'smpp-e2e', mode, ...shared, results: verdicts, target: TARGET, machine: machineInfo() },
  );
}
