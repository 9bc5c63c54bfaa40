/**
 * How soon a delivery receipt is visible through the API: messages are sent at
 * a fixed rate through the sandbox; the bench listens on GET /v1/events/stream
 * (message.delivered only) and, for each message, takes the time from the
 * sandbox emitting its receipt (the part's `done_at`: the moment the sandbox
 * connector produced the receipt, on the server's clock) to the event's
 * arrival on the stream (the bench's clock; same machine, same clock).
 * Target (issue 4): p99 ≤ 100 ms.
 *
 *   node bench/receipt-visibility.ts [--db sqlite|postgres] [--duration 30] [--rate 500] [--runs 1]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createParser } from 'eventsource-parser';
import { SmscSimulator } from '../src/smpp/simulator.ts';
import {
  API_KEY,
  authHeaders,
  checkNodeVersion,
  fail,
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
  SMS_TEXT,
  startServer,
  stopOnSignal,
  waitForQuietMachine,
  type Server,
} from './lib.ts';

const USAGE = `usage: node bench/receipt-visibility.ts [flags]
  messages sent at --rate for --duration seconds; receipt → stream latency per delivered message
  --rate N                messages per second, one POST /v1/messages each (default 500)
  --via sandbox|smpp      sandbox (default): the receipt time is the part's done_at, when the sandbox made it;
                          smpp: an SMPP connector to the SMSC simulator in this process, and the receipt time is
                          when the simulator sends its deliver_sm (this process's clock)
  --receipt-delay MS      sandbox: DEPESHA_SANDBOX_RECEIPT_DELAY_MS (default: the gateway's, 200); smpp: the simulator's (100)
  --drain SECONDS         after the load, wait up to this long for the last deliveries (default 30)
  --details N             messages whose receipt time is read back (GET /v1/messages/{id}), at most (default 20000)`;

const TARGET = { p99_ms: 100 };

checkNodeVersion();
const { common, values } = parseBenchArgs(
  USAGE,
  { rate: { type: 'string' }, via: { type: 'string', default: 'sandbox' }, 'receipt-delay': { type: 'string' }, drain: { type: 'string' }, details: { type: 'string' } },
  { duration: 30, connections: 20 },
);
const via = values.via as string;
if (via !== 'sandbox' && via !== 'smpp') fail('--via must be sandbox or smpp');
const rate = numberFlag(values, 'rate', 500);
const drainS = numberFlag(values, 'drain', 30, true);
const details = Math.round(numberFlag(values, 'details', 20_000));
const receiptDelay = values['receipt-delay'] as string | undefined;
const log = logger(common.quiet);
let server: Server | undefined;
stopOnSignal(() => server);

/** The stream, open for the whole run: message id → epoch ms the delivered event arrived. */
function listen(url: string): { arrivals: Map<string, number>; ready: Promise<void>; close: () => void } {
  const arrivals = new Map<string, number>();
  let ready!: () => void;
  const readyPromise = new Promise<void>((resolve) => (ready = resolve));
  const request = http.get(`${url}/v1/events/stream?types=message.delivered`, { headers: { authorization: `Bearer ${API_KEY}`, accept: 'text/event-stream' } }, (res) => {
    if (res.statusCode !== 200) fail(`the stream answered ${res.statusCode}`);
    const parser = createParser({
      onEvent: (e) => {
        const at = Date.now();
        const id = (JSON.parse(e.data) as { data: { message_id: string } }).data.message_id;
        if (!arrivals.has(id)) arrivals.set(id, at);
      },
      onComment: () => ready(),
    });
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => parser.feed(chunk));
  });
  request.on('error', (err) => log(`stream: ${err.message}`));
  return { arrivals, ready: readyPromise, close: () => request.destroy() };
}

/** Sends `rate` messages per second for `seconds`, at most `connections` at once; returns the accepted ids. */
async function load(url: string, seconds: number): Promise<{ ids: string[]; refused: number; numbers: Map<string, string> }> {
  const ids: string[] = [];
  /** message id → the number's digits */
  const numbers = new Map<string, string>();
  let refused = 0;
  let inFlight = 0;
  const total = Math.round(rate * seconds);
  const t0 = performance.now();
  const pending = new Set<Promise<void>>();
  for (let i = 0; i < total; i++) {
    const due = (i / rate) * 1000;
    const wait = due - (performance.now() - t0);
    if (wait > 1) await sleep(wait);
    while (inFlight >= common.connections) await Promise.race(pending);
    inFlight++;
    const to = randomPhone();
    const p: Promise<void> = fetch(`${url}/v1/messages`, { method: 'POST', headers: authHeaders, body: JSON.stringify({ to, text: SMS_TEXT }) })
      .then(async (res) => {
        const body = (await res.json()) as { id?: string };
        if (res.status === 202 && body.id) {
          ids.push(body.id);
          numbers.set(body.id, to.replace(/^\+/, ''));
        } else refused++;
      })
      .catch(() => void refused++)
      .finally(() => {
        inFlight--;
        pending.delete(p);
      });
    pending.add(p);
  }
  await Promise.all(pending);
  return { ids, refused, numbers };
}

/** The receipt time of each message (latest part `done_at`), read back through the API. */
async function receiptTimes(url: string, ids: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      const res = await fetch(`${url}/v1/messages/${id}`, { headers: authHeaders });
      const m = (await res.json()) as { parts?: { done_at: string | null }[] };
      const done = (m.parts ?? []).map((p) => (p.done_at ? Date.parse(p.done_at) : NaN)).filter((t) => !Number.isNaN(t));
      if (done.length > 0) out.set(id, Math.max(...done));
    }
  };
  await Promise.all(Array.from({ length: 10 }, worker));
  return out;
}

interface Run {
  sent: number;
  refused: number;
  delivered_seen: number;
  measured: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  busy_before: number;
  code: string;
}

async function oneRun(i: number): Promise<Run> {
  const busyBefore = await waitForQuietMachine(log);
  // --via smpp: the simulator here, one smpp connector to it; receipts timed as they leave the simulator.
  let sim: SmscSimulator | undefined;
  let configDir: string | undefined;
  const sentAt = new Map<string, number>();
  const env: Record<string, string> = { DEPESHA_STREAM_KEEPALIVE_SECONDS: '1' };
  if (via === 'smpp') {
    sim = new SmscSimulator({ accounts: { depesha: 'bench' }, receiptDelayMs: receiptDelay === undefined ? 100 : Number(receiptDelay) });
    sim.recordSubmits = false;
    sim.onReceipt = (to, status, at) => {
      if (status === 'delivered' && !sentAt.has(to)) sentAt.set(to, at);
    };
    const port = await sim.start();
    configDir = mkdtempSync(path.join(os.tmpdir(), 'depesha-bench-rv-'));
    env.DEPESHA_CONFIG = path.join(configDir, 'depesha.json');
    writeFileSync(env.DEPESHA_CONFIG, JSON.stringify({ connectors: [{ id: 'smsc', type: 'smpp', host: '127.0.0.1', port, system_id: 'depesha', password: 'bench', binds: 2, window: 50 }], routes: [{ connector: 'smsc' }] }));
  } else if (receiptDelay !== undefined) env.DEPESHA_SANDBOX_RECEIPT_DELAY_MS = receiptDelay;
  server = await startServer({ common, log, env });
  const srv = server;
  while (sim && sim.bound < 2) await sleep(50);
  const stream = listen(srv.url);
  try {
    await stream.ready; // the first keep-alive: the subscription is open
    log(`run ${i + 1}/${common.runs}: server ${srv.url} (${common.db}, via ${via}); ${rate} msg/s for ${common.duration} s`);
    const { ids, refused, numbers } = await load(srv.url, common.duration);
    const deadline = performance.now() + drainS * 1000;
    while (performance.now() < deadline && ids.some((id) => !stream.arrivals.has(id))) await sleep(100);
    const seen = ids.filter((id) => stream.arrivals.has(id));
    // Evenly spread over the run when there are more than --details.
    const step = Math.max(1, Math.ceil(seen.length / details));
    const sample = seen.filter((_, k) => k % step === 0);
    const times = via === 'smpp' ? new Map(sample.flatMap((id) => (sentAt.has(numbers.get(id)!) ? [[id, sentAt.get(numbers.get(id)!)!] as const] : []))) : await receiptTimes(srv.url, sample);
    const latencies = sample.filter((id) => times.has(id)).map((id) => stream.arrivals.get(id)! - times.get(id)!);
    const run: Run = {
      sent: ids.length,
      refused,
      delivered_seen: seen.length,
      measured: latencies.length,
      p50_ms: round(percentile(latencies, 50), 1),
      p90_ms: round(percentile(latencies, 90), 1),
      p99_ms: round(percentile(latencies, 99), 1),
      max_ms: round(Math.max(...latencies), 1),
      busy_before: busyBefore,
      code: srv.code,
    };
    log(`run ${i + 1}: ${run.sent} sent (${refused} refused), ${run.delivered_seen} delivered events seen; receipt → stream p50 ${run.p50_ms} ms, p99 ${run.p99_ms} ms, max ${run.max_ms} ms over ${run.measured}`);
    return run;
  } finally {
    stream.close();
    await srv.stop();
    server = undefined;
    await sim?.stop();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  }
}

const runs: Run[] = [];
for (let i = 0; i < common.runs; i++) runs.push(await oneRun(i));
const p99 = median(runs.map((r) => r.p99_ms));
const met = p99 <= TARGET.p99_ms;
printResult(
  common.quiet,
  [
    `receipt visibility (${common.db}, via ${via}, ${rate} msg/s, ${common.duration} s × ${common.runs} run${common.runs > 1 ? 's' : ''}): receipt emitted → message.delivered on /v1/events/stream`,
    `  median p50 ${median(runs.map((r) => r.p50_ms))} ms, p99 ${p99} ms  →  target p99 ≤ ${TARGET.p99_ms} ms: ${met ? 'MET' : 'MISSED'}`,
    ...runs.map((r, k) => `  run ${k + 1}: ${r.sent} sent, ${r.delivered_seen} seen, p50 ${r.p50_ms} ms, p90 ${r.p90_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms (${r.measured} measured)`),
  ],
  {
    bench: 'receipt-visibility',
    db: common.db,
    via,
    rate,
    duration_s: common.duration,
    runs: runs.length,
    median: { p50_ms: median(runs.map((r) => r.p50_ms)), p99_ms: p99 },
    target: { ...TARGET, met },
    individual: runs,
    machine: machineInfo(),
  },
);
