/**
 * Contact import through the HTTP API of a real server (issue 8): a generated
 * CSV of --rows rows (default 1,000,000: guid, names, gender, phone, e-mail,
 * one custom column) is streamed from a file to POST /v1/contacts/imports,
 * which answers 202 once the file is in, checked and staged; then
 * GET /v1/contacts/imports/{id} is polled until the job is completed. Each
 * run is a fresh server (fresh SQLite file or PostgreSQL database). The
 * server's RSS is sampled from /proc every 100 ms. Prints the median of
 * --runs runs and one JSON line last. Target: 1,000,000 rows in under 2 minutes.
 *
 *   node bench/contacts-import.ts [--rows 1000000] [--runs 3] [--db sqlite|postgres]
 */
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { authHeaders, checkNodeVersion, codeVersion, logger, machineInfo, median, numberFlag, parseBenchArgs, postgresCpuSeconds, printResult, processCpuSeconds, round, sleep, startServer, stopOnSignal, waitForQuietMachine, type Server } from './lib.ts';

checkNodeVersion();
const { common, values } = parseBenchArgs('usage: node bench/contacts-import.ts [--rows N]', { rows: { type: 'string' } }, { duration: 0, connections: 1 });
const rows = numberFlag(values, 'rows', 1_000_000);
const log = logger(common.quiet);

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0; // the server is gone
  }
}

const dir = mkdtempSync(path.join(tmpdir(), 'depesha-bench-import-'));
const file = path.join(dir, 'contacts.csv');
{
  const out = createWriteStream(file);
  out.write('guid,first_name,last_name,gender,phone,email,city\n');
  for (let i = 0; i < rows; i++) {
    if (!out.write(`g-${i},Имя${i},Фамилия${i},${i % 2 ? 'male' : 'female'},+7916${String(i).padStart(7, '0')},u${i}@example.com,Город${i % 100}\n`)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  out.end();
  await finished(out);
}
const fileMiB = statSync(file).size / 2 ** 20;
log(`generated ${rows.toLocaleString('en')} rows, ${round(fileMiB)} MiB`);

interface Run {
  staged_s: number;
  total_s: number;
  rows_per_s: number;
  idle_rss_mib: number;
  peak_rss_mib: number;
  load_avg: number;
  /** CPU seconds the gateway used from the POST to completed (less sensitive to other load than the wall time) */
  server_cpu_s: number;
  /** the same for every PostgreSQL process on the machine (other users' included, if any) */
  postgres_cpu_s: number;
}
const runs: Run[] = [];
let server: Server | undefined;
stopOnSignal(() => server);
try {
  for (let run = 0; run < common.runs; run++) {
    await waitForQuietMachine(log, 20_000);
    server = await startServer({ common, log });
    const s = server;
    try {
      const project = (await (await fetch(`${s.url}/v1/projects`, { method: 'POST', headers: authHeaders, body: JSON.stringify({ name: 'bench', code: 'bench' }) })).json()) as { id: string };
      await sleep(2000);
      const idle = rssMiB(s.pid);
      let peak = idle;
      const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(s.pid))), 100);
      const cpu0 = processCpuSeconds(s.pid);
      const pg0 = postgresCpuSeconds();
      const t0 = performance.now();
      const res = await fetch(`${s.url}/v1/contacts/imports?project_id=${project.id}`, {
        method: 'POST',
        headers: { authorization: authHeaders.authorization, 'content-type': 'text/csv' },
        body: Readable.toWeb(createReadStream(file)) as ReadableStream,
        duplex: 'half',
      } as RequestInit);
      const created = (await res.json()) as { id: string; status: string; error: string | null; problems: unknown[] };
      const t1 = performance.now();
      if (res.status !== 202 || created.status === 'failed') throw new Error(`import refused: ${res.status} ${JSON.stringify(created).slice(0, 500)}`);
      let job: { status: string; rows: number; created: number; error: string | null };
      for (;;) {
        job = (await (await fetch(`${s.url}/v1/contacts/imports/${created.id}`, { headers: authHeaders })).json()) as typeof job;
        if (job.status === 'completed' || job.status === 'failed') break;
        await sleep(100);
      }
      const t2 = performance.now();
      const cpu = processCpuSeconds(s.pid) - cpu0;
      // A PostgreSQL process started meanwhile counts from 0; one that ended meanwhile is missed.
      const pgUsed = [...postgresCpuSeconds()].reduce((sum, [pid, seconds]) => sum + seconds - (pg0.get(pid) ?? 0), 0);
      clearInterval(sampler);
      peak = Math.max(peak, rssMiB(s.pid));
      if (job.status !== 'completed' || job.created !== rows) throw new Error(`import ended ${job.status} with ${job.created} created: ${job.error}`);
      const r: Run = { staged_s: round((t1 - t0) / 1000), total_s: round((t2 - t0) / 1000), rows_per_s: Math.round(rows / ((t2 - t0) / 1000)), idle_rss_mib: round(idle), peak_rss_mib: round(peak), load_avg: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]), server_cpu_s: round(cpu), postgres_cpu_s: round(pgUsed) };
      runs.push(r);
      log(`run ${run + 1}/${common.runs}: ${JSON.stringify(r)}`);
    } catch (err) {
      log(`run ${run + 1}/${common.runs} failed: ${(err as Error).stack ?? String(err)}`);
      log(`server stderr: ${s.stderrTail()}`);
      throw err;
    } finally {
      await s.stop();
      server = undefined;
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const pick = (k: keyof Run) => median(runs.map((r) => r[k]));
const result = {
  bench: 'contacts-import',
  db: common.db,
  rows,
  file_mib: round(fileMiB),
  runs: runs.length,
  staged_s: pick('staged_s'),
  total_s: pick('total_s'),
  rows_per_s: pick('rows_per_s'),
  idle_rss_mib: pick('idle_rss_mib'),
  peak_rss_mib: pick('peak_rss_mib'),
  each: runs,
  code: codeVersion(),
  machine: machineInfo(),
};
printResult(
  common.quiet,
  [
    `contact import of ${rows.toLocaleString('en')} rows (${result.file_mib} MiB CSV) over HTTP on ${common.db}, median of ${runs.length}:`,
    `  202 (received, checked, staged) after ${result.staged_s} s, completed after ${result.total_s} s (${result.rows_per_s} rows/s; target < 120 s)`,
    `  server RSS: idle ${result.idle_rss_mib} MiB, peak ${result.peak_rss_mib} MiB`,
  ],
  result,
);
