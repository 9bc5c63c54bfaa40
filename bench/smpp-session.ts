/**
 * SMPP codec + session on loopback: one or more bindClient sessions submit as
 * fast as their window allows to the SMSC simulator, which runs in this
 * process (default) or in a child process (`node src/main.ts sim`). No gateway,
 * no database: this is the ceiling the SMPP connector can reach.
 * Targets (issue 3, 2-core machine, both sides on it):
 *   submit delay 0, window 50: ≥ 20,000 submits/s from one process;
 *   submit delay 20 ms: ≥ 90 % of window ÷ round trip (the issue: window 10 → ≥ 180/s, window 50 → ≥ 900/s;
 *   the round trip measured here, one submit at a time before the load, is ~21 ms, which asks for more).
 *
 *   node bench/smpp-session.ts [--window 50] [--submit-delay-ms 0] [--sim same|child] [--runs 3]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { bindClient, type SmppSession } from '../src/smpp/session.ts';
import { SmscSimulator } from '../src/smpp/simulator.ts';
import {
  checkNodeVersion,
  CpuMeter,
  fail,
  logger,
  machineInfo,
  median,
  numberFlag,
  parseBenchArgs,
  percentile,
  printResult,
  randomPhone,
  REPO_ROOT,
  round,
  sleep,
  SMS_TEXT,
  waitForQuietMachine,
  codeVersion,
  type CpuUsage,
} from './lib.ts';

const USAGE = `usage: node bench/smpp-session.ts [flags]
  bindClient sessions submit to the SMSC simulator for --warmup + --duration seconds; submits/s measured over --duration
  --window N[,N…]         window of each session (default 50); a list runs each in turn
  --submit-delay-ms MS    the simulator's delay before each submit_sm_resp (default 0)
  --binds N               sessions, each with its own window (default 1)
  --sim same|child        the simulator in this process (default) or in a child process (node src/main.ts sim)
  --receipts              ask for receipts (registered_delivery 1): the simulator sends deliver_sm back on the same bind
  --warmup SECONDS        load before the measured window (default 2)`;

checkNodeVersion();
const { common, values } = parseBenchArgs(
  USAGE,
  {
    window: { type: 'string', default: '50' },
    'submit-delay-ms': { type: 'string' },
    binds: { type: 'string' },
    sim: { type: 'string', default: 'same' },
    receipts: { type: 'boolean', default: false },
    warmup: { type: 'string' },
  },
  { duration: 10, connections: 1 },
);
const windows = String(values.window).split(',').map((w) => {
  const n = Number(w);
  if (!Number.isInteger(n) || n < 1) fail(`--window wants whole numbers ≥ 1, got ${JSON.stringify(values.window)}`);
  return n;
});
const submitDelayMs = numberFlag(values, 'submit-delay-ms', 0, true);
const binds = Math.round(numberFlag(values, 'binds', 1));
const placement = values.sim as string;
if (placement !== 'same' && placement !== 'child') fail('--sim must be same or child');
const receipts = values.receipts as boolean;
const warmup = numberFlag(values, 'warmup', 2, true);
const log = logger(common.quiet);

/**
 * The issue's figures: 20,000/s without a delay; with the 20-ms delay, window
 * 10 → 180/s and window 50 → 900/s (90 % of window ÷ a 50-ms round trip). Each
 * run is also held against 90 % of window ÷ the round trip measured on that
 * run, which is the stricter test at 20 ms (window 10 → ~430/s).
 */
function issueTarget(window: number): number {
  return submitDelayMs === 0 ? 20_000 : Math.floor((0.9 * binds * window * 1000) / 50);
}

interface SimHandle {
  port: number;
  pid: number;
  stats(): { submits: number; receipts: number } | undefined;
  stop(): Promise<void>;
}

async function startSim(): Promise<SimHandle> {
  const receiptDelayMs = 50;
  if (placement === 'same') {
    const sim = new SmscSimulator({ submitDelayMs, receiptDelayMs });
    sim.recordSubmits = false;
    const port = await sim.start();
    return { port, pid: process.pid, stats: () => sim.stats, stop: () => sim.stop() };
  }
  const child: ChildProcess = spawn(process.execPath, ['src/main.ts', 'sim', '--port', '0', '--submit-delay-ms', String(submitDelayMs), '--receipt-delay-ms', String(receiptDelayMs)], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const lines = createInterface({ input: child.stdout! });
  let listening = false;
  void once(child, 'exit').then(() => listening || fail('the simulator child exited before listening'));
  const [first] = (await once(lines, 'line')) as [string];
  listening = true;
  const port = Number(/listening on .*:(\d+) /.exec(first)?.[1]);
  if (!port) fail(`cannot read the simulator's port from ${JSON.stringify(first)}`);
  return {
    port,
    pid: child.pid!,
    stats: () => undefined,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

interface Run {
  window: number;
  submits_per_s: number;
  /** one submit at a time before the load (median of 20): the round trip the window has to cover */
  idle_rtt_ms: number;
  /** measured throughput ÷ (binds × window ÷ idle round trip); with a delay it should be ≥ 0.9 */
  share_of_window_bound: number;
  rtt_p50_ms: number;
  rtt_p99_ms: number;
  refused: number;
  errors: number;
  receipts: number;
  busy_before: number;
  cpu: { bench_cores: number; sim_cores: number | null; other_cores: number; machine_busy: number };
}

async function oneRun(window: number, i: number): Promise<Run> {
  const busyBefore = await waitForQuietMachine(log);
  const sim = await startSim();
  const sessions: SmppSession[] = [];
  let receiptsSeen = 0;
  try {
    for (let b = 0; b < binds; b++) {
      sessions.push(
        await bindClient({
          host: '127.0.0.1',
          port: sim.port,
          systemId: 'bench',
          password: 'bench',
          mode: 'transceiver',
          windowSize: window,
          enquireLinkIntervalMs: 0,
          onRequest: (request) => {
            if (request.command !== 'deliver_sm') return { command: 'generic_nack', status: 3 };
            receiptsSeen++;
            return { command: 'deliver_sm_resp', messageId: '' };
          },
        }),
      );
    }
    log(`run ${i + 1}/${common.runs}, window ${window}: ${binds} bind${binds > 1 ? 's' : ''} to the simulator (${placement === 'same' ? 'this process' : `child ${sim.pid}`}), submit delay ${submitDelayMs} ms, ${warmup} s warm-up + ${common.duration} s measured`);
    const shortMessage = Buffer.from(SMS_TEXT, 'latin1');
    const submit = (session: SmppSession) =>
      session.request({ command: 'submit_sm', sourceAddr: 'Shop', sourceAddrTon: 5, destAddrTon: 1, destAddrNpi: 1, destinationAddr: randomPhone().slice(1), registeredDelivery: receipts ? 1 : 0, shortMessage });
    const idle: number[] = [];
    for (let k = 0; k < 20; k++) {
      const t0 = performance.now();
      await submit(sessions[0]!);
      idle.push(performance.now() - t0);
    }
    const idleRtt = median(idle);
    let measuring = false;
    let stopped = false;
    let done = 0;
    let refused = 0;
    let errors = 0;
    const rtts: number[] = [];
    // Without a delay: two windows' worth of submitters per session, so a freed slot always finds the next
    // submit queued. With one: a window's worth, so the latency measured is the round trip, not queueing.
    const perSession = submitDelayMs === 0 ? window * 2 : window;
    const workers = sessions.flatMap((session) =>
      Array.from({ length: perSession }, async () => {
        while (!stopped) {
          const t0 = performance.now();
          try {
            const resp = await submit(session);
            if (!measuring) continue;
            done++;
            if (resp.status !== 0) refused++;
            // Every 16th: enough for percentiles without the array weighing on the measurement.
            if ((done & 15) === 0) rtts.push(performance.now() - t0);
          } catch {
            errors++;
            if (session.state !== 'open') return;
          }
        }
      }),
    );
    await sleep(warmup * 1000);
    const cpu = new CpuMeter(sim.pid);
    const t0 = performance.now();
    measuring = true;
    await sleep(common.duration * 1000);
    measuring = false;
    const seconds = (performance.now() - t0) / 1000;
    const usage: CpuUsage = cpu.stop();
    const measured = done;
    stopped = true;
    await Promise.all(workers);
    const submitsPerS = Math.round(measured / seconds);
    const bound = (binds * window) / (idleRtt / 1000);
    const run: Run = {
      window,
      submits_per_s: submitsPerS,
      idle_rtt_ms: round(idleRtt, 2),
      share_of_window_bound: round(submitsPerS / bound, 3),
      rtt_p50_ms: round(percentile(rtts, 50), 2),
      rtt_p99_ms: round(percentile(rtts, 99), 2),
      refused,
      errors,
      receipts: receiptsSeen,
      busy_before: busyBefore,
      cpu: {
        bench_cores: usage.bench_cores,
        sim_cores: placement === 'child' ? usage.server_cores : null,
        // In the same process CpuMeter's "server" is this process too: count it once.
        other_cores: placement === 'child' ? usage.other_cores : round(Math.max(0, usage.machine_busy * machineInfo().nproc - usage.bench_cores), 2),
        machine_busy: usage.machine_busy,
      },
    };
    log(
      `run ${i + 1}, window ${window}: ${submitsPerS} submits/s${submitDelayMs === 0 ? '' : ` (${Math.round(run.share_of_window_bound * 100)} % of window ÷ idle round trip ${run.idle_rtt_ms} ms = ${Math.round(bound)}/s)`}, ` +
        `round trip under load${submitDelayMs === 0 ? ' incl. queue' : ''} p50 ${run.rtt_p50_ms} ms p99 ${run.rtt_p99_ms} ms, refused ${refused}, errors ${errors}; CPU bench ${run.cpu.bench_cores}${run.cpu.sim_cores === null ? '' : ` sim ${run.cpu.sim_cores}`} other ${run.cpu.other_cores}`,
    );
    return run;
  } finally {
    await Promise.all(sessions.map((s) => s.unbind().catch(() => {})));
    await sim.stop();
  }
}

interface WindowResult {
  window: number;
  median: number;
  /** the issue's figure for this window */
  target: number;
  /** median of share_of_window_bound; with a delay the target is ≥ 0.9 */
  medianShare: number;
  met: boolean;
  runs: Run[];
}
const results: WindowResult[] = [];
for (const window of windows) {
  const runs: Run[] = [];
  for (let i = 0; i < common.runs; i++) runs.push(await oneRun(window, i));
  const med = median(runs.map((r) => r.submits_per_s));
  const share = median(runs.map((r) => r.share_of_window_bound));
  const target = issueTarget(window);
  results.push({ window, median: med, target, medianShare: share, met: med >= target && (submitDelayMs === 0 || share >= 0.9), runs });
}

printResult(
  common.quiet,
  [
    `smpp-session (simulator in ${placement === 'same' ? 'the same process' : 'a child process'}, ${binds} bind${binds > 1 ? 's' : ''}, submit delay ${submitDelayMs} ms${receipts ? ', with receipts' : ''}, ${common.duration} s measured × ${common.runs} run${common.runs > 1 ? 's' : ''}):`,
    ...results.map(
      (r) =>
        `  window ${r.window}: median ${r.median} submits/s${submitDelayMs === 0 ? '' : ` = ${Math.round(r.medianShare * 100)} % of window ÷ idle round trip`}  →  target ≥ ${r.target}/s${submitDelayMs === 0 ? '' : ' and ≥ 90 %'}: ${r.met ? 'MET' : 'MISSED'}  ` +
          `(runs ${r.runs.map((x) => x.submits_per_s).join(' / ')}; idle round trip ${r.runs.map((x) => x.idle_rtt_ms).join(' / ')} ms; under load p99 ${r.runs.map((x) => x.rtt_p99_ms).join(' / ')} ms)`,
    ),
  ],
  {
    bench: 'smpp-session',
    sim: placement,
    binds,
    submit_delay_ms: submitDelayMs,
    receipts,
    warmup_s: warmup,
    duration_s: common.duration,
    runs: common.runs,
    code: codeVersion(),
    results: results.map((r) => ({ window: r.window, median_submits_per_s: r.median, median_share_of_window_bound: r.medianShare, target_submits_per_s: r.target, met: r.met, individual: r.runs })),
    machine: machineInfo(),
  },
);
