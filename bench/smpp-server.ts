/**
 * The SMPP server's accept throughput: one client bind (transmitter, window
 * 50) submitting back to back; every submit_sm_resp comes after the message is
 * stored. Target (2-core machine, SQLite): ≥ 5,000 durable submits/s.
 *
 *   node bench/smpp-server.ts [--db sqlite|postgres] [--duration 10] [--window 50] [--runs 3]
 */
import { bindClient, type SmppSession } from '../src/smpp/session.ts';
import {
  authHeaders,
  checkNodeVersion,
  CpuMeter,
  freePort,
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
  SMS_TEXT,
  startServer,
  stopOnSignal,
  type CpuUsage,
  type Server,
  waitForQuietMachine,
} from './lib.ts';

const USAGE = `usage: node bench/smpp-server.ts [flags]
  one SMPP client bind submitting to the gateway's SMPP server; reports durable submits/s
  --window N              unanswered submits of the client (default 50)
  --warmup SECONDS        unmeasured load before each measured run (default 2)`;

const TARGET = { submits_per_s: 5000 };

checkNodeVersion();
const { common, values } = parseBenchArgs(USAGE, { window: { type: 'string' }, warmup: { type: 'string' } }, { duration: 10, connections: 1 });
const windowSize = numberFlag(values, 'window', 50);
const warmup = numberFlag(values, 'warmup', 2, true);
const log = logger(common.quiet);
let server: Server | undefined;
stopOnSignal(() => server);

interface Run {
  submits_per_s: number;
  ok: number;
  refused: number;
  accepted_by_server: number;
  p50_ms: number;
  p99_ms: number;
  duration_s: number;
  busy_before: number;
  code: string;
  cpu: CpuUsage;
}

const text = Buffer.from(SMS_TEXT, 'latin1');

/** Keeps `windowSize` submits in flight for `seconds`; resolves with what came back. */
async function load(session: SmppSession, seconds: number): Promise<{ ok: number; refused: number; latencies: number[]; elapsed: number }> {
  const started = performance.now();
  const end = started + seconds * 1000;
  let ok = 0;
  let refused = 0;
  const latencies: number[] = [];
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const resp = await session.request({ command: 'submit_sm', sourceAddr: 'Bench', sourceAddrTon: 5, destAddrTon: 1, destAddrNpi: 1, destinationAddr: randomPhone().slice(1), shortMessage: text });
      latencies.push(performance.now() - t0);
      if (resp.status === 0) ok++;
      else refused++;
    }
  };
  await Promise.all(Array.from({ length: windowSize }, worker));
  return { ok, refused, latencies, elapsed: (performance.now() - started) / 1000 };
}

async function oneRun(i: number): Promise<Run> {
  const smppPort = await freePort();
  server = await startServer({ common, log, env: { SMPP_ENABLED: 'true', SMPP_PORT: String(smppPort), SMPP_HOST: '127.0.0.1' } });
  let session: SmppSession | undefined;
  try {
    const systemId = `bench${i}`;
    const created = await fetch(`${server.url}/v1/smpp/credentials`, {
      method: 'POST',
      headers: authHeaders,
      body: JSON.stringify({ system_id: systemId, password: 'bench123', max_submits_per_second: 100000 }),
    });
    if (created.status !== 201) throw new Error(`creating SMPP credentials failed: ${created.status} ${await created.text()}`);
    session = await bindClient({ host: '127.0.0.1', port: smppPort, systemId, password: 'bench123', mode: 'transmitter', windowSize, enquireLinkIntervalMs: 0 });
    log(`run ${i + 1}/${common.runs}: bound to ${smppPort} (${common.db}), window ${windowSize}, ${warmup} s warm-up`);
    if (warmup > 0) await load(session, warmup);
    const busyBefore = await waitForQuietMachine(log);
    const before = await scrape(server.url);
    const cpu = new CpuMeter(server.pid);
    const r = await load(session, common.duration);
    const usage = cpu.stop();
    const after = await scrape(server.url);
    const run: Run = {
      submits_per_s: round(r.ok / r.elapsed, 0),
      ok: r.ok,
      refused: r.refused,
      accepted_by_server: metric(after, M.accepted) - metric(before, M.accepted),
      p50_ms: round(percentile(r.latencies, 50), 1),
      p99_ms: round(percentile(r.latencies, 99), 1),
      duration_s: round(r.elapsed, 2),
      busy_before: busyBefore,
      code: server.code,
      cpu: usage,
    };
    log(`run ${i + 1}: ${run.submits_per_s} submits/s, p50 ${run.p50_ms} ms, p99 ${run.p99_ms} ms, refused ${run.refused}, CPU: server ${usage.server_cores} ${JSON.stringify(usage.server_threads)}, bench ${usage.bench_cores}`);
    return run;
  } finally {
    await session?.close();
    await server.stop();
    server = undefined;
  }
}

const runs: Run[] = [];
for (let i = 0; i < common.runs; i++) runs.push(await oneRun(i));

const rate = median(runs.map((r) => r.submits_per_s));
const met = rate >= TARGET.submits_per_s;
printResult(
  common.quiet,
  [
    `SMPP server (${common.db}, window ${windowSize}, ${common.duration} s × ${common.runs} run${common.runs > 1 ? 's' : ''}):`,
    `  median ${rate} durable submits/s  →  target ≥ ${TARGET.submits_per_s}: ${met ? 'MET' : 'MISSED'}`,
    ...runs.map((r, i) => `  run ${i + 1}: ${r.submits_per_s} submits/s  p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  refused ${r.refused}  CPU: server ${r.cpu.server_cores} bench ${r.cpu.bench_cores} other ${r.cpu.other_cores}`),
  ],
  { bench: 'smpp-server', db: common.db, window: windowSize, duration_s: common.duration, runs: common.runs, median: { submits_per_s: rate }, target: { ...TARGET, met }, individual: runs, machine: machineInfo() },
);
