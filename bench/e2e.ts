/**
 * End to end through the sandbox: messages are offered at a fixed rate (or as
 * fast as the server takes them) and counted when they reach `delivered`,
 * from the Prometheus counter depesha_message_status_changes_total{status="delivered"};
 * server RSS is sampled from depesha_process_resident_memory_bytes.
 * Target (2-core machine, SQLite): ≥ 4,000 messages/s delivered, RSS flat over 5 minutes.
 *
 *   node bench/e2e.ts [--db sqlite|postgres] [--duration 60] [--rate 4000] [--ingest bulk|single] [--runs 3]
 */
import { statSync } from 'node:fs';
import path from 'node:path';
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
  printResult,
  randomPhone,
  round,
  rssBytes,
  scrape,
  sleep,
  slope,
  SMS_TEXT,
  startServer,
  stopOnSignal,
  waitForQuietMachine,
  nodeMetric,
  type CpuUsage,
  type Metrics,
  type Server,
} from './lib.ts';

const USAGE = `usage: node bench/e2e.ts [flags]
  messages offered for --warmup + --duration seconds; delivered/s and RSS measured over --duration
  --rate N                messages offered per second (default 4000, the target); 0 = as fast as the server accepts
  --ingest bulk|single    /v1/messages/bulk with --batch items per request (default), or one POST /v1/messages per message
  --batch N               items per bulk request (default 100)
  --warmup SECONDS        load before the measured window (default 10)
  --sample SECONDS        metrics scrape interval (default 1)
  --drain SECONDS         after the load, wait up to this long for the backlog to be delivered (default 60)
  --receipt-delay MS      DEPESHA_SANDBOX_RECEIPT_DELAY_MS (default: the gateway's, 200)`;

const TARGET = { delivered_per_s: 4000 };
const FINAL = ['delivered', 'undelivered', 'rejected', 'failed', 'expired'];

checkNodeVersion();
const { common, values } = parseBenchArgs(
  USAGE,
  {
    rate: { type: 'string' },
    ingest: { type: 'string', default: 'bulk' },
    batch: { type: 'string' },
    warmup: { type: 'string' },
    sample: { type: 'string' },
    drain: { type: 'string' },
    'receipt-delay': { type: 'string' },
  },
  { duration: 60, connections: 50 },
);
const rate = numberFlag(values, 'rate', 4000, true);
const ingest = values.ingest as string;
if (ingest !== 'single' && ingest !== 'bulk') fail('--ingest must be single or bulk');
const batch = ingest === 'bulk' ? Math.round(numberFlag(values, 'batch', 100)) : 1;
const warmup = numberFlag(values, 'warmup', 10, true);
const sampleS = numberFlag(values, 'sample', 1);
const drainS = numberFlag(values, 'drain', 60, true);
const receiptDelay = values['receipt-delay'] as string | undefined;
const log = logger(common.quiet);
let server: Server | undefined;
stopOnSignal(() => server);

interface Sample {
  t: number;
  delivered: number;
  accepted: number;
  done: number;
  rss_mb: number;
  heap_mb: number;
  heap_total_mb: number;
  external_mb: number;
  depth: number;
}

function toSample(t: number, m: Metrics): Sample {
  return {
    t: round(t, 2),
    delivered: metric(m, M.delivered),
    accepted: metric(m, M.accepted),
    done: FINAL.reduce((a, s) => a + metric(m, M.status(s)), 0),
    rss_mb: round(rssBytes(m) / 2 ** 20, 1),
    heap_mb: round((nodeMetric(m, 'nodejs_heap_size_used_bytes') ?? 0) / 2 ** 20, 1),
    heap_total_mb: round((nodeMetric(m, 'nodejs_heap_size_total_bytes') ?? 0) / 2 ** 20, 1),
    external_mb: round((nodeMetric(m, 'nodejs_external_memory_bytes') ?? 0) / 2 ** 20, 1),
    depth: metric(m, M.depth),
  };
}

interface Run {
  delivered_per_s: number;
  accepted_per_s: number;
  offered_per_s: number;
  backlog_start: number;
  backlog_end: number;
  accept_p50_ms: number;
  accept_p99_ms: number;
  non2xx: number;
  errors: number;
  rss: { start_mb: number; end_mb: number; min_mb: number; max_mb: number; slope_mb_per_min: number; slope_second_half_mb_per_min: number; flat: boolean; per_minute_mb: number[] };
  heap: { start_mb: number; end_mb: number; slope_mb_per_min: number };
  drained_s: number | null;
  final: { accepted: number; delivered: number; other_final: number };
  disk_mb: { sqlite: number | null; sqlite_wal: number | null; sandbox_journal: number | null };
  busy_before: number;
  code: string;
  cpu: CpuUsage;
  timeline: { t: number; delivered_per_s: number; rss_mb: number; heap_mb: number; heap_total_mb: number; external_mb: number; backlog: number }[];
}

function fileMb(file: string): number | null {
  try {
    return round(statSync(file).size / 2 ** 20, 1);
  } catch {
    return null;
  }
}

function load(url: string, seconds: number) {
  const requestsPerS = rate === 0 ? 0 : rate / batch;
  const connections = requestsPerS > 0 ? Math.max(1, Math.min(common.connections, Math.floor(requestsPerS))) : common.connections;
  return cannon({
    url,
    connections,
    duration: seconds,
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
}

async function oneRun(i: number): Promise<Run> {
  const busyBefore = await waitForQuietMachine(log);
  server = await startServer({ common, log, env: receiptDelay === undefined ? {} : { DEPESHA_SANDBOX_RECEIPT_DELAY_MS: receiptDelay } });
  const srv = server;
  try {
    log(`run ${i + 1}/${common.runs}: server ${srv.url} (${common.db}); offering ${rate === 0 ? 'as many as accepted' : rate} msg/s via ${ingest === 'single' ? 'POST /v1/messages' : `bulk × ${batch}`}, ${warmup} s warm-up + ${common.duration} s measured`);
    const samples: Sample[] = [];
    const t0 = performance.now();
    let loadDone = false;
    let cpu: CpuMeter | undefined;
    let usage: CpuUsage | undefined;
    const sampler = (async () => {
      let nextAt = 0;
      let lastLog = 0;
      while (!loadDone) {
        const t = (performance.now() - t0) / 1000;
        const s = toSample(t, await scrape(srv.url));
        samples.push(s);
        if (!cpu && t >= warmup) cpu = new CpuMeter(srv.pid);
        if (t - lastLog >= 10) {
          const prev = samples.find((x) => x.t >= t - 10) ?? samples[0]!;
          const dps = s.t > prev.t ? Math.round((s.delivered - prev.delivered) / (s.t - prev.t)) : 0;
          log(`  t=${Math.round(t)} s: ${dps} delivered/s, backlog ${s.accepted - s.done}, RSS ${s.rss_mb} MB, heap used ${s.heap_mb} / total ${s.heap_total_mb} MB, external ${s.external_mb} MB`);
          lastLog = t;
        }
        nextAt += sampleS;
        await sleep(Math.max(0, nextAt * 1000 - (performance.now() - t0)));
      }
    })();
    const result = await load(srv.url, warmup + common.duration);
    usage = cpu?.stop();
    loadDone = true;
    await sampler;
    const window = samples.filter((s) => s.t >= warmup - sampleS / 2);
    if (window.length < 2) throw new Error('too few samples in the measured window');
    const first = window[0]!;
    const last = window[window.length - 1]!;
    const span = last.t - first.t;
    const minutes = window.map((s) => s.t / 60);
    const rssSlope = slope(minutes, window.map((s) => s.rss_mb));
    const heapSlope = slope(minutes, window.map((s) => s.heap_mb));
    // The first seconds fill caches (V8 heap, prepared statements); the second half shows the trend.
    const half = window.filter((s) => s.t >= (first.t + last.t) / 2);
    const rssSlopeHalf = slope(half.map((s) => s.t / 60), half.map((s) => s.rss_mb));
    const rssValues = window.map((s) => s.rss_mb);
    const meanRss = rssValues.reduce((a, b) => a + b, 0) / rssValues.length;
    // Flat: the second half's fitted growth, extended over the whole window, is under 10 MB or 5% of the mean RSS.
    const flat = Math.abs(rssSlopeHalf * (span / 60)) <= Math.max(10, 0.05 * meanRss);

    // Drain: how long the backlog takes to reach a final status once the load stops.
    const tDrain = performance.now();
    let drained: number | null = null;
    let final = toSample(0, await scrape(srv.url));
    while (drainS > 0) {
      if (final.done >= final.accepted) {
        drained = round((performance.now() - tDrain) / 1000, 1);
        break;
      }
      if (performance.now() - tDrain > drainS * 1000) break;
      await sleep(250);
      final = toSample(0, await scrape(srv.url));
    }

    const timeline: Run['timeline'] = [];
    const step = Math.max(1, Math.round(10 / sampleS));
    for (let k = step; k < samples.length; k += step) {
      const a = samples[k - step]!;
      const b = samples[k]!;
      timeline.push({ t: Math.round(b.t), delivered_per_s: Math.round((b.delivered - a.delivered) / (b.t - a.t)), rss_mb: b.rss_mb, heap_mb: b.heap_mb, heap_total_mb: b.heap_total_mb, external_mb: b.external_mb, backlog: b.accepted - b.done });
    }
    const run: Run = {
      delivered_per_s: Math.round((last.delivered - first.delivered) / span),
      accepted_per_s: Math.round((last.accepted - first.accepted) / span),
      offered_per_s: rate,
      backlog_start: first.accepted - first.done,
      backlog_end: last.accepted - last.done,
      accept_p50_ms: result.latency.p50,
      accept_p99_ms: result.latency.p99,
      non2xx: result.non2xx,
      errors: result.errors,
      rss: {
        start_mb: first.rss_mb,
        end_mb: last.rss_mb,
        min_mb: Math.min(...rssValues),
        max_mb: Math.max(...rssValues),
        slope_mb_per_min: round(rssSlope, 2),
        slope_second_half_mb_per_min: round(rssSlopeHalf, 2),
        flat,
        // RSS at the start of the window and after each full minute of it
        per_minute_mb: window.filter((s, k) => k === 0 || Math.floor((s.t - first.t) / 60) > Math.floor((window[k - 1]!.t - first.t) / 60)).map((s) => s.rss_mb),
      },
      heap: { start_mb: first.heap_mb, end_mb: last.heap_mb, slope_mb_per_min: round(heapSlope, 2) },
      drained_s: drained,
      final: { accepted: final.accepted, delivered: final.delivered, other_final: final.done - final.delivered },
      disk_mb: {
        sqlite: common.db === 'sqlite' ? fileMb(path.join(srv.dataDir, 'depesha.sqlite')) : null,
        sqlite_wal: common.db === 'sqlite' ? fileMb(path.join(srv.dataDir, 'depesha.sqlite-wal')) : null,
        sandbox_journal: fileMb(path.join(srv.dataDir, 'sandbox-journal.jsonl')),
      },
      busy_before: busyBefore,
      code: srv.code,
      cpu: usage ?? { server_cores: NaN, bench_cores: NaN, postgres_cores: NaN, other_cores: NaN, machine_busy: NaN, server_threads: {} },
      timeline,
    };
    if (run.non2xx > 0 || run.errors > 0) log(`warning: ${run.non2xx} non-2xx responses, ${run.errors} errors: ${JSON.stringify(result.statusCodeStats)}`);
    log(
      `run ${i + 1}: ${run.delivered_per_s} delivered/s (accepted ${run.accepted_per_s}/s), backlog ${run.backlog_start} → ${run.backlog_end}, ` +
        `RSS ${run.rss.start_mb} → ${run.rss.end_mb} MB (${run.rss.slope_mb_per_min} MB/min, second half ${run.rss.slope_second_half_mb_per_min} MB/min: ${flat ? 'flat' : 'GROWING'}), heap ${run.heap.start_mb} → ${run.heap.end_mb} MB, ` +
        `drained ${drained === null ? 'no' : `${drained} s`}; CPU server ${run.cpu.server_cores} pg ${run.cpu.postgres_cores} bench ${run.cpu.bench_cores} other ${run.cpu.other_cores}`,
    );
    return run;
  } finally {
    await srv.stop();
    server = undefined;
  }
}

const runs: Run[] = [];
for (let i = 0; i < common.runs; i++) runs.push(await oneRun(i));

const delivered = median(runs.map((r) => r.delivered_per_s));
const allFlat = runs.every((r) => r.rss.flat);
const met = delivered >= TARGET.delivered_per_s && allFlat;
printResult(
  common.quiet,
  [
    `e2e (${common.db}, offered ${rate === 0 ? 'max' : `${rate} msg/s`} via ${ingest === 'single' ? 'POST /v1/messages' : `bulk × ${batch}`}, ${common.duration} s measured × ${common.runs} run${common.runs > 1 ? 's' : ''}):`,
    `  median ${delivered} delivered/s; RSS ${allFlat ? 'flat' : 'NOT flat'}  →  target ≥ ${TARGET.delivered_per_s} delivered/s with flat RSS: ${met ? 'MET' : 'MISSED'}`,
    ...runs.map(
      (r, i) =>
        `  run ${i + 1}: ${r.delivered_per_s} delivered/s, accepted ${r.accepted_per_s}/s, backlog ${r.backlog_start} → ${r.backlog_end}, RSS ${r.rss.start_mb} → ${r.rss.end_mb} MB (${r.rss.slope_mb_per_min} MB/min; 2nd half ${r.rss.slope_second_half_mb_per_min} MB/min${r.rss.per_minute_mb.length > 2 ? `; per minute ${r.rss.per_minute_mb.join(', ')}` : ''}), accept p99 ${r.accept_p99_ms} ms`,
    ),
  ],
  {
    bench: 'e2e',
    db: common.db,
    offered_per_s: rate,
    ingest,
    batch,
    connections: common.connections,
    warmup_s: warmup,
    duration_s: common.duration,
    runs: runs.length,
    median: { delivered_per_s: delivered, accepted_per_s: median(runs.map((r) => r.accepted_per_s)), rss_slope_mb_per_min: median(runs.map((r) => r.rss.slope_mb_per_min)) },
    target: { ...TARGET, rss_flat: allFlat, met },
    individual: runs,
    machine: machineInfo(),
  },
);
