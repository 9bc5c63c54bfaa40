/**
 * Cluster throughput and latency: the embedded single process (SQLite) against
 * a cluster on PostgreSQL + Redis of one API node, one scheduler and 1, 2 or 3
 * worker processes, all on this machine, sending through the SMPP connector to
 * the simulator (in this process, no submit limit).
 *
 * For each layout: `--messages` messages offered in bulk requests (100 each, 4
 * in flight) as fast as they are accepted, timed from the first 202 to the
 * simulator's last submit (submits/s); then, once every one of them is
 * delivered, `--rate` single `POST /v1/messages` a second for `--seconds` s,
 * each timed from its 202 to its submit at the simulator (p50/p99
 * accept-to-submit).
 *
 * The simulator runs in a process of its own (bench/sim-process.ts) so that
 * this process's garbage collections do not delay the submits it stamps;
 * `--sim-inline` runs it here, as before.
 *
 * `--explain <ms>` prints, for each layout, the rate messages slower than
 * that (when each was accepted, its latency, the bind it went over) and the
 * worker nodes' log lines of warn level and above during the rate phase.
 *
 *   node bench/cluster.ts [--layouts embedded,1,2,3] [--messages 4000] [--rate 100] [--seconds 5] [--runs 1] [--explain 50] [--sim-inline]
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { clusterEnv, createDatabase, dropRedisPrefix, Node } from '../test/cluster-nodes.ts';
import { API_KEY, machineInfo, median, percentile, round } from './lib.ts';
import { startSimulator, type BenchSubmit } from './sim-process.ts';

const { values } = parseArgs({
  options: {
    layouts: { type: 'string', default: 'embedded,1,2,3' },
    messages: { type: 'string', default: '4000' },
    rate: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '1' },
    explain: { type: 'string' },
    'sim-inline': { type: 'boolean', default: false },
  },
});
const MESSAGES = Number(values.messages);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const RUNS = Number(values.runs);
const EXPLAIN_MS = values.explain === undefined ? undefined : Number(values.explain);
const log = (line: string) => process.stderr.write(line + '\n');

interface Result {
  layout: string;
  submitsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function runLayout(layout: string): Promise<Result> {
  const sim = await startSimulator({ receiptDelayMs: 50 }, values['sim-inline']);
  const simPort = sim.port;
  const workers = layout === 'embedded' ? 1 : Number(layout);
  // One bind per worker: a connector's binds are leased cluster-wide and spread over the workers (cluster/binds.ts).
  const configFile = { connectors: [{ id: 'operator', type: 'smpp', host: '127.0.0.1', port: simPort, system_id: 'bench', password: 'bench', window: 100, binds: workers }], routes: [{ connector: 'operator' }] };
  const nodes: Node[] = [];
  let cleanup = async () => {};
  let base: string;
  try {
    if (layout === 'embedded') {
      const env = clusterEnv({ databaseUrl: '', prefix: 'unused', apiKey: API_KEY, configFile });
      delete (env as Record<string, string>).DATABASE_URL;
      delete (env as Record<string, string>).REDIS_URL;
      const node = new Node('embedded', 'api,smpp,worker,scheduler', { ...env, PORT: '0', DEPESHA_SQLITE_SYNCHRONOUS: 'full' });
      nodes.push(node);
      base = String((await node.started()).url);
    } else {
      const database = await createDatabase();
      const prefix = `bench-${randomBytes(3).toString('hex')}`;
      cleanup = async () => {
        await database.drop();
        await dropRedisPrefix(prefix);
      };
      const env = { ...clusterEnv({ databaseUrl: database.url, prefix, apiKey: API_KEY, configFile }), PORT: '0' };
      const api = new Node('api', 'api', env);
      nodes.push(api);
      base = String((await api.started()).url);
      const rest = [new Node('scheduler', 'scheduler', env), ...[...Array(Number(layout))].map((_, i) => new Node(`worker-${i + 1}`, 'worker', env))];
      nodes.push(...rest);
      await Promise.all(rest.map((n) => n.started()));
    }
    await until('binds', async () => (await sim.bound()) === workers);
    const headers = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };

    // Throughput: bulk requests as fast as accepted.
    const phone = (i: number) => `+7916${String(i).padStart(7, '0')}`;
    let next = 0;
    let firstAccepted = 0;
    const batches: string[] = [];
    const bulk = async () => {
      while (next < MESSAGES) {
        const from = next;
        next += 100;
        const to = [...Array(Math.min(100, MESSAGES - from))].map((_, k) => phone(from + k));
        const res = await fetch(`${base}/v1/messages/bulk`, { method: 'POST', headers, body: JSON.stringify({ to, text: 'bench' }) });
        if (res.status !== 202) throw new Error(`bulk: ${res.status} ${await res.text()}`);
        batches.push(((await res.json()) as { batch_id: string }).batch_id);
        firstAccepted ||= Date.now();
      }
    };
    await Promise.all([bulk(), bulk(), bulk(), bulk()]);
    await until('every bulk message submitted', async () => (await sim.count()) >= MESSAGES);
    const lastSubmit = Math.max(...(await sim.submits()).map((s) => s.at));
    const submitsPerSecond = MESSAGES / ((lastSubmit - firstAccepted) / 1000);
    // The latency is measured at a steady 100/s: first the burst's receipts are applied (every batch delivered),
    // so its tail does not stand in the measured requests' way.
    for (const deadline = Date.now() + 120_000; ; ) {
      const counts = await Promise.all(batches.map(async (id) => ((await (await fetch(`${base}/v1/batches/${id}`, { headers })).json()) as { counts: Record<string, number> }).counts.delivered ?? 0));
      if (counts.reduce((a, b) => a + b, 0) >= MESSAGES) break;
      if (Date.now() > deadline) throw new Error('the burst was not delivered within 120 s');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    // Latency at a fixed rate: each message's text carries its number; its 202 time is kept.
    const acceptedAt = new Map<string, number>();
    const start = Date.now();
    const total = RATE * SECONDS;
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / RATE;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const text = `lat ${i}`;
      inFlight.push(
        fetch(`${base}/v1/messages`, { method: 'POST', headers, body: JSON.stringify({ to: phone(5_000_000 + i), text }) }).then(async (res) => {
          await res.arrayBuffer();
          if (res.status === 202) acceptedAt.set(text, Date.now());
        }),
      );
    }
    await Promise.all(inFlight);
    await until('every rate message submitted', async () => (await sim.count()) >= MESSAGES + total);
    const rateSubmits = await sim.submits(MESSAGES);
    const latencies = rateSubmits.flatMap((s) => {
      const at = acceptedAt.get(s.text);
      return at === undefined ? [] : [Math.max(0, s.at - at)];
    });
    if (EXPLAIN_MS !== undefined) explain(rateSubmits, acceptedAt, start, nodes);
    return { layout, submitsPerSecond: round(submitsPerSecond, 0), p50Ms: round(percentile(latencies, 50), 1), p99Ms: round(percentile(latencies, 99), 1) };
  } finally {
    for (const n of nodes) n.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => n.exited));
    await sim.stop();
    await cleanup();
  }
}

/** The slow rate messages (accepted at, latency, bind), the submits per bind, and the nodes' warnings of the rate phase. */
function explain(submits: BenchSubmit[], acceptedAt: Map<string, number>, start: number, nodes: Node[]): void {
  const perBind = new Map<number, number>();
  for (const s of submits) {
    const at = acceptedAt.get(s.text);
    if (at === undefined) continue;
    perBind.set(s.bind, (perBind.get(s.bind) ?? 0) + 1);
    if (s.at - at > EXPLAIN_MS!) log(`  slow: accepted +${at - start} ms, submitted +${s.at - start} ms (${s.at - at} ms) over bind ${s.bind}`);
  }
  log(`  rate submits per bind: ${[...perBind].map(([b, n]) => `${b}: ${n}`).join(', ')}`);
  // With bench/gc-trace.ts preloaded: the pauses of any process that overlap a slow message's wait.
  const traceDir = process.env.BENCH_GC_TRACE_DIR;
  if (traceDir && existsSync(traceDir)) {
    const slow = submits.flatMap((s) => {
      const at = acceptedAt.get(s.text);
      return at !== undefined && s.at - at > EXPLAIN_MS! ? [[at, s.at] as const] : [];
    });
    for (const file of readdirSync(traceDir)) {
      for (const line of readFileSync(path.join(traceDir, file), 'utf8').split('\n')) {
        const [t, what, ms, kind, ...who] = line.split(' ');
        if (!t || !ms) continue;
        const from = Number(t);
        const to = from + Number(ms);
        const hits = slow.filter(([a, b]) => from <= b && to >= a).length;
        if (hits > 0) log(`  pause: +${from - start} ms ${what} ${ms} ms (kind ${kind}) in ${who.join(' ')} [${file}], during ${hits} slow message(s)`);
      }
    }
  }
  for (const n of nodes) {
    for (const line of n.lines) {
      const time = Number(line.time);
      if (time >= start && Number(line.level) >= 40) log(`  [${n.name}] +${time - start} ms ${JSON.stringify(line)}`);
    }
  }
}

const results: Record<string, Result[]> = {};
for (let run = 0; run < RUNS; run++) {
  for (const layout of values.layouts.split(',')) {
    log(`run ${run + 1}/${RUNS}: ${layout}${layout === 'embedded' ? '' : ' worker(s)'}`);
    const r = await runLayout(layout);
    log(`  ${r.submitsPerSecond} submits/s; accept-to-submit at ${RATE}/s p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`);
    (results[layout] ??= []).push(r);
  }
}
const summary = Object.entries(results).map(([layout, rs]) => ({
  layout,
  submits_per_second: median(rs.map((r) => r.submitsPerSecond)),
  p50_ms: median(rs.map((r) => r.p50Ms)),
  p99_ms: median(rs.map((r) => r.p99Ms)),
  runs: rs.length,
}));
for (const s of summary) process.stdout.write(`${s.layout.padEnd(9)} ${String(s.submits_per_second).padStart(6)} submits/s   p50 ${s.p50_ms} ms   p99 ${s.p99_ms} ms at ${RATE}/s (median of ${s.runs})\n`);
process.stdout.write(JSON.stringify({ bench: 'cluster', machine: machineInfo(), messages: MESSAGES, rate: RATE, seconds: SECONDS, summary }) + '\n');
