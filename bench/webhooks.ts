/**
 * Webhooks under load (issue 4): messages at a fixed rate through the SMPP
 * connector to the SMSC simulator (in this process), receipts back, and a
 * webhook subscription posting every `message.delivered` to a receiver in
 * a child process (bench/webhook-receiver.ts). Measures the time from the simulator sending a receipt
 * (deliver_sm) to the webhook POST arriving at the receiver, on one clock.
 * With --outage S the receiver answers 503 for S seconds in the middle of the
 * load; the bench then waits until every delivered message's webhook has
 * arrived and reports how long that took and how many are missing.
 * Targets (2-core machine, SQLite): p99 receipt → webhook POST < 200 ms at
 * 1,000 msg/s; after a 10-minute outage under load the backlog drains with
 * nothing missing.
 *
 *   node bench/webhooks.ts [--rate 1000] [--duration 30] [--outage 0] [--runs 1]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { fork, type ChildProcess } from 'node:child_process';
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

const USAGE = `usage: node bench/webhooks.ts [flags]
  --rate N             messages offered per second (default 1000)
  --ingest single|bulk one POST /v1/messages per message (default), or /v1/messages/bulk with 100 numbers
  --warmup SECONDS     load before the measured window (default 5)
  --outage SECONDS     the receiver answers 503 for this long, starting 10 s into the measured window (default 0: none);
                       --duration must cover it
  --drain SECONDS      after the load, wait up to this long for every webhook (default 120, plus the outage)
  --receipt-delay-ms   simulator delay before each receipt (default 100)`;

const TARGET = { p99_ms: 200 };
const BULK = 100;

checkNodeVersion();
const { common, values } = parseBenchArgs(
  USAGE,
  { rate: { type: 'string' }, ingest: { type: 'string', default: 'single' }, warmup: { type: 'string' }, outage: { type: 'string' }, drain: { type: 'string' }, 'receipt-delay-ms': { type: 'string' } },
  { duration: 30, connections: 50 },
);
const rate = numberFlag(values, 'rate', 1000);
const ingest = values.ingest as string;
if (ingest !== 'single' && ingest !== 'bulk') fail('--ingest must be single or bulk');
const batch = ingest === 'bulk' ? BULK : 1;
const warmup = numberFlag(values, 'warmup', 5, true);
const outageS = numberFlag(values, 'outage', 0, true);
const drainS = numberFlag(values, 'drain', 120, true) + outageS;
const receiptDelayMs = numberFlag(values, 'receipt-delay-ms', 100, true);
if (outageS > 0 && common.duration < outageS + 20) fail(`--duration (${common.duration}) must cover the outage plus 20 s`);
const log = logger(common.quiet);
let server: Server | undefined;
stopOnSignal(() => server);

interface Run {
  offered_per_s: number;
  accepted: number;
  delivered: number;
  webhooks_received: number;
  webhook_posts: number;
  refused_during_outage: number;
  missing: number;
  latency_ms: { count: number; p50: number; p90: number; p99: number; max: number };
  outage_s: number;
  drained_after_outage_s: number | null;
  drained_after_load_s: number | null;
  code: string;
  cpu: CpuUsage;
  busy_before: number;
}

async function run(i: number): Promise<Run> {
  const busyBefore = await waitForQuietMachine(log);
  const receiptAt = new Map<string, number>();
  // The receiver runs in a child process (bench/webhook-receiver.ts): see there why.
  const receiver: ChildProcess = fork(new URL('./webhook-receiver.ts', import.meta.url), [], { execArgv: process.execArgv });
  let counts = { ids: 0, posts: 0, refused: 0 };
  let reported: ((r: { arrivals: [string, number][] } & typeof counts) => void) | undefined;
  const receiverPort = await new Promise<number>((resolve, reject) => {
    receiver.once('error', reject);
    receiver.on('message', (m: { type: string; port?: number; arrivals?: [string, number][]; ids?: number; posts?: number; refused?: number }) => {
      if (m.type === 'ready') resolve(m.port!);
      else if (m.type === 'counts') counts = { ids: m.ids!, posts: m.posts!, refused: m.refused! };
      else if (m.type === 'report') reported?.({ arrivals: m.arrivals!, ids: m.ids!, posts: m.posts!, refused: m.refused! });
    });
  });
  const setOutage = (on: boolean) => receiver.send({ type: 'outage', on });
  const receiverUrl = `http://127.0.0.1:${receiverPort}/hooks`;

  const sim = new SmscSimulator({ accounts: { depesha: 'bench' }, receiptDelayMs });
  sim.recordSubmits = false;
  sim.onReceipt = (to, status, at) => {
    if (status === 'delivered') receiptAt.set(to, at);
  };
  const port = await sim.start();
  const configDir = mkdtempSync(path.join(os.tmpdir(), 'depesha-bench-webhooks-'));
  const configFile = path.join(configDir, 'depesha.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      connectors: [{ id: 'smsc', type: 'smpp', host: '127.0.0.1', port, system_id: 'depesha', password: 'bench', binds: 2, window: 50 }],
      routes: [{ connector: 'smsc' }],
    }),
  );
  try {
    server = await startServer({ common, log, env: { DEPESHA_CONFIG: configFile, DEPESHA_WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true' } });
    const srv = server;
    while (sim.bound < 2) await sleep(50);
    const sub = await fetch(`${srv.url}/v1/webhooks`, { method: 'POST', headers: authHeaders, body: JSON.stringify({ url: receiverUrl, event_types: ['message.delivered'] }) });
    if (sub.status !== 201) throw new Error(`creating the subscription answered ${sub.status}: ${await sub.text()}`);
    const subscriptionId = ((await sub.json()) as { id: string }).id;
    log(`run ${i + 1}/${common.runs}: ${rate} msg/s (${ingest === 'bulk' ? `bulk × ${BULK}` : 'one POST each'}) for ${warmup} + ${common.duration} s${outageS > 0 ? `, receiver down (503) for ${outageS} s from t=${warmup + 10} s` : ''}`);

    const t0 = Date.now();
    const measureFrom = t0 + warmup * 1000;
    let cpu: CpuMeter | undefined;
    let outageEnd = 0;
    const timers: NodeJS.Timeout[] = [setTimeout(() => (cpu = new CpuMeter(srv.pid)), warmup * 1000)];
    if (outageS > 0) {
      timers.push(
        setTimeout(() => {
          setOutage(true);
          log('  receiver down');
        }, (warmup + 10) * 1000),
        setTimeout(() => {
          setOutage(false);
          outageEnd = Date.now();
          log('  receiver up again');
        }, (warmup + 10 + outageS) * 1000),
      );
    }
    const progress = setInterval(() => log(`  t=${Math.round((Date.now() - t0) / 1000)} s: ${receiptAt.size} receipts, ${counts.ids} webhooks, ${counts.posts} POSTs (${counts.refused} refused)`), 10_000);
    await cannon({
      url: srv.url,
      connections: common.connections,
      duration: warmup + common.duration,
      timeout: 60,
      overallRate: rate / batch,
      requests: [
        ingest === 'bulk'
          ? { method: 'POST', path: '/v1/messages/bulk', headers: authHeaders, setupRequest: (req) => ({ ...req, body: JSON.stringify({ to: Array.from({ length: BULK }, randomPhone), text: SMS_TEXT }) }) }
          : { method: 'POST', path: '/v1/messages', headers: authHeaders, setupRequest: (req) => ({ ...req, body: JSON.stringify({ to: randomPhone(), text: SMS_TEXT }) }) },
      ],
    });
    const loadEnd = Date.now();
    const usage = cpu?.stop();
    for (const t of timers) clearTimeout(t);

    // Every delivered message's webhook, or the drain deadline.
    let m = await scrape(srv.url);
    let drainedAt: number | null = null;
    for (;;) {
      const delivered = metric(m, M.delivered);
      const accepted = metric(m, M.accepted);
      const finals = ['delivered', 'undelivered', 'rejected', 'failed', 'expired'].reduce((a, s) => a + metric(m, M.status(s)), 0);
      if (finals >= accepted && counts.ids >= delivered) {
        drainedAt = Date.now();
        break;
      }
      if (Date.now() - loadEnd > drainS * 1000) break;
      await sleep(250);
      m = await scrape(srv.url);
    }
    clearInterval(progress);
    const report = await new Promise<{ arrivals: [string, number][] } & typeof counts>((resolve) => {
      reported = resolve;
      receiver.send({ type: 'report' });
    });
    const webhookAt = new Map(report.arrivals);
    const { ids: webhooksReceived, posts, refused } = report;
    const latencies: number[] = [];
    for (const [to, at] of receiptAt) {
      const hook = webhookAt.get(to);
      // The latency target is for normal operation: leave out receipts sent while the receiver was down or catching up.
      if (hook !== undefined && at >= measureFrom && (outageS === 0 || at < measureFrom + 10_000)) latencies.push(hook - at);
    }
    const delivered = metric(m, M.delivered);
    const missing = delivered - webhooksReceived;
    // Diagnostic: how long the POSTs themselves took, from the delivery log (the newest 1,000 attempts).
    const logPage = (await (await fetch(`${srv.url}/v1/webhooks/${subscriptionId}/deliveries?limit=1000`, { headers: authHeaders })).json()) as { data: { latency_ms: number }[] };
    const postMs = logPage.data.map((a) => a.latency_ms);
    log(`  POST latency in the delivery log (newest ${postMs.length}): p50 ${percentile(postMs, 50)} ms, p99 ${percentile(postMs, 99)} ms`);
    const result: Run = {
      offered_per_s: rate,
      accepted: metric(m, M.accepted),
      delivered,
      webhooks_received: webhooksReceived,
      webhook_posts: posts,
      refused_during_outage: refused,
      missing,
      latency_ms: { count: latencies.length, p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.length ? Math.max(...latencies) : NaN },
      outage_s: outageS,
      drained_after_outage_s: outageS > 0 && drainedAt !== null ? round((drainedAt - outageEnd) / 1000, 1) : null,
      drained_after_load_s: drainedAt === null ? null : round((drainedAt - loadEnd) / 1000, 1),
      code: srv.code,
      cpu: usage ?? { server_cores: NaN, bench_cores: NaN, postgres_cores: NaN, other_cores: NaN, machine_busy: NaN, server_threads: {} },
      busy_before: busyBefore,
    };
    log(
      `run ${i + 1}: ${result.accepted} accepted, ${delivered} delivered, ${result.webhooks_received} webhooks (${missing} missing), ${posts} POSTs; ` +
        `receipt → webhook p50 ${result.latency_ms.p50} ms p99 ${result.latency_ms.p99} ms max ${result.latency_ms.max} ms (${latencies.length} measured); ` +
        `drained ${result.drained_after_load_s ?? 'NOT'} s after the load${outageS > 0 ? `, ${result.drained_after_outage_s ?? '—'} s after the outage` : ''}; CPU server ${result.cpu.server_cores} ${JSON.stringify(result.cpu.server_threads)}`,
    );
    return result;
  } finally {
    await server?.stop();
    server = undefined;
    await sim.stop();
    receiver.disconnect();
    rmSync(configDir, { recursive: true, force: true });
  }
}

const runs: Run[] = [];
for (let i = 0; i < common.runs; i++) runs.push(await run(i));
const p99 = median(runs.map((r) => r.latency_ms.p99));
const allThere = runs.every((r) => r.missing === 0 && r.drained_after_load_s !== null);
printResult(
  common.quiet,
  [
    `webhooks (${common.db}, ${rate} msg/s ${ingest}, ${common.duration} s × ${common.runs} runs${outageS > 0 ? `, ${outageS} s receiver outage` : ''}):`,
    `  median p99 receipt → webhook POST ${p99} ms → target < ${TARGET.p99_ms} ms: ${p99 < TARGET.p99_ms ? 'met' : 'MISSED'}`,
    `  every webhook arrived: ${allThere ? 'yes' : 'NO'}${outageS > 0 ? `; drained ${runs.map((r) => r.drained_after_outage_s).join(' / ')} s after the outage ended` : ''}`,
    ...runs.map((r, i) => `  run ${i + 1}: p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms, max ${r.latency_ms.max} ms; ${r.webhooks_received}/${r.delivered} webhooks, ${r.missing} missing; CPU server ${r.cpu.server_cores}`),
  ],
  { bench: 'webhooks', db: common.db, rate, ingest, duration_s: common.duration, outage_s: outageS, runs: common.runs, median_p99_ms: p99, target: { p99_ms: TARGET.p99_ms, met: p99 < TARGET.p99_ms, all_delivered: allThere }, individual: runs, machine: machineInfo() },
);
