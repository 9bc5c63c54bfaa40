/**
 * A large delivery report export (issue 6): seeds --messages finished
 * messages (default 1,000,000) into a running gateway's SQLite file, then
 * exports them all as CSV twice: as a background job (POST /v1/exports, polled
 * until ready, then downloaded) and as the streamed download
 * (GET /v1/reports/messages?format=csv). The server's RSS is sampled from
 * /proc every 100 ms; the result is its peak above the idle RSS measured just
 * before. Target: under 200 MB above idle. One JSON line last.
 *
 *   node bench/export.ts [--messages 1000000]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { authHeaders, checkNodeVersion, codeVersion, logger, machineInfo, numberFlag, parseBenchArgs, printResult, round, sleep, startServer, stopOnSignal, type Server } from './lib.ts';
import { DEFAULT_SHAPE, seedMessages } from './seed-messages.ts';

checkNodeVersion();
const { common, values } = parseBenchArgs('usage: node bench/export.ts [--messages N]', { messages: { type: 'string' } }, { duration: 0, connections: 1 });
if (common.db !== 'sqlite') throw new Error('the seed writes SQLite directly; --db postgres is not supported by this bench');
const n = numberFlag(values, 'messages', 1_000_000);
const log = logger(common.quiet);

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** Runs `work` while sampling the server's RSS; the peak in MiB. */
async function peakWhile<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = rssMiB(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 100);
  try {
    const result = await work();
    return { result, peak: Math.max(peak, rssMiB(pid)) };
  } finally {
    clearInterval(timer);
  }
}

/** Reads a response body to the end without keeping it; its size in bytes and its lines. */
async function drain(res: Response): Promise<{ bytes: number; lines: number }> {
  let bytes = 0;
  let lines = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines++;
  }
  return { bytes, lines };
}

let server: Server | undefined;
stopOnSignal(() => server);
server = await startServer({ common, log });
try {
  const s = server;
  const account = (await (await fetch(`${s.url}/v1/account`, { headers: authHeaders })).json()) as { id: string };
  log(`seeding ${n.toLocaleString('en')} messages`);
  const seedMs = seedMessages(path.join(s.dataDir, 'depesha.sqlite'), account.id, n, DEFAULT_SHAPE, log);
  await fetch(`${s.url}/readyz`).then((r) => r.arrayBuffer()).catch(() => undefined);
  await sleep(2000);
  const idle = rssMiB(s.pid);
  log(`idle RSS ${round(idle)} MiB`);

  // The background job.
  const t0 = performance.now();
  const job = await peakWhile(s.pid, async () => {
    const created = (await (await fetch(`${s.url}/v1/exports`, { method: 'POST', headers: authHeaders, body: JSON.stringify({ format: 'csv' }) })).json()) as { id: string };
    for (;;) {
      const state = (await (await fetch(`${s.url}/v1/exports/${created.id}`, { headers: authHeaders })).json()) as { status: string; rows: number; bytes: number | null; error: string | null; download_url: string | null };
      if (state.status === 'ready' || state.status === 'failed') return state;
      await sleep(500);
    }
  });
  const jobMs = performance.now() - t0;
  if (job.result.status !== 'ready') throw new Error(`the export failed: ${job.result.error}`);
  if (job.result.rows !== n) throw new Error(`the export has ${job.result.rows} rows, not ${n}`);
  log(`background export: ${job.result.rows} rows, ${round(job.result.bytes! / 2 ** 20)} MiB in ${round(jobMs / 1000)} s; peak RSS ${round(job.peak)} MiB`);
  const download = await peakWhile(s.pid, async () => drain(await fetch(`${s.url}${job.result.download_url}`, { headers: authHeaders })));
  if (download.result.bytes !== job.result.bytes) throw new Error(`downloaded ${download.result.bytes} of ${job.result.bytes} bytes`);

  // The streamed download of the same report.
  const idle2 = rssMiB(s.pid);
  const t1 = performance.now();
  const stream = await peakWhile(s.pid, async () => drain(await fetch(`${s.url}/v1/reports/messages?format=csv`, { headers: authHeaders })));
  const streamMs = performance.now() - t1;
  if (stream.result.lines !== n + 1) throw new Error(`the streamed report has ${stream.result.lines} lines, not ${n + 1}`);
  log(`streamed report: ${stream.result.lines - 1} rows in ${round(streamMs / 1000)} s; peak RSS ${round(stream.peak)} MiB`);

  const result = {
    bench: 'export',
    messages: n,
    seed_s: round(seedMs / 1000),
    idle_rss_mib: round(idle),
    background: { seconds: round(jobMs / 1000), rows_per_s: Math.round(n / (jobMs / 1000)), file_mib: round(job.result.bytes! / 2 ** 20), peak_rss_mib: round(job.peak), above_idle_mib: round(job.peak - idle), download_peak_above_idle_mib: round(download.peak - idle) },
    streamed: { seconds: round(streamMs / 1000), rows_per_s: Math.round(n / (streamMs / 1000)), peak_rss_mib: round(stream.peak), above_idle_mib: round(stream.peak - idle2) },
    code: codeVersion(),
    machine: machineInfo(),
  };
  printResult(
    common.quiet,
    [
      `CSV export of ${n.toLocaleString('en')} messages (idle RSS ${result.idle_rss_mib} MiB; target < 200 MB above idle):`,
      `  background job   ${result.background.seconds} s (${result.background.rows_per_s} rows/s), ${result.background.file_mib} MiB file, peak ${result.background.above_idle_mib} MiB above idle (download: ${result.background.download_peak_above_idle_mib})`,
      `  streamed GET     ${result.streamed.seconds} s (${result.streamed.rows_per_s} rows/s), peak ${result.streamed.above_idle_mib} MiB above idle`,
    ],
    result,
  );
} finally {
  await server.stop();
}
