/**
 * Cascade decision overhead (issue 7): from a step's failure or timeout to
 * the next step's send. Cascades of two SMS steps through the sandbox are
 * started at a fixed rate; half of them have a first step the sandbox refuses
 * at submit (a permanent failure: the next step starts at once), the other
 * half a first step that is sent but whose receipt does not come within its
 * 1-second timeout. For each cascade the bench reads back, on the server's
 * clock, when the first step failed (its `completed_at`) or timed out (its
 * `created_at` + the timeout) and when the second step was sent (`sent_at`).
 * Target: p99 under 100 ms at 200 cascades/s.
 *
 *   node bench/cascade.ts [--db sqlite|postgres] [--duration 20] [--rate 200] [--runs 1]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  authHeaders,
  checkNodeVersion,
  logger,
  machineInfo,
  median,
  numberFlag,
  parseBenchArgs,
  percentile,
  printResult,
  randomPhone,
  round,
  sleep,
  startServer,
  stopOnSignal,
  type Server,
} from './lib.ts';

const USAGE = `usage: node bench/cascade.ts [flags]
  two-step SMS cascades at --rate for --duration seconds; time from step 1's failure or timeout to step 2's send
  --rate N          cascades per second, one POST /v1/messages each (default 200)
  --timeout S       step 1's timeout_seconds on the timeout half (default 1)
  --details N       cascades read back at most (default 8000)`;

const TARGET = { p99_ms: 100 };

interface ApiMessage {
  id: string;
  status: string;
  created_at: string;
  sent_at: string | null;
  queued_at: string | null;
  completed_at: string | null;
  cascade?: { status: string; steps: { message_id: string | null; status: string | null }[] };
}

checkNodeVersion();
const { common, values } = parseBenchArgs(USAGE, { rate: { type: 'string' }, timeout: { type: 'string' }, details: { type: 'string' } }, { duration: 20, connections: 1 });
const rate = numberFlag(values, 'rate', 200);
const timeoutSeconds = numberFlag(values, 'timeout', 1);
const maxDetails = numberFlag(values, 'details', 8000);
const log = logger(common.quiet);
let server: Server | undefined;
stopOnSignal(() => server);

/** A number the sandbox refuses at submit (ends 0002) and one it takes. */
const refused = () => randomPhone().slice(0, -4) + '0002';
const taken = () => {
  for (;;) {
    const n = randomPhone();
    if (Number(n.slice(-4)) > 3) return n;
  }
};

async function get(url: string): Promise<ApiMessage> {
  const res = await fetch(url, { headers: authHeaders });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as ApiMessage;
}

async function oneRun(run: number) {
  const confDir = mkdtempSync(path.join(os.tmpdir(), 'depesha-bench-cascade-'));
  try {
    const configFile = path.join(confDir, 'config.json');
    writeFileSync(configFile, JSON.stringify({}));
    // Receipts come long after the timeout, so a sent first step can only time out.
    server = await startServer({ common, log, env: { DEPESHA_CONFIG: configFile, DEPESHA_SANDBOX_RECEIPT_DELAY_MS: '30000', DEPESHA_SANDBOX_SEND_LATENCY_MS: '0' } });
    const s = server;
    log(`run ${run}: ${rate} cascades/s for ${common.duration} s (${s.db})`);
    const started: { id: string; kind: 'failure' | 'timeout' }[] = [];
    const errors: string[] = [];
    const total = Math.round(rate * common.duration);
    const t0 = Date.now();
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      const kind = i % 2 === 0 ? 'failure' : 'timeout';
      const body = {
        to: kind === 'failure' ? refused() : taken(),
        text: 'Your code is 482913',
        cascade: [{ channel: 'sms', timeout_seconds: timeoutSeconds }, { channel: 'sms', to: taken() }],
      };
      const p = fetch(`${s.url}/v1/messages`, { method: 'POST', headers: authHeaders, body: JSON.stringify(body) })
        .then(async (res) => {
          const json = (await res.json()) as { id: string };
          if (res.status !== 202) errors.push(`${res.status} ${JSON.stringify(json).slice(0, 200)}`);
          else started.push({ id: json.id, kind });
        })
        .catch((err: unknown) => void errors.push(String(err)))
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
    const offered = (total / ((Date.now() - t0) / 1000)).toFixed(0);
    // Every second step is sent within a few seconds of the last timeout.
    await sleep(timeoutSeconds * 1000 + 2000);
    const latencies: Record<'failure' | 'timeout', number[]> = { failure: [], timeout: [] };
    /** where the time goes: to the decision (step 2 made), to its claim, to its send */
    const split: Record<'decide' | 'claim' | 'send', number[]> = { decide: [], claim: [], send: [] };
    let missing = 0;
    const sample = started.slice(0, maxDetails);
    for (let i = 0; i < sample.length; i += 32) {
      await Promise.all(
        sample.slice(i, i + 32).map(async ({ id, kind }) => {
          const parent = await get(`${s.url}/v1/messages/${id}`);
          const [one, two] = parent.cascade!.steps;
          if (!one?.message_id || !two?.message_id) return void missing++;
          const [m1, m2] = await Promise.all([get(`${s.url}/v1/messages/${one.message_id}`), get(`${s.url}/v1/messages/${two.message_id}`)]);
          if (m2.sent_at === null) return void missing++;
          const from = kind === 'failure' ? Date.parse(m1.completed_at!) : Date.parse(m1.created_at) + timeoutSeconds * 1000;
          latencies[kind].push(Date.parse(m2.sent_at) - from);
          split.decide.push(Date.parse(m2.created_at) - from);
          split.claim.push(Date.parse(m2.queued_at!) - Date.parse(m2.created_at));
          split.send.push(Date.parse(m2.sent_at) - Date.parse(m2.queued_at!));
        }),
      );
    }
    const all = [...latencies.failure, ...latencies.timeout];
    const stats = (xs: number[]) => ({ count: xs.length, p50_ms: round(percentile(xs, 50)), p90_ms: round(percentile(xs, 90)), p95_ms: round(percentile(xs, 95)), p99_ms: round(percentile(xs, 99)), max_ms: round(Math.max(...xs)) });
    const result = { run, offered_per_s: Number(offered), accepted: started.length, errors: errors.length, missing, all: stats(all), failure: stats(latencies.failure), timeout: stats(latencies.timeout), split: { decide: stats(split.decide), claim: stats(split.claim), send: stats(split.send) } };
    if (errors.length > 0) log(`errors: ${errors.slice(0, 3).join('; ')}`);
    log(`run ${run}: p99 ${result.all.p99_ms} ms (failure ${result.failure.p99_ms}, timeout ${result.timeout.p99_ms}), ${missing} without a sent second step`);
    return result;
  } finally {
    await server?.stop();
    server = undefined;
    rmSync(confDir, { recursive: true, force: true });
  }
}

const runs = [];
for (let run = 1; run <= common.runs; run++) runs.push(await oneRun(run));
const p99s = runs.map((r) => r.all.p99_ms);
const medianP99 = median(p99s);
printResult(
  common.quiet,
  [
    `cascade: step failure/timeout → next step sent, ${rate} cascades/s × ${common.duration} s, ${common.db}`,
    `p99 per run: ${p99s.join(', ')} ms; median ${medianP99} ms (target < ${TARGET.p99_ms} ms): ${medianP99 < TARGET.p99_ms ? 'met' : 'MISSED'}`,
  ],
  { bench: 'cascade', machine: machineInfo(), db: common.db, rate, duration_s: common.duration, timeout_s: timeoutSeconds, runs, median_p99_ms: medianP99, target: TARGET },
);
