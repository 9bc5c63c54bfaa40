/**
 * Bulk accept throughput: `POST /v1/messages/bulk` with 10,000 items per
 * request, in both forms (`{"to":[…],"text":…}` and `{"messages":[…]}`),
 * back to back for --duration seconds per form. Target (2-core machine,
 * SQLite): ≥ 20,000 recipients/s accepted.
 *
 *   node bench/bulk.ts [--db sqlite|postgres] [--duration 10] [--connections 1] [--items 10000] [--runs 3]
 */
import {
  authHeaders,
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
  scrape,
  sleep,
  SMS_TEXT,
  startServer,
  stopOnSignal,
  waitForQuietMachine,
  type CpuUsage,
  type Server,
} from './lib.ts';

const USAGE = `usage: node bench/bulk.ts [flags]
  POST /v1/messages/bulk back to back for --duration seconds per form; reports accepted recipients/s
  --items N               items per request (default 10000, the API's maximum)
  --form to|messages|both which request form(s) to measure (default both)
  --drain SECONDS         after each form, wait up to this long for the pipeline to deliver
                          what was accepted, so the next form starts on a quiet server (default 60)
  --scheduled             send_at one day ahead on every item, so the delivery pipeline stays idle and only
                          the accept path is measured (diagnostic; the target is without it; implies --drain 0)`;

const TARGET = { recipients_per_s: 20_000 };
type Form = 'to' | 'messages';

checkNodeVersion();
const { common, values } = parseBenchArgs(USAGE, { items: { type: 'string' }, form: { type: 'string', default: 'both' }, drain: { type: 'string' }, scheduled: { type: 'boolean', default: false } }, { duration: 10, connections: 1 });
const items = Math.round(numberFlag(values, 'items', 10_000));
const scheduled = values.scheduled === true;
const sendAt = new Date(Date.now() + 86_400_000).toISOString();
const drainS = scheduled ? 0 : numberFlag(values, 'drain', 60, true);
const formFlag = values.form as string;
if (!['to', 'messages', 'both'].includes(formFlag)) fail('--form must be to, messages or both');
const forms: Form[] = formFlag === 'both' ? ['to', 'messages'] : [formFlag as Form];
const log = logger(common.quiet);
let server: Server | undefined;
stopOnSignal(() => server);

function body(form: Form, n: number): string {
  const phones = Array.from({ length: n }, randomPhone);
  const at = scheduled ? { send_at: sendAt } : {};
  return form === 'to' ? JSON.stringify({ to: phones, text: SMS_TEXT, ...at }) : JSON.stringify({ messages: phones.map((to, i) => ({ to, text: `${SMS_TEXT} #${i}`, ...at })) });
}

interface Post {
  ms: number;
  accepted: number;
  rejected: number;
}

async function post(url: string, payload: string): Promise<Post> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/messages/bulk`, { method: 'POST', headers: authHeaders, body: payload });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (res.status !== 202) throw new Error(`bulk answered ${res.status}: ${text.slice(0, 500)}`);
  const r = JSON.parse(text) as { accepted: number; rejected: number };
  return { ms, accepted: r.accepted, rejected: r.rejected };
}

interface FormRun {
  recipients_per_s: number;
  requests: number;
  accepted: number;
  rejected: number;
  elapsed_s: number;
  request_ms: { min: number; median: number; max: number };
  drained_s: number | null;
  busy_before: number;
  cpu: CpuUsage;
}

/** Waits until every accepted message has reached a final status (delivered, as the sandbox is told to). */
async function drain(url: string): Promise<number | null> {
  const t0 = performance.now();
  const deadline = t0 + drainS * 1000;
  for (;;) {
    const m = await scrape(url);
    const done = ['delivered', 'undelivered', 'rejected', 'failed', 'expired'].reduce((a, s) => a + metric(m, M.status(s)), 0);
    if (done >= metric(m, M.accepted)) return round((performance.now() - t0) / 1000, 1);
    if (performance.now() > deadline) return null;
    await sleep(250);
  }
}

async function measureForm(url: string, pid: number, form: Form): Promise<FormRun> {
  // Bodies are built before the clock starts, each with its own numbers; should the server take
  // more requests than were built, they are reused from the start.
  const count = Math.min(200, Math.max(4, Math.ceil(common.duration * 6)));
  const prebuilt = Array.from({ length: count }, () => body(form, items));
  let next = 0;
  const takeBody = () => prebuilt[next++ % prebuilt.length]!;
  const busyBefore = await waitForQuietMachine(log);
  const cpu = new CpuMeter(pid);
  const t0 = performance.now();
  const end = t0 + common.duration * 1000;
  const posts: Post[] = [];
  // N clients, each posting back to back until the time is up (a request in flight at the end is waited for and counted).
  await Promise.all(
    Array.from({ length: common.connections }, async () => {
      while (performance.now() < end) posts.push(await post(url, takeBody()));
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const usage = cpu.stop();
  const accepted = posts.reduce((a, p) => a + p.accepted, 0);
  const rejected = posts.reduce((a, p) => a + p.rejected, 0);
  if (rejected > 0) log(`warning: ${rejected} items rejected`);
  const ms = posts.map((p) => p.ms);
  log(`  ${form}: ${posts.length} requests, ${accepted} accepted in ${elapsed.toFixed(1)} s → ${Math.round(accepted / elapsed)} recipients/s (request median ${Math.round(median(ms))} ms); CPU server ${usage.server_cores} bench ${usage.bench_cores} pg ${usage.postgres_cores} other ${usage.other_cores}`);
  const drained = drainS > 0 ? await drain(url) : null;
  if (drainS > 0) log(`  ${form}: pipeline ${drained === null ? `not drained after ${drainS} s` : `drained ${drained} s after the last request`}`);
  return {
    recipients_per_s: Math.round(accepted / elapsed),
    requests: posts.length,
    accepted,
    rejected,
    elapsed_s: round(elapsed, 2),
    request_ms: { min: Math.round(Math.min(...ms)), median: Math.round(median(ms)), max: Math.round(Math.max(...ms)) },
    drained_s: drained,
    busy_before: busyBefore,
    cpu: usage,
  };
}

type RunResult = Record<Form, FormRun> & { code: string };

async function oneRun(i: number): Promise<RunResult> {
  server = await startServer({ common, log });
  try {
    log(`run ${i + 1}/${common.runs}: server ${server.url} (${common.db}), ${items} items per request, ${common.connections} client(s), ${common.duration} s per form`);
    // Warm-up: compile the paths once (JIT, prepared statements) with a small request of each form.
    for (const form of forms) await post(server.url, body(form, 500));
    if (drainS > 0) await drain(server.url);
    const out: Partial<RunResult> = { code: server.code };
    for (const form of forms) out[form] = await measureForm(server.url, server.pid, form);
    return out as RunResult;
  } finally {
    await server.stop();
    server = undefined;
  }
}

const runs: RunResult[] = [];
for (let i = 0; i < common.runs; i++) runs.push(await oneRun(i));

const medians = Object.fromEntries(forms.map((f) => [f, median(runs.map((r) => r[f].recipients_per_s))])) as Record<Form, number>;
const met = Object.fromEntries(forms.map((f) => [f, medians[f] >= TARGET.recipients_per_s])) as Record<Form, boolean>;
printResult(
  common.quiet,
  [
    `bulk (${common.db}, ${items} items/request, ${common.connections} client(s), ${common.duration} s per form × ${common.runs} run${common.runs > 1 ? 's' : ''}${scheduled ? ', scheduled: pipeline idle' : ''}):`,
    ...forms.map((f) => `  ${f === 'to' ? '{"to":[…],"text":…}' : '{"messages":[…]}  '}  median ${medians[f]} recipients/s  →  target ≥ ${TARGET.recipients_per_s}: ${met[f] ? 'MET' : 'MISSED'}   runs: ${runs.map((r) => r[f].recipients_per_s).join(', ')}`),
  ],
  {
    bench: 'bulk',
    db: common.db,
    items,
    connections: common.connections,
    duration_s: common.duration,
    scheduled,
    runs: runs.length,
    median: medians,
    target: { ...TARGET, met },
    individual: runs,
    machine: machineInfo(),
  },
);
