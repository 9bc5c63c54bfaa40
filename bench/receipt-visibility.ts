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
import http from 'node:http';
import { createParser } from 'eventsource-parser';
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
  --receipt-delay MS      DEPESHA_SANDBOX_RECEIPT_DELAY_MS (default: the gateway's, 200)
  --drain SECONDS         after the load, wait up to this long for the last deliveries (default 30)
  --details N             messages whose receipt time is read back (GET /v1/messages/{id}), at most (default 20000)`;

const TARGET = { p99_ms: 100 };

checkNodeVersion();
const { common, values } = parseBenchArgs(USAGE, { rate: { type: 'string' }, 'receipt-delay': { type: 'string' }, drain: { type: 'string' }, details: { type: 'string' } }, { duration: 30, connections: 20 });
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
async function load(url: string, seconds: number): Promise<{ ids: string[]; refused: number }> {
  const ids: string[] = [];
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
    const p: Promise<void> = fetch(`${url}/v1/messages`, { method: 'POST', headers: authHeaders, body: JSON.stringify({ to: randomPhone(), text: SMS_TEXT }) })
      .then(async (res) => {
        const body = (await res.json()) as { id?: string };
        if (res.status === 202 && body.id) ids.push(body.id);
        else refused++;
      })
      .catch(() => void refused++)
      .finally(() => {
        inFlight--;
        pending.delete(p);
      });
    pending.add(p);
  }
  await Promise.all(pending);
  return { ids, refused };
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
  server = await startServer({
    common,
    log,
    env: { DEPESHA_STREAM_KEEPALIVE_SECONDS: '1', ...(receiptDelay === undefined ? {} : { DEPESHA_SANDBOX_RECEIPT_DELAY_MS: receiptDelay }) },
  });
  const srv = server;
  const stream = listen(srv.url);
  try {
    await stream.ready; // the first keep-alive: the subscription is open
    log(`run ${i + 1}/${common.runs}: server ${srv.url} (${common.db}); ${rate} msg/s for ${common.duration} s`);
    const { ids, refused } = await load(srv.url, common.duration);
    const deadline = performance.now() + drainS * 1000;
    while (performance.now() < deadline && ids.some((id) => !stream.arrivals.has(id))) await sleep(100);
    const seen = ids.filter((id) => stream.arrivals.has(id));
    // Evenly spread over the run when there are more than --details.
    const step = Math.max(1, Math.ceil(seen.length / details));
    const sample = seen.filter((_, k) => k % step === 0);
    const times = await receiptTimes(srv.url, sample);
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
  }
}

const runs: Run[] = [];
for (let i = 0; i < common.runs; i++) runs.push(await oneRun(i));
const p99 = median(runs.map((r) => r.p99_ms));
const met = p99 <= TARGET.p99_ms;
printResult(
  common.quiet,
  [
    `receipt visibility (${common.db}, ${rate} msg/s, ${common.duration} s × ${common.runs} run${common.runs > 1 ? 's' : ''}): receipt emitted → message.delivered on /v1/events/stream`,
    `  median p50 ${median(runs.map((r) => r.p50_ms))} ms, p99 ${p99} ms  →  target p99 ≤ ${TARGET.p99_ms} ms: ${met ? 'MET' : 'MISSED'}`,
    ...runs.map((r, k) => `  run ${k + 1}: ${r.sent} sent, ${r.delivered_seen} seen, p50 ${r.p50_ms} ms, p90 ${r.p90_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms (${r.measured} measured)`),
  ],
  {
    bench: 'receipt-visibility',
    db: common.db,
    rate,
    duration_s: common.duration,
    runs: runs.length,
    median: { p50_ms: median(runs.map((r) => r.p50_ms)), p99_ms: p99 },
    target: { ...TARGET, met },
    individual: runs,
    machine: machineInfo(),
  },
);
